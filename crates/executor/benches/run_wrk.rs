//! `/run` throughput under an external load generator, [`wrk`](https://github.com/wg/wrk), with a trivial
//! axum endpoint measured the same way in the same run as the baseline.
//!
//! ```sh
//! apt-get install wrk   # or any wrk 4 built with LuaJIT
//! cargo bench -p xjob-executor --bench run_wrk
//! BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_JOBS=128 cargo bench -p xjob-executor --bench run_wrk
//! ```
//!
//! The executor, its stand-in admin and the baseline server share one 2-worker tokio runtime; `wrk` runs as a
//! separate process (`BENCH_WRK_THREADS`, default 1) on the same machine. A generated Lua script gives every
//! request a unique `logId`; three scenarios run in turn:
//!
//! * `baseline` — the trivial endpoint, same request bodies;
//! * `parallel` — `/run` spread over `BENCH_JOBS` job ids (default 64), so executions run side by side;
//! * `serial` — `/run` of a single job id with `SERIAL_EXECUTION`, so triggers queue behind each other.
//!
//! Every run executes a no-op handler, writes its log file (under `BENCH_LOG_DIR`, default a temporary
//! directory) and is reported by callback to the stand-in admin. Besides wrk's request rate, each `/run`
//! scenario shows the completed rate: executions divided by the time from wrk's start until the stand-in
//! admin holds every result. The request-to-handler-start latency is measured from the wall clock the Lua script reads (through
//! LuaJIT's FFI) right before it hands the request to wrk, carried in `executorParams`, to the handler's
//! start. wrk's own request-to-reply latency is shown too. Without `wrk` on the `PATH` the bench says so and
//! exits.

// A bench binary reports on stdout and may panic on setup failures.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::post;
use xjob_executor::{Executor, ExecutorConfig, JobContext, JobResult};
use xjob_protocol::Generation;
use xjob_test_support::StandinAdmin;

const TOKEN: &str = "bench-token";

fn main() {
    let settings = Settings {
        seconds: env_or("BENCH_SECONDS", 5),
        connections: env_or("BENCH_CONNECTIONS", 32),
        threads: env_or("BENCH_WRK_THREADS", 1),
        jobs: env_or("BENCH_JOBS", 64),
        log_dir: std::env::var_os("BENCH_LOG_DIR").map(std::path::PathBuf::from),
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed (apt-get install wrk); nothing measured");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(settings));
}

struct Settings {
    seconds: u64,
    connections: usize,
    threads: usize,
    jobs: u32,
    log_dir: Option<std::path::PathBuf>,
}

/// One wrk measurement: completed requests per second, refused replies, wrk's p99 round trip.
struct WrkResult {
    rate: f64,
    requests: u64,
    refused: u64,
    p99: String,
}

async fn run(settings: Settings) {
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), "bench").await;
    let dir = match &settings.log_dir {
        Some(parent) => tempfile::tempdir_in(parent).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let mut config = ExecutorConfig::new("bench", vec![admin.base_url()], Some(TOKEN.to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = dir.path().join("logs");
    let latencies: Arc<Mutex<Vec<u64>>> = Arc::default();
    let recorded = Arc::clone(&latencies);
    let executor = Executor::builder(config)
        .handler_fn("noop", move |ctx: JobContext| {
            if let Ok(sent) = ctx.param().parse::<u64>() {
                let micros = now_micros().saturating_sub(sent);
                recorded.lock().unwrap().push(micros);
            }
            async { JobResult::success() }
        })
        .start()
        .await
        .unwrap();

    let baseline = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let baseline_addr = baseline.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/run",
        post(|| async {
            (
                [("content-type", "text/html;charset=UTF-8")],
                r#"{"code":200,"msg":null}"#,
            )
        }),
    );
    tokio::spawn(async move { axum::serve(baseline, router).await });

    println!(
        "wrk: {} thread(s), {} connections, {} s per scenario; executor on 2 tokio workers",
        settings.threads, settings.connections, settings.seconds
    );
    let base = wrk(
        &settings,
        dir.path(),
        &format!("http://{baseline_addr}/run"),
        1,
        settings.jobs,
    )
    .await;
    println!(
        "baseline (trivial axum endpoint)  {:>8.0} req/s   wrk p99 {}",
        base.rate, base.p99
    );
    let run_url = format!("http://{}/run", executor.local_addr());
    let scenarios = [
        ("parallel", 1_000_000_000_i64, settings.jobs),
        ("serial", 2_000_000_000, 1),
    ];
    for (name, first_log_id, jobs) in scenarios {
        latencies.lock().unwrap().clear();
        let callbacks_before = admin.callbacks().len() as u64;
        let wrk_started = Instant::now();
        let result = wrk(&settings, dir.path(), &run_url, first_log_id, jobs).await;
        // Requests wrk sent but did not count at its deadline may still run: wait (bounded) until the
        // executions stop arriving, then until every result reached the stand-in admin.
        let started = settle(&latencies, result.requests).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while (admin.callbacks().len() as u64) < callbacks_before + started && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let completed_in = wrk_started.elapsed();
        let reported = admin.callbacks().len() as u64 - callbacks_before;
        let completed_rate = reported as f64 / completed_in.as_secs_f64();
        let mut sorted = latencies.lock().unwrap().clone();
        sorted.sort_unstable();
        let pick = |quantile: f64| {
            let index = ((sorted.len().saturating_sub(1)) as f64 * quantile) as usize;
            sorted
                .get(index)
                .map_or_else(|| "-".to_owned(), |micros| format_micros(*micros))
        };
        println!(
            "/run {name:<8} ({jobs:>3} job ids)    {:>8.0} runs/s  ratio {:.2}   wrk p99 {}   request -> handler start p50 {} p99 {} max {}   refused {}",
            result.rate,
            result.rate / base.rate,
            result.p99,
            pick(0.50),
            pick(0.99),
            pick(1.0),
            result.refused
        );
        println!(
            "     completed: {reported} of {started} results at the admin after {completed_in:.2?}: {completed_rate:.0} runs/s, ratio {:.2}",
            completed_rate / base.rate
        );
    }
    executor.shutdown().await;
}

/// Runs wrk against `url` with a generated script; the body is a G3 `/run` trigger spread over `jobs` ids.
async fn wrk(settings: &Settings, dir: &Path, url: &str, first_log_id: i64, jobs: u32) -> WrkResult {
    let script = dir.join(format!("run-{first_log_id}.lua"));
    std::fs::write(&script, lua_script(first_log_id, jobs, now_millis())).unwrap();
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", settings.threads))
        .arg(format!("-c{}", settings.connections))
        .arg(format!("-d{}s", settings.seconds))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(url);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no `{prefix}` in wrk output:\n{text}"))
    };
    WrkResult {
        rate: field("Requests/sec:").parse().unwrap(),
        requests: text
            .lines()
            .find(|line| line.contains(" requests in "))
            .and_then(|line| line.split_whitespace().next())
            .and_then(|count| count.parse().ok())
            .unwrap_or(0),
        refused: field("refused:").parse().unwrap(),
        p99: field("99%"),
    }
}

/// Waits until at least `completed` executions started and no more arrive for 200 ms (at most 30 s);
/// returns how many started.
async fn settle(latencies: &Mutex<Vec<u64>>, completed: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = latencies.lock().unwrap().len() as u64;
        if (now >= completed && now == last) || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

/// The wrk script: a unique `logId` per request (threads get disjoint ranges), job ids in rotation, the send
/// time in microseconds since the epoch as the parameter, and a count of replies that are not successes.
fn lua_script(first_log_id: i64, jobs: u32, log_date_time: i64) -> String {
    format!(
        r#"
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} bench_timespec;
int clock_gettime(int clock, bench_timespec *spec);
]]
local spec = ffi.new("bench_timespec")
local threads = {{}}
local sequence = 0
refused = 0
local headers = {{ ["Content-Type"] = "application/json", ["XXL-JOB-ACCESS-TOKEN"] = "{TOKEN}", ["XXL-JOB-APPNAME"] = "bench" }}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function request()
  sequence = sequence + 1
  local log_id = {first_log_id} + (thread_index or 0) * 100000000 + sequence
  local job_id = (log_id % {jobs}) + 1
  ffi.C.clock_gettime(0, spec)
  local sent = tonumber(spec.tv_sec) * 1000000 + math.floor(tonumber(spec.tv_nsec) / 1000)
  local body = string.format('{{"jobId":%d,"executorHandler":"noop","executorParams":"%d","executorBlockStrategy":"SERIAL_EXECUTION","executorTimeout":0,"logId":%d,"logDateTime":{log_date_time},"glueType":"BEAN","glueSource":"","glueUpdatetime":0,"broadcastIndex":0,"broadcastTotal":1}}', job_id, sent, log_id)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 11) ~= '{{"code":200' then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("refused")
  end
  io.write(string.format("refused: %d\n", total))
end
"#
    )
}

fn now_micros() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()).unwrap()
}

fn now_millis() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn format_micros(micros: u64) -> String {
    if micros >= 1000 {
        format!("{:.2}ms", micros as f64 / 1000.0)
    } else {
        format!("{micros}us")
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
