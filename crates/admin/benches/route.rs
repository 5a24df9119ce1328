//! Routing decisions per second: `cargo bench -p xjob-admin --bench route`.
//!
//! Each strategy routes triggers of 10 000 job ids in turn over 10 addresses, so the per-job state of ROUND,
//! LEAST_FREQUENTLY_USED and LEAST_RECENTLY_USED is fully populated; FIRST, which keeps no state, is the
//! baseline measured in the same run. Compare the strategies by their ratio to FIRST.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xjob_admin::route::{RouteStrategy, Router};
use xjob_protocol::JobId;

const JOBS: i32 = 10_000;
const ADDRESSES: usize = 10;
/// A fixed clock: the daily reset is not what is measured.
const NOW: i64 = 1_781_856_000_000;

fn routing(c: &mut Criterion) {
    let addresses: Vec<String> = (0..ADDRESSES)
        .map(|index| format!("http://10.0.0.{index}:9999/"))
        .collect();
    let mut group = c.benchmark_group("route");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for strategy in [
        RouteStrategy::First,
        RouteStrategy::Round,
        RouteStrategy::LeastFrequentlyUsed,
        RouteStrategy::LeastRecentlyUsed,
        RouteStrategy::ConsistentHash,
    ] {
        let router = Router::new();
        let mut job = 0;
        group.bench_function(strategy.to_string(), |bencher| {
            bencher.iter(|| {
                job = (job + 1) % JOBS;
                router.pick(strategy, JobId(job), black_box(&addresses), NOW)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
