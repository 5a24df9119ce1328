//! Fire-time skew of the scheduler with 10 000 jobs due in the same second, on SQLite, next to a baseline
//! measured in the same run: 10 000 bare tokio timers (`sleep_until` the same instant, then submit to a
//! trigger queue). Skew is the time a request reaches the queue's receiver minus its planned time.
//!
//! Also prints the duration of the pass that claims the 10 000 jobs (two pages of 5 000: locked read,
//! claim, batched update, commit).
//!
//! Run with `cargo bench -p xjob-admin --bench scheduler`. Every loop is bounded: a fixed number of
//! rounds, each waiting at most 30 s for its fires.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::time::Duration;

use tokio::sync::mpsc;
use xjob_admin::model::{JobGroupId, JobId, Schedule, TriggerStatus};
use xjob_admin::schedule::{Scheduler, SchedulerOptions};
use xjob_admin::store::{ScheduleUpdate, Store};
use xjob_admin::trigger::{TriggerQueue, TriggerRequest, TriggerType};

use common::{FAR_FUTURE_MS, bench_job, percentile, seed_jobs, start_jobs, summary, wall_micros};

const JOBS: usize = 10_000;
const ROUNDS: usize = 3;
/// The queue holds a whole burst, so the figures measure the scheduler, not a consumer's speed.
const QUEUE: usize = 2 * JOBS;

fn main() {
    common::block_on(run());
}

async fn run() {
    let (_database, store) = common::sqlite_store().await;
    // Hourly: after the fire under test, the next one is far outside every window.
    let ids = seed_jobs(&store, JOBS, |index| {
        bench_job(JobGroupId(1), index, Schedule::fix_rate(3600).unwrap())
    })
    .await;
    // Running, so each round's update makes them due.
    start_jobs(&store, &ids, |_| FAR_FUTURE_MS).await;

    let mut baseline = Vec::new();
    let mut scheduled = Vec::new();
    let mut passes = Vec::new();
    for round in 1..=ROUNDS {
        let base = bare_timers().await;
        let (skews, pass) = scheduler_round(&store, &ids).await;
        println!(
            "round {round}: baseline {}; scheduler {}; claiming pass {:.1} ms",
            summary(&base),
            summary(&skews),
            pass.as_secs_f64() * 1000.0
        );
        baseline.extend(base);
        scheduled.extend(skews);
        passes.push(pass);
    }
    baseline.sort_unstable();
    scheduled.sort_unstable();
    println!("{JOBS} fires due in the same second, {ROUNDS} rounds, skew = received - planned:");
    println!("  bare tokio timers (baseline): {}", summary(&baseline));
    println!("  scheduler on SQLite:          {}", summary(&scheduled));
    println!(
        "  scheduler / baseline p99:     {:.2}x",
        percentile(&scheduled, 0.99) as f64 / percentile(&baseline, 0.99).max(1) as f64
    );
    let longest = passes.iter().max().copied().unwrap_or_default();
    println!(
        "  pass claiming {JOBS} jobs:     longest {:.1} ms",
        longest.as_secs_f64() * 1000.0
    );
    store.close().await;
}

/// Makes every job due at one whole second a few seconds ahead, starts a scheduler, collects the skew of
/// every fire and the longest pass.
async fn scheduler_round(store: &Store, ids: &[JobId]) -> (Vec<i64>, Duration) {
    let planned = (wall_micros() / 1_000_000 + 8) * 1000;
    let updates: Vec<ScheduleUpdate> = ids
        .iter()
        .map(|id| ScheduleUpdate {
            id: *id,
            last_time: 0,
            next_time: planned,
            status: TriggerStatus::Running,
        })
        .collect();
    store.update_schedules(&updates).await.unwrap();

    let (queue, receiver) = TriggerQueue::bounded(QUEUE);
    let collector = tokio::spawn(collect(receiver, JOBS));
    let scheduler = Scheduler::start(store.clone(), queue, SchedulerOptions::default());
    let skews = tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .expect("all fires within 30 s")
        .unwrap();
    let stats = scheduler.shutdown().await;
    assert_eq!(stats.fires_submitted, JOBS as u64);
    (skews, stats.longest_pass)
}

/// Records `received - planned` (µs) of the first `count` requests.
async fn collect(mut receiver: mpsc::Receiver<TriggerRequest>, count: usize) -> Vec<i64> {
    let mut skews = Vec::with_capacity(count);
    while skews.len() < count {
        let Some(request) = receiver.recv().await else {
            break;
        };
        let planned = request.planned_ms.unwrap();
        skews.push(wall_micros() - planned * 1000);
    }
    skews
}

/// The baseline: one tokio timer per job, all set for the same instant, each submitting its request.
async fn bare_timers() -> Vec<i64> {
    let planned = (wall_micros() / 1_000_000 + 2) * 1000;
    let (queue, receiver) = TriggerQueue::bounded(QUEUE);
    let collector = tokio::spawn(collect(receiver, JOBS));
    let delay = Duration::from_micros((planned * 1000 - wall_micros()).max(0) as u64);
    let deadline = tokio::time::Instant::now() + delay;
    for job in 0..JOBS {
        let queue = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let mut request = TriggerRequest::new(JobId(job as i32), TriggerType::Cron);
            request.planned_ms = Some(planned);
            queue.submit(request).await.unwrap();
        });
    }
    drop(queue);
    tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .expect("all baseline fires within 30 s")
        .unwrap()
}
