//! `/run` throughput and latency of the executor against a no-op handler, with a baseline measured in the
//! same run: the same client against a trivial axum endpoint that returns the same reply without doing
//! anything.
//!
//! ```sh
//! cargo bench -p xjob-executor --bench run_throughput
//! BENCH_CONNECTIONS=32 BENCH_SECONDS=10 cargo bench -p xjob-executor --bench run_throughput
//! ```
//!
//! Client and servers share one 2-worker tokio runtime on loopback. Every request is a distinct trigger
//! (one job id per connection, increasing log ids), so each one really queues, runs, writes its log file and
//! is reported by callback to a stand-in admin. The latency is from just before the client sends a request
//! to the moment the handler starts. Bounded by time and by count.

// A bench binary reports on stdout and may panic on setup failures.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use xjob_executor::{Executor, ExecutorConfig, JobContext, JobResult};
use xjob_protocol::{BlockStrategy, Generation, GlueType, JobId, Lenient, LogId, TriggerRequest};
use xjob_test_support::StandinAdmin;

const MAX_REQUESTS: u64 = 2_000_000;

fn main() {
    let connections: usize = env_or("BENCH_CONNECTIONS", 16);
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(connections, Duration::from_secs(seconds)));
}

async fn run(connections: usize, duration: Duration) {
    let admin = StandinAdmin::start(Generation::G3, Some("bench-token"), "bench").await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = ExecutorConfig::new("bench", vec![admin.base_url()], Some("bench-token".to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = dir.path().to_owned();
    let starts: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let recorded = Arc::clone(&starts);
    let executor = Executor::builder(config)
        .handler_fn("noop", move |ctx: JobContext| {
            recorded.lock().unwrap().insert(ctx.log_id().0, Instant::now());
            async { JobResult::success() }
        })
        .start()
        .await
        .unwrap();
    let run_url = format!("http://{}/run", executor.local_addr());

    let baseline = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let baseline_url = format!("http://{}/run", baseline.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/run",
        post(|| async {
            (
                [("content-type", "text/html;charset=UTF-8")],
                r#"{"code":200,"msg":"Success"}"#,
            )
        }),
    );
    tokio::spawn(async move { axum::serve(baseline, router).await });

    println!("connections: {connections}, duration per measurement: {duration:?}");
    let (base_count, base_elapsed, _) = load(&baseline_url, connections, duration, 1_000_000_000).await;
    let base_rate = base_count as f64 / base_elapsed.as_secs_f64();
    println!("baseline (trivial axum endpoint): {base_count} requests, {base_rate:.0} req/s");

    let (count, elapsed, sent) = load(&run_url, connections, duration, 0).await;
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("executor /run (no-op handler):    {count} requests, {rate:.0} runs/s");
    println!("ratio executor / baseline: {:.2}", rate / base_rate);

    // Wait (bounded) for the queued executions to start, then compute request-to-start latencies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while starts.lock().unwrap().len() < sent.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let starts = starts.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(log_id, sent_at)| {
            starts
                .get(log_id)
                .map(|start| start.saturating_duration_since(*sent_at))
        })
        .collect();
    latencies.sort();
    if !latencies.is_empty() {
        let pick = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile) as usize];
        println!(
            "request -> handler start: p50 {:?}, p99 {:?}, max {:?} ({} of {} started)",
            pick(0.50),
            pick(0.99),
            latencies[latencies.len() - 1],
            latencies.len(),
            sent.len()
        );
    }
    executor.shutdown().await;
}

/// Runs `connections` concurrent request loops for `duration`; returns the completed count, the elapsed time
/// and, for the executor, the send instant of each log id.
async fn load(
    url: &str,
    connections: usize,
    duration: Duration,
    first_log_id: i64,
) -> (u64, Duration, Vec<(i64, Instant)>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + duration;
    let per_connection = MAX_REQUESTS / connections as u64;
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut completed = 0u64;
            let job_id = i32::try_from(connection).unwrap() + 1;
            for sequence in 0..per_connection {
                if Instant::now() >= deadline {
                    break;
                }
                let log_id =
                    first_log_id + i64::try_from(sequence * connections as u64).unwrap() + job_id as i64;
                let body = serde_json::to_vec(&noop_trigger(job_id, log_id)).unwrap();
                let sent_at = Instant::now();
                let reply = client
                    .post(&url)
                    .header("XXL-JOB-ACCESS-TOKEN", "bench-token")
                    .header("Accept-Charset", "UTF-8")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let text = reply.text().await.unwrap();
                assert!(text.starts_with(r#"{"code":200"#), "{text}");
                completed += 1;
                sent.push((log_id, sent_at));
            }
            (completed, sent)
        }));
    }
    let mut total = 0;
    let mut all_sent = Vec::new();
    for task in tasks {
        let (completed, sent) = task.await.unwrap();
        total += completed;
        all_sent.extend(sent);
    }
    (total, started.elapsed(), all_sent)
}

fn noop_trigger(job_id: i32, log_id: i64) -> TriggerRequest {
    TriggerRequest {
        job_id: JobId(job_id),
        executor_handler: Some("noop".to_owned()),
        executor_params: None,
        executor_block_strategy: Some(Lenient::Known(BlockStrategy::SerialExecution)),
        executor_timeout: 0,
        log_id: LogId(log_id),
        log_date_time: 1_781_856_000_000,
        glue_type: Some(Lenient::Known(GlueType::Bean)),
        glue_source: None,
        glue_updatetime: 0,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
