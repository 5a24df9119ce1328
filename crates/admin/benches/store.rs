//! Hot paths of the store on SQLite, with a per-row baseline measured in the same run:
//!
//! * due-job scan plus batched next-time update of 10 000 jobs, against one UPDATE per job;
//! * batch insert of 10 000 log rows, against one INSERT per row;
//! * callback (result) updates, one statement each.
//!
//! Run with `cargo bench -p xjob-admin --bench store`. Set `XJOB_BENCH_URL` to a MySQL or PostgreSQL
//! database URL to measure that engine instead (the database must exist; it is migrated, not emptied).
//! Every loop is bounded: a fixed number of rounds over a fixed number of rows.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use xjob_admin::model::{
    JobGroupId, JobId, Lenient, LogHandle, LogId, NewJobLog, RouteStrategy, Schedule, TriggerStatus,
};
use xjob_admin::store::{NewJob, ScheduleUpdate, Store};
use xjob_test_support::db::{Engine, TestDatabase};

use common::{bench_job, seed_jobs, start_jobs};

const JOBS: usize = 10_000;
const LOGS: usize = 10_000;
/// Per-row baselines use fewer rows; rates are per row, so they compare directly.
const BASELINE_ROWS: usize = 2_000;
const ROUNDS: usize = 3;

fn main() {
    common::block_on(run());
}

async fn run() {
    let sqlite = TestDatabase::create(Engine::Sqlite).await;
    let url = std::env::var("XJOB_BENCH_URL").unwrap_or_else(|_| sqlite.url().to_owned());
    let store = common::open(&url).await;
    println!("engine: {:?}", store.engine());

    let ids = seed_started_jobs(&store).await;
    analyze(&url).await;
    let (scan_rate, batched_rate) = scan_and_update(&store, ids.len()).await;
    let per_row_rate = per_row_updates(&store, &ids[..BASELINE_ROWS]).await;
    println!("due-job scan of {JOBS} jobs:            {scan_rate:>12.0} jobs/s");
    println!("batched next-time update ({JOBS} jobs): {batched_rate:>12.0} jobs/s");
    println!("per-row next-time update (baseline):  {per_row_rate:>12.0} jobs/s");
    println!(
        "  batched / per-row:                  {:>12.1}x",
        batched_rate / per_row_rate
    );

    let (batch_insert_rate, log_ids) = batch_insert(&store).await;
    let single_insert_rate = single_inserts(&store).await;
    println!("batch log insert ({LOGS} rows):         {batch_insert_rate:>12.0} rows/s");
    println!("single log inserts (baseline):        {single_insert_rate:>12.0} rows/s");
    println!(
        "  batch / single:                     {:>12.1}x",
        batch_insert_rate / single_insert_rate
    );

    let callback_rate = callbacks(&store, &log_ids).await;
    println!("callback result updates:              {callback_rate:>12.0} updates/s");
    store.close().await;
}

/// Refreshes PostgreSQL's planner statistics after the bulk seed, as autovacuum would in a running
/// installation; without them the planner takes `trigger_status = 1` for a rare value and walks the
/// scan index instead of the primary key in the batched UPDATE.
async fn analyze(url: &str) {
    if url.starts_with("postgres") {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("ANALYZE xxl_job_info")
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

/// Inserts the jobs and starts each, due at its index (ms).
async fn seed_started_jobs(store: &Store) -> Vec<JobId> {
    let ids = seed_jobs(store, JOBS, job).await;
    start_jobs(store, &ids, |index| index as i64).await;
    ids
}

/// Rounds of: lock, scan every job, write every job's new next time, commit. Returns the scan rate and
/// the update rate (each timed on its own).
async fn scan_and_update(store: &Store, jobs: usize) -> (f64, f64) {
    let (mut scan, mut update) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        let mut tx = store.lock_schedule().await.unwrap();
        let started = Instant::now();
        let due = tx.due_jobs(i64::MAX, jobs as u32).await.unwrap();
        scan += started.elapsed();
        assert_eq!(due.len(), jobs);
        let updates: Vec<ScheduleUpdate> = due
            .iter()
            .map(|job| ScheduleUpdate {
                id: job.id,
                last_time: job.state.next_time,
                next_time: job.state.next_time + 1000 * (round as i64 + 1),
                status: TriggerStatus::Running,
            })
            .collect();
        let started = Instant::now();
        assert_eq!(tx.update_schedules(&updates).await.unwrap(), jobs as u64);
        tx.commit().await.unwrap();
        update += started.elapsed();
    }
    let total = (jobs * ROUNDS) as f64;
    (total / scan.as_secs_f64(), total / update.as_secs_f64())
}

/// The pre-batching shape: one UPDATE per job, all in one transaction.
async fn per_row_updates(store: &Store, ids: &[JobId]) -> f64 {
    let started = Instant::now();
    let mut tx = store.lock_schedule().await.unwrap();
    for (index, id) in ids.iter().enumerate() {
        let update = ScheduleUpdate {
            id: *id,
            last_time: index as i64,
            next_time: index as i64 + 5000,
            status: TriggerStatus::Running,
        };
        tx.update_schedules(std::slice::from_ref(&update)).await.unwrap();
    }
    tx.commit().await.unwrap();
    ids.len() as f64 / started.elapsed().as_secs_f64()
}

async fn batch_insert(store: &Store) -> (f64, Vec<LogId>) {
    let now = Utc::now();
    let logs: Vec<NewJobLog> = (0..LOGS)
        .map(|index| NewJobLog {
            job_group: JobGroupId(1),
            job_id: JobId(1 + (index % 100) as i32),
            trigger_time: now - TimeDelta::milliseconds(index as i64),
        })
        .collect();
    let mut elapsed = Duration::ZERO;
    let mut ids = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        ids = store.insert_logs(&logs).await.unwrap();
        elapsed += started.elapsed();
    }
    ((LOGS * ROUNDS) as f64 / elapsed.as_secs_f64(), ids)
}

async fn single_inserts(store: &Store) -> f64 {
    let log = NewJobLog {
        job_group: JobGroupId(1),
        job_id: JobId(1),
        trigger_time: Utc::now(),
    };
    let started = Instant::now();
    for _ in 0..BASELINE_ROWS {
        store.insert_log(&log).await.unwrap();
    }
    BASELINE_ROWS as f64 / started.elapsed().as_secs_f64()
}

async fn callbacks(store: &Store, ids: &[LogId]) -> f64 {
    let handle = LogHandle {
        time: Some(Utc::now()),
        code: 200,
        msg: Some("ok".into()),
    };
    let started = Instant::now();
    for id in ids {
        assert!(store.complete_log(*id, &handle).await.unwrap());
    }
    ids.len() as f64 / started.elapsed().as_secs_f64()
}

/// A job due every five seconds, routed round-robin.
fn job(index: usize) -> NewJob {
    let mut job = bench_job(JobGroupId(1), index, Schedule::cron("0/5 * * * * ?"));
    job.settings.route_strategy = Some(Lenient::Known(RouteStrategy::Round));
    job
}
