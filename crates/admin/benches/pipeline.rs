//! Trigger pipeline throughput on SQLite: triggers per second from submission to a stored trigger result,
//! against a no-op handler of an SDK executor on loopback. The baseline, measured in the same run, is the
//! raw executor-client call rate to the same executor with the same concurrency and job mix: what the
//! pipeline would reach if rows, routing and messages cost nothing.
//!
//! Run with `cargo bench -p xjob-admin --bench pipeline`. Every loop is bounded: a fixed number of
//! triggers per round and a fixed number of rounds.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use xjob_admin::model::{AddressType, JobId, LogId, LogStatus, Schedule};
use xjob_admin::route::Router;
use xjob_admin::store::{LogFilter, Page, Store};
use xjob_admin::trigger::message::MessageStyle;
use xjob_admin::trigger::{
    ClientOptions, ExecutorClient, ExecutorGenerations, ExecutorTarget, Pipeline, PipelineDeps,
    PipelineLimits, TriggerQueue, TriggerRequest, TriggerType,
};
use xjob_protocol::Generation;
use xjob_test_support::StandinAdmin;

use common::{bench_job, run_request, seed_group, seed_jobs};

const TOKEN: &str = "bench-t0ken";
const APP: &str = "bench-app";
const JOBS: usize = 200;
const TRIGGERS: usize = 20_000;
const ROUNDS: usize = 3;
/// Executor calls in flight, for the pipeline and the baseline alike.
const CONCURRENCY: usize = 256;

fn main() {
    common::block_on(run());
}

async fn run() {
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP).await;
    let logs = tempfile::tempdir().unwrap();
    let executor = common::noop_executor(admin.base_url(), APP, TOKEN, logs.path()).await;
    let address = executor.address().to_owned();

    let (_database, store) = common::sqlite_store().await;
    let group = seed_group(&store, APP, AddressType::Manual, Some(&address), Some(TOKEN)).await;
    let jobs = seed_jobs(&store, JOBS, |index| bench_job(group, index, Schedule::none())).await;
    let client = ExecutorClient::new(&ClientOptions::default()).unwrap();
    let next_log = Arc::new(AtomicI64::new(1_000_000_000));

    // Warm-up: connections, executor job threads.
    baseline(&client, &address, &jobs, &next_log, 2_000).await;
    pipeline(&store, &client, &jobs, 2_000).await;

    let mut baseline_rates = Vec::new();
    let mut pipeline_rates = Vec::new();
    for _ in 0..ROUNDS {
        baseline_rates.push(baseline(&client, &address, &jobs, &next_log, TRIGGERS).await);
        pipeline_rates.push(pipeline(&store, &client, &jobs, TRIGGERS).await);
    }
    let best = |rates: &[f64]| rates.iter().copied().fold(0.0, f64::max);
    let (baseline_rate, pipeline_rate) = (best(&baseline_rates), best(&pipeline_rates));
    println!(
        "engine: {:?}, {TRIGGERS} triggers per round, best of {ROUNDS}",
        store.engine()
    );
    println!("raw executor calls (baseline):        {baseline_rate:>10.0} calls/s");
    println!("pipeline, submit to stored result:    {pipeline_rate:>10.0} triggers/s");
    println!(
        "  pipeline / baseline:                {:>10.2}",
        pipeline_rate / baseline_rate
    );
    println!("rounds: baseline {baseline_rates:.0?}, pipeline {pipeline_rates:.0?}");
    store.close().await;
    executor.shutdown().await;
}

/// `count` trigger calls straight through the client, `CONCURRENCY` at a time.
async fn baseline(
    client: &ExecutorClient,
    address: &str,
    jobs: &[JobId],
    next_log: &Arc<AtomicI64>,
    count: usize,
) -> f64 {
    let started = Instant::now();
    let mut workers = JoinSet::new();
    let per_worker = count / CONCURRENCY;
    for worker in 0..CONCURRENCY {
        let (client, address, next_log) = (client.clone(), address.to_owned(), Arc::clone(next_log));
        let jobs = jobs.to_vec();
        workers.spawn(async move {
            for call in 0..per_worker {
                let job_id = jobs[(worker * per_worker + call) % jobs.len()];
                let request = run_request(job_id, LogId(next_log.fetch_add(1, Ordering::Relaxed)));
                let target = ExecutorTarget {
                    address: &address,
                    generation: Generation::G3,
                    access_token: Some(TOKEN),
                    app_name: Some(APP),
                };
                let reply = client.trigger(&target, &request).await.unwrap();
                assert_eq!(reply.code, 200, "{:?}", reply.msg);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    (per_worker * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

/// `count` triggers through a fresh pipeline, from the first submission until shutdown has stored every
/// result; checks that every row was accepted by the executor.
async fn pipeline(store: &Store, client: &ExecutorClient, jobs: &[JobId], count: usize) -> f64 {
    let before = accepted_rows(store).await;
    let (queue, receiver) = TriggerQueue::bounded(4096);
    let deps = PipelineDeps {
        client: client.clone(),
        router: Arc::new(Router::new()),
        generations: ExecutorGenerations::new(Generation::G3),
        admin_address: "127.0.0.1:8080".to_owned(),
        style: MessageStyle::Current,
        access_token: None,
        limits: PipelineLimits {
            in_flight: CONCURRENCY,
            ..PipelineLimits::default()
        },
    };
    let started = Instant::now();
    let handle = Pipeline::start(store.clone(), receiver, deps);
    for index in 0..count {
        let request = TriggerRequest::new(jobs[index % jobs.len()], TriggerType::Cron);
        queue.submit(request).await.unwrap();
    }
    handle.shutdown().await;
    let elapsed = started.elapsed();
    let accepted = accepted_rows(store).await - before;
    assert_eq!(accepted, count as i64, "every trigger accepted and stored");
    count as f64 / elapsed.max(Duration::from_micros(1)).as_secs_f64()
}

async fn accepted_rows(store: &Store) -> i64 {
    let filter = LogFilter {
        status: LogStatus::Running,
        ..LogFilter::default()
    };
    store.logs_page(&filter, Page::first(1)).await.unwrap().total
}
