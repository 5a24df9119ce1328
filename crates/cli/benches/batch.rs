//! Throughput of `xjob cron batch` in lines per second, next to a baseline measured in the same run: the same
//! lines only decoded and re-encoded with serde_json, without evaluating anything. The ratio of the two is the
//! cost of evaluation relative to JSON handling.
//!
//! Run with `cargo bench -p xjob --bench batch`; criterion reports `thrpt` in elements (= lines) per second.

use std::borrow::Cow;
use std::hint::black_box;
use std::io::Write as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use xjob::cron::batch::{Defaults, run};

const LINES: usize = 10_000;

const EXPRESSIONS: [&str; 8] = [
    "0 0/5 * * * ?",
    "0 0 9 ? * MON-FRI",
    "0 15 10 L * ?",
    "0 0 12 ? * 6#3",
    "0 0 0 15W * ?",
    "*/30 * 8-18 ? * 2-6",
    "0 0 2 1 * ? 2026-2035",
    "0 30 23 ? * 1L",
];

const ZONES: [&str; 4] = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin"];

/// Requests as a scheduler would send them: a handful of expressions, varied zones and starting instants,
/// one fire time each.
fn input() -> Vec<u8> {
    let mut input = Vec::new();
    for index in 0..LINES {
        let expr = EXPRESSIONS[index % EXPRESSIONS.len()];
        let zone = ZONES[index % ZONES.len()];
        let after = 1_700_000_000_000_i64 + (index as i64) * 7_919_000;
        writeln!(
            input,
            r#"{{"expr":"{expr}","tz":"{zone}","after_ms":{after},"count":1}}"#
        )
        .expect("writing to a Vec cannot fail");
    }
    input
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    expr: Cow<'a, str>,
    #[serde(borrow)]
    tz: Option<Cow<'a, str>>,
    after_ms: Option<i64>,
    count: Option<u32>,
}

#[derive(Serialize)]
struct Answer<'a> {
    expr: &'a str,
    next_ms: &'a [i64],
}

/// The baseline: decode each line and encode an answer of the same shape, evaluating nothing.
fn json_only(input: &[u8], output: &mut Vec<u8>) {
    let fires = [0_i64];
    for line in input.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        let request: Request<'_> = serde_json::from_slice(line).expect("benchmark lines are valid");
        black_box((&request.tz, request.after_ms, request.count));
        let answer = Answer {
            expr: &request.expr,
            next_ms: &fires,
        };
        serde_json::to_writer(&mut *output, &answer).expect("writing to a Vec cannot fail");
        output.push(b'\n');
    }
}

fn batch(c: &mut Criterion) {
    let input = input();
    let defaults = Defaults {
        zone: chrono_tz::UTC,
        after_ms: 0,
    };
    let mut group = c.benchmark_group("cron_batch");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("json_only_baseline", |b| {
        let mut output = Vec::with_capacity(input.len());
        b.iter(|| {
            output.clear();
            json_only(black_box(&input), &mut output);
        });
    });
    group.bench_function("batch", |b| {
        let mut output = Vec::with_capacity(input.len());
        b.iter(|| {
            output.clear();
            run(black_box(input.as_slice()), &mut output, defaults).expect("in-memory I/O cannot fail")
        });
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
