//! Setup the admin's benchmarks share: the runtime, a migrated SQLite store in a temporary directory, bench
//! jobs, groups and log rows, a no-op SDK executor, `/run` bodies, and skew percentiles.
//!
//! Each bench includes this module with `mod common;` and uses the part it needs.

#![allow(dead_code, clippy::unwrap_used)] // Not every bench uses every helper; setup failures abort.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::Utc;
use xjob_admin::model::{
    AddressType, AppName, BlockStrategy, Glue, GlueType, JobGroupId, JobId, JobSettings, Lenient, LogId,
    MisfireStrategy, NewJobGroup, NewJobLog, RetryPolicy, RouteStrategy, Schedule, ScheduleState,
};
use xjob_admin::store::{NewJob, Store, StoreOptions};
use xjob_executor::{Executor, ExecutorConfig, ExecutorHandle, JobContext, JobResult};
use xjob_protocol::TriggerRequest as RunRequest;
use xjob_test_support::db::{Engine, TestDatabase};

// Benches measure with the allocator the `xjob` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The handler name of every bench job; [`noop_executor`] serves it.
pub(crate) const HANDLER: &str = "noop";

/// A numeric setting from the environment, `default` when unset or unreadable.
pub(crate) fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) this process has used so far, over all its threads.
pub(crate) fn cpu_time() -> std::time::Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let micros = |time: nix::sys::time::TimeVal| {
        std::time::Duration::from_secs(time.tv_sec().try_into().unwrap())
            + std::time::Duration::from_micros(time.tv_usec().try_into().unwrap())
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

/// Runs the bench's main future on a multi-threaded runtime (one worker per core).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A fresh, migrated SQLite database in a temporary directory (removed when the first value drops).
pub(crate) async fn sqlite_store() -> (TestDatabase, Store) {
    let database = TestDatabase::create(Engine::Sqlite).await;
    let store = open(database.url()).await;
    (database, store)
}

/// Opens (and migrates) the database at `url` with the admin's default pool.
pub(crate) async fn open(url: &str) -> Store {
    Store::open(&StoreOptions {
        url: url.to_owned(),
        time_zone: chrono_tz::UTC,
        max_connections: None,
    })
    .await
    .unwrap()
}

/// A BEAN job of `group` running [`HANDLER`] on the first address, serially, with an empty parameter.
pub(crate) fn bench_job(group: JobGroupId, index: usize, schedule: Schedule) -> NewJob {
    NewJob {
        group,
        settings: JobSettings {
            name: format!("bench {index}"),
            author: None,
            alarm_email: None,
            schedule,
            misfire_strategy: Lenient::Known(MisfireStrategy::DoNothing),
            route_strategy: Some(Lenient::Known(RouteStrategy::First)),
            handler: Some(HANDLER.into()),
            param: Some(String::new()),
            block_strategy: Some(Lenient::Known(BlockStrategy::SerialExecution)),
            timeout_seconds: 0,
            retry: RetryPolicy::default(),
            child_job_id: None,
            time_zone: None,
        },
        glue: Glue {
            glue_type: Lenient::Known(GlueType::Bean),
            source: None,
            remark: None,
            update_time: None,
        },
    }
}

/// Inserts `count` jobs made by `job(index)`, returning their ids in order.
pub(crate) async fn seed_jobs(store: &Store, count: usize, job: impl Fn(usize) -> NewJob) -> Vec<JobId> {
    let now = Utc::now();
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        ids.push(store.insert_job(&job(index), now).await.unwrap());
    }
    ids
}

/// Starts every job of `ids` (the scheduler only reads running jobs), due at `next_time(index)` (Unix ms).
pub(crate) async fn start_jobs(store: &Store, ids: &[JobId], next_time: impl Fn(usize) -> i64) {
    let now = Utc::now();
    for (index, id) in ids.iter().enumerate() {
        let state = ScheduleState::started(next_time(index));
        assert!(store.set_job_state(*id, state, now).await.unwrap());
    }
}

/// A fire time no pass reaches (2100-01-01): started jobs wait for a bench to make them due.
pub(crate) const FAR_FUTURE_MS: i64 = 4_102_444_800_000;

/// Inserts an executor group; `address_list` is stored as given (manual groups).
pub(crate) async fn seed_group(
    store: &Store,
    app_name: &str,
    address_type: AddressType,
    address_list: Option<&str>,
    token: Option<&str>,
) -> JobGroupId {
    store
        .insert_group(
            &NewJobGroup {
                app_name: AppName::new(app_name).unwrap(),
                name: "bench".into(),
                address_type,
                address_list: address_list.map(str::to_owned),
                access_token: token.map(str::to_owned),
            },
            Utc::now(),
        )
        .await
        .unwrap()
}

/// Inserts `count` log rows awaiting their trigger, spread over 100 job ids; returns their ids.
pub(crate) async fn seed_logs(store: &Store, count: usize) -> Vec<LogId> {
    let now = Utc::now();
    let logs: Vec<NewJobLog> = (0..count)
        .map(|index| NewJobLog {
            job_group: JobGroupId(1),
            job_id: JobId(1 + (index % 100) as i32),
            trigger_time: now,
        })
        .collect();
    store.insert_logs(&logs).await.unwrap()
}

/// An SDK executor on `127.0.0.1:0` serving [`HANDLER`] as a no-op, registering with `admin` (a base URL)
/// and writing its execution logs below `logs`.
pub(crate) async fn noop_executor(admin: String, app_name: &str, token: &str, logs: &Path) -> ExecutorHandle {
    let mut config = ExecutorConfig::new(app_name, vec![admin], Some(token.to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = logs.to_owned();
    Executor::builder(config)
        .handler_fn(HANDLER, |_context: JobContext| async { JobResult::success() })
        .start()
        .await
        .unwrap()
}

/// The `/run` body the admin sends for a bench job.
pub(crate) fn run_request(job_id: JobId, log_id: LogId) -> RunRequest {
    RunRequest {
        job_id,
        executor_handler: Some(HANDLER.into()),
        executor_params: Some(String::new()),
        executor_block_strategy: Some(Lenient::Known(BlockStrategy::SerialExecution)),
        executor_timeout: 0,
        log_id,
        log_date_time: Utc::now().timestamp_millis(),
        glue_type: Some(Lenient::Known(GlueType::Bean)),
        glue_source: None,
        glue_updatetime: 0,
        broadcast_index: 0,
        broadcast_total: 1,
    }
}

/// Microseconds since the Unix epoch by the wall clock (the clock planned fire times use).
pub(crate) fn wall_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// The value at `fraction` (0..=1) of sorted values; 0 for none.
pub(crate) fn percentile(sorted: &[i64], fraction: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// `p50 / p99 / max` in milliseconds of microsecond skews, sorted or not.
pub(crate) fn summary(skews: &[i64]) -> String {
    let mut sorted = skews.to_vec();
    sorted.sort_unstable();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&sorted, 0.50) as f64 / 1000.0,
        percentile(&sorted, 0.99) as f64 / 1000.0,
        sorted.last().copied().unwrap_or_default() as f64 / 1000.0
    )
}

/// The 1-, 5- and 15-minute load averages as `uptime` shows them, or `unknown`.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}
