//! Cost of one `next_after` call for typical expressions, in UTC and in a zone with daylight saving.
//! Run with `cargo bench -p xjob-cron --bench next_after`; the parse benchmark is the baseline the search
//! figures can be read against.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use xjob_cron::CronExpr;

const EXPRESSIONS: [&str; 6] = [
    "0 0/5 * * * ?",
    "0 0 9 ? * MON-FRI",
    "0 15 10 L * ?",
    "0 0 12 ? * 6#3",
    "0 0 0 15W * ?",
    "0 30 2 * * ? 2030/5",
];

/// 2023-11-14T22:13:20Z.
const AFTER: i64 = 1_700_000_000_000;

fn next_after(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_after");
    for text in EXPRESSIONS {
        let expr = CronExpr::parse(text).expect("benchmark expressions are valid");
        for (zone_name, zone) in [
            ("UTC", chrono_tz::UTC),
            ("New_York", chrono_tz::America::New_York),
        ] {
            group.bench_function(format!("{text} [{zone_name}]"), |b| {
                b.iter(|| black_box(&expr).next_after(black_box(AFTER), zone));
            });
        }
    }
    group.finish();
    c.bench_function("parse/0 0 9 ? * MON-FRI", |b| {
        b.iter(|| CronExpr::parse(black_box("0 0 9 ? * MON-FRI")));
    });
}

criterion_group!(benches, next_after);
criterion_main!(benches);
