//! The whole admin, end to end, on SQLite (or MySQL or PostgreSQL, see below): a complete [`Admin`] (data
//! directory in a temporary directory, port 0, access token) and a no-op executor on loopback that
//! registers with it, answers `/run` at once and reports results by batched callbacks.
//!
//! * **Throughput**: triggers enter through the trigger queue every trigger source uses (scheduler, job
//!   API, retries, child jobs); the rate is log rows with their result (`handle_code`) recorded per second,
//!   from the first submission until the last row is complete. The baseline, measured in the same run and
//!   with the same executor kind, is raw round trips without the admin: `/run` calls straight from the
//!   admin's executor client (as many in flight as the admin's trigger pool) to an executor whose callbacks
//!   go to a stand-in that only counts them. Beside each rate: the CPU time (user + system) the whole
//!   process spent per trigger, and for the minimal executor how long the callbacks took to be answered.
//!   An executor sends its next callback only after the answer to the previous one, and the admin answers
//!   once the results are stored, so with one executor the rate is at most 50 results per answer time.
//! * **Fire-time skew**: 10 000 jobs due in the same second, fired by the admin's own scheduler. Recorded
//!   per fire: the trigger time the admin writes into the log row and sends as `logDateTime`, and the
//!   arrival of `/run` at the executor, each minus the planned second; plus the time until the last of
//!   them has its result. The scheduler's own skew (planned time to the trigger queue, against bare tokio
//!   timers) is the `scheduler` bench.
//!
//! Two executors are measured: the SDK (`xjob-executor`) with a no-op handler, which writes a log file per
//! execution as in production, and a minimal axum executor written for this bench that keeps nothing but
//! the results it owes (one sender, batches of at most 50, as the SDK sends them).
//!
//! Run with `cargo bench -p xjob-admin --bench end_to_end`. `BENCH_TRIGGERS` (default 50 000) triggers per
//! round, `BENCH_ROUNDS` (default 2) rounds, `BENCH_SKEW_JOBS` (default 10 000) jobs in the skew run (0 skips it),
//! `BENCH_EXECUTOR` (`sdk` or `minimal`) measures one executor kind only, `BENCH_EXECUTORS` (default 1) executors
//! share the work (ROUND routing when more than one), `BENCH_BASELINE=0` skips the
//! baseline rounds (to profile the admin alone), `BENCH_ENGINE` (`sqlite`, the default, `mysql` or
//! `postgres`) stores in a fresh database on the server at `TEST_MYSQL_URL` / `TEST_POSTGRES_URL`.
//! Every wait is bounded by [`TIME_LIMIT`].

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench binary: setup failures abort, results go to stdout.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use xjob_admin::config::{AdminConfig, Secret};
use xjob_admin::model::{
    AddressType, JobGroupId, JobId, Lenient, LogId, RouteStrategy, Schedule, TriggerStatus,
};
use xjob_admin::registry::{GroupTokens, RegistryMonitor, RegistryOptions};
use xjob_admin::store::{ScheduleUpdate, Store};
use xjob_admin::trigger::{ClientOptions, ExecutorClient, ExecutorTarget, TriggerRequest, TriggerType};
use xjob_admin::{Admin, AdminHandle};
use xjob_executor::ExecutorHandle;
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, CallbackBody, CallbackItem, Dialect, Envelope, ExecutorEndpoint,
    Generation, REQUEST_CONTENT_TYPE, RegistryRequest, Side, TriggerRequest as RunRequest,
};
use xjob_test_support::db::{Engine, TestDatabase};
use xjob_test_support::wait_until;

use common::{
    FAR_FUTURE_MS, bench_job, load_average, run_request, seed_group, seed_jobs, start_jobs, summary,
    wall_micros,
};

const TOKEN: &str = "bench-t0ken";
const APP: &str = "bench-app";
/// Jobs the throughput triggers cycle over.
const JOBS: usize = 1000;
/// Triggers before the measured rounds: connections, executor job threads, SQLite pages.
const WARM_UP: usize = 5000;
/// The admin's default trigger pool (`trigger_pool_fast_max`); the baseline keeps as many calls in flight.
const IN_FLIGHT: usize = 300;
/// Results per callback at most, as the SDK sends them.
const CALLBACK_BATCH: usize = 50;
/// The bound of every wait.
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    common::block_on(run());
}

async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let triggers = common::setting("BENCH_TRIGGERS", 50_000);
    let rounds = common::setting("BENCH_ROUNDS", 2).max(1);
    let skew_jobs = common::setting("BENCH_SKEW_JOBS", 10_000);
    let executors = common::setting("BENCH_EXECUTORS", 1).max(1);
    println!(
        "{:?}, {triggers} triggers per round over {JOBS} jobs, best of {rounds}, {executors} executor(s); load average {}",
        engine(),
        load_average()
    );

    let mut rows = Vec::new();
    let only = std::env::var("BENCH_EXECUTOR").unwrap_or_default();
    let with_baseline = common::setting("BENCH_BASELINE", 1) != 0;
    let kinds = [Kind::Sdk, Kind::Minimal]
        .into_iter()
        .filter(|kind| triggers > 0 && (only.is_empty() || only == kind.key()));
    for kind in kinds {
        let baseline = Baseline::start(kind, executors).await;
        let (admin, _) = AdminRig::start(kind, executors, JOBS, Schedule::none(), false).await;
        if with_baseline {
            baseline.round(WARM_UP).await;
        }
        admin.round(WARM_UP).await;
        let (mut baseline_rounds, mut admin_rounds) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            if with_baseline {
                CALLBACK_STATS.take();
                baseline_rounds.push(baseline.round(triggers).await);
                CALLBACK_STATS.print(kind, "baseline");
            }
            admin_rounds.push(admin.round(triggers).await);
            CALLBACK_STATS.print(kind, "admin");
        }
        let rates = |rounds: &[Round]| rounds.iter().map(|round| round.rate.round()).collect::<Vec<_>>();
        println!(
            "{}: baseline {:?}/s, admin {:?}/s",
            kind.name(),
            rates(&baseline_rounds),
            rates(&admin_rounds)
        );
        rows.push((kind, best(&baseline_rounds), best(&admin_rounds)));
        admin.stop().await;
        baseline.stop().await;
    }
    println!(
        "| executor | raw /run + callback (baseline) | admin end to end | admin / baseline | CPU per trigger: baseline | admin | admin's own |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (kind, baseline, admin) in rows {
        let Some(admin) = admin else { continue };
        match baseline {
            Some(baseline) => println!(
                "| {} | {:.0}/s | {:.0}/s | {:.2} | {:.0} µs | {:.0} µs | {:.0} µs |",
                kind.name(),
                baseline.rate,
                admin.rate,
                admin.rate / baseline.rate,
                baseline.cpu_micros,
                admin.cpu_micros,
                admin.cpu_micros - baseline.cpu_micros
            ),
            None => println!(
                "| {} | – | {:.0}/s | – | – | {:.0} µs | – |",
                kind.name(),
                admin.rate,
                admin.cpu_micros
            ),
        }
    }

    if skew_jobs > 0 {
        let skew = skew_run(skew_jobs).await;
        println!(
            "{skew_jobs} jobs due in the same second, fired by the admin's scheduler (minimal executor):"
        );
        println!(
            "  trigger time written to the log row - planned: {}",
            summary(&skew.trigger)
        );
        println!(
            "  /run arrival at the executor - planned:         {}",
            summary(&skew.arrival)
        );
        println!(
            "  last result recorded:                          {:.0} ms after the planned second",
            skew.completed_micros as f64 / 1000.0
        );
    }
    println!("load average at the end: {}", load_average());
}

/// One measured round.
#[derive(Clone, Copy, Debug)]
struct Round {
    /// Triggers completed per second of wall time.
    rate: f64,
    /// CPU time of the whole process (admin, executor and load) per trigger, in µs.
    cpu_micros: f64,
}

impl Round {
    fn new(count: usize, wall: Duration, cpu: Duration) -> Round {
        Round {
            rate: count as f64 / wall.as_secs_f64(),
            cpu_micros: cpu.as_secs_f64() * 1e6 / count as f64,
        }
    }
}

/// The round with the highest rate, if any ran.
fn best(rounds: &[Round]) -> Option<Round> {
    rounds
        .iter()
        .copied()
        .fold(None, |best: Option<Round>, round| match best {
            Some(best) if best.rate >= round.rate => Some(best),
            _ => Some(round),
        })
}

/// Which no-op executor runs the jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The SDK with a no-op handler: a job thread per job, a log file per execution.
    Sdk,
    /// [`MinimalExecutor`].
    Minimal,
}

impl Kind {
    /// The value of `BENCH_EXECUTOR` that selects this kind alone.
    fn key(self) -> &'static str {
        match self {
            Kind::Sdk => "sdk",
            Kind::Minimal => "minimal",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Sdk => "SDK executor, no-op handler",
            Kind::Minimal => "minimal axum executor (bench only)",
        }
    }

    async fn start(self, admin: String, logs: &std::path::Path) -> Running {
        match self {
            Kind::Sdk => Running::Sdk(common::noop_executor(admin, APP, TOKEN, logs).await),
            Kind::Minimal => Running::Minimal(MinimalExecutor::start(admin, None).await),
        }
    }
}

enum Running {
    Sdk(ExecutorHandle),
    Minimal(MinimalExecutor),
}

impl Running {
    fn address(&self) -> &str {
        match self {
            Running::Sdk(executor) => executor.address(),
            Running::Minimal(executor) => &executor.address,
        }
    }

    async fn stop(self) {
        match self {
            Running::Sdk(executor) => executor.shutdown().await,
            Running::Minimal(executor) => executor.stop(),
        }
    }
}

/// A complete admin with one automatic group, its jobs, and one executor registered in the group.
struct AdminRig {
    admin: AdminHandle,
    executors: Vec<Running>,
    store: Store,
    /// A separate connection to the admin's database for the bench's own progress queries.
    reader: Reader,
    jobs: Vec<JobId>,
    _home: tempfile::TempDir,
    /// The MySQL or PostgreSQL database, dropped with the rig.
    _database: Option<TestDatabase>,
}

impl AdminRig {
    /// Seeds the group and `jobs` jobs before start (the registry monitor loads group tokens as it starts),
    /// starts the admin and `executors` executors, and waits until the group lists their addresses. With
    /// several executors the jobs route ROUND, so every executor gets its share.
    async fn start(
        kind: Kind,
        executors: usize,
        jobs: usize,
        schedule: Schedule,
        record: bool,
    ) -> (AdminRig, Recorder) {
        let scheduled = schedule != Schedule::none();
        let home = tempfile::tempdir().unwrap();
        let database = match engine() {
            Engine::Sqlite => None,
            server => Some(TestDatabase::create(server).await),
        };
        let config = AdminConfig {
            port: 0,
            data_dir: Some(home.path().join("data")),
            database_url: database
                .as_ref()
                .map(|database| Secret::from(database.url().to_owned())),
            access_token: Some(Secret::from(TOKEN.to_owned())),
            ..AdminConfig::default()
        };
        let store = xjob_admin::app::open_store(&config).await.unwrap();
        let group = seed_group(&store, APP, AddressType::Automatic, None, Some(TOKEN)).await;
        let jobs = seed_jobs(&store, jobs, |index| {
            let mut job = bench_job(group, index, schedule.clone());
            if executors > 1 {
                job.settings.route_strategy = Some(Lenient::Known(RouteStrategy::Round));
            }
            job
        })
        .await;
        if scheduled {
            start_jobs(&store, &jobs, |_| FAR_FUTURE_MS).await;
        }
        store.close().await;

        let database_url = config.database_url().unwrap();
        let admin = Admin::start(config).await.unwrap();
        let base = format!("http://{}", admin.addr());
        let recorder = Recorder::default();
        let mut running = Vec::with_capacity(executors);
        for index in 0..executors {
            running.push(match (kind, record) {
                (Kind::Minimal, true) => {
                    Running::Minimal(MinimalExecutor::start(base.clone(), Some(recorder.clone())).await)
                }
                _ => {
                    let logs = home.path().join(format!("executor-logs-{index}"));
                    kind.start(base.clone(), &logs).await
                }
            });
        }
        let store = admin.context().store.clone();
        // The group learns registered addresses at the registry monitor's next pass; run passes now.
        let monitor = RegistryMonitor::new(
            store.clone(),
            admin.context().generations.clone(),
            GroupTokens::new(),
            RegistryOptions::default(),
        );
        let addresses: Vec<String> = running
            .iter()
            .map(|executor| executor.address().to_owned())
            .collect();
        let listed = wait_until(Duration::from_secs(10), || {
            let (monitor, store, addresses) = (monitor.clone(), store.clone(), addresses.clone());
            async move {
                monitor.pass(Utc::now()).await.unwrap();
                group_lists(&store, group, &addresses).await
            }
        })
        .await;
        assert!(listed, "the executors registered and their group lists them");
        let reader = Reader::connect(&database_url).await;
        let rig = AdminRig {
            admin,
            executors: running,
            store,
            reader,
            jobs,
            _home: home,
            _database: database,
        };
        (rig, recorder)
    }

    /// Submits `count` manual triggers; completed rows per second and CPU time per trigger.
    async fn round(&self, count: usize) -> Round {
        let after = self.progress().await.0;
        let (started, cpu) = (Instant::now(), common::cpu_time());
        let queue = self.admin.context().triggers.clone();
        let jobs = self.jobs.clone();
        let submitter = tokio::spawn(async move {
            for index in 0..count {
                let request = TriggerRequest::new(jobs[index % jobs.len()], TriggerType::Manual);
                queue.submit(request).await.unwrap();
            }
        });
        // Two index lookups per poll, so watching costs next to nothing however large the table grows.
        let done = wait_until(TIME_LIMIT, || async {
            let (last, waiting) = self.progress().await;
            last - after >= count as i64 && waiting == 0
        })
        .await;
        let round = Round::new(count, started.elapsed(), common::cpu_time() - cpu);
        submitter.await.unwrap();
        assert!(done, "{count} triggers completed within {TIME_LIMIT:?}");
        let succeeded = self.reader.succeeded_after(after).await;
        assert_eq!(succeeded, count as i64, "every trigger of the round succeeded");
        round
    }

    /// The highest log id and the number of rows still without result.
    async fn progress(&self) -> (i64, i64) {
        self.reader.progress().await
    }

    async fn stop(self) {
        for executor in self.executors {
            executor.stop().await;
        }
        self.admin.shutdown().await;
    }
}

/// The engine `BENCH_ENGINE` names: `sqlite` (the default), `mysql` or `postgres`, the servers at
/// `TEST_MYSQL_URL` / `TEST_POSTGRES_URL` (a fresh database each rig).
fn engine() -> Engine {
    match std::env::var("BENCH_ENGINE").unwrap_or_default().as_str() {
        "" | "sqlite" => Engine::Sqlite,
        "mysql" => Engine::MySql,
        "postgres" => Engine::Postgres,
        other => panic!("BENCH_ENGINE={other}: use sqlite, mysql or postgres"),
    }
}

/// The bench's own connection to the admin's database (read-only on SQLite).
enum Reader {
    Sqlite(sqlx::SqlitePool),
    MySql(sqlx::MySqlPool),
    Postgres(sqlx::PgPool),
}

/// The highest log id and the number of rows still without result: two index lookups.
const PROGRESS: &str = "SELECT CAST((SELECT COALESCE(MAX(id), 0) FROM xxl_job_log) AS BIGINT), \
     CAST((SELECT COUNT(*) FROM xxl_job_log WHERE handle_code = 0) AS BIGINT)";

impl Reader {
    async fn connect(url: &str) -> Reader {
        match engine() {
            Engine::Sqlite => Reader::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(
                        url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                            .unwrap()
                            .read_only(true),
                    )
                    .await
                    .unwrap(),
            ),
            Engine::MySql => Reader::MySql(sqlx::MySqlPool::connect(url).await.unwrap()),
            Engine::Postgres => Reader::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
        }
    }

    async fn progress(&self) -> (i64, i64) {
        // MySQL has no BIGINT cast; SIGNED is its 64-bit integer.
        match self {
            Reader::Sqlite(pool) => sqlx::query_as(PROGRESS).fetch_one(pool).await.unwrap(),
            Reader::MySql(pool) => sqlx::query_as(&PROGRESS.replace("BIGINT", "SIGNED"))
                .fetch_one(pool)
                .await
                .unwrap(),
            Reader::Postgres(pool) => sqlx::query_as(PROGRESS).fetch_one(pool).await.unwrap(),
        }
    }

    async fn succeeded_after(&self, after: i64) -> i64 {
        let count = "SELECT COUNT(*) FROM xxl_job_log WHERE id > ? AND handle_code = 200";
        match self {
            Reader::Sqlite(pool) => sqlx::query_scalar(count)
                .bind(after)
                .fetch_one(pool)
                .await
                .unwrap(),
            Reader::MySql(pool) => sqlx::query_scalar(count)
                .bind(after)
                .fetch_one(pool)
                .await
                .unwrap(),
            Reader::Postgres(pool) => sqlx::query_scalar(&count.replace('?', "$1"))
                .bind(after)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }
}

async fn group_lists(store: &Store, group: JobGroupId, addresses: &[String]) -> bool {
    let group = store.group(group).await.unwrap().unwrap();
    let listed = group.addresses();
    addresses.iter().all(|address| listed.contains(&address.as_str()))
}

/// Raw round trips without the admin: the admin's executor client calls `/run`, the executor's
/// callbacks go to a [`CountingAdmin`].
struct Baseline {
    counter: CountingAdmin,
    executors: Vec<Running>,
    client: ExecutorClient,
    next_log: Arc<AtomicUsize>,
    _logs: tempfile::TempDir,
}

impl Baseline {
    async fn start(kind: Kind, executors: usize) -> Baseline {
        let counter = CountingAdmin::start().await;
        let logs = tempfile::tempdir().unwrap();
        let mut running = Vec::with_capacity(executors);
        for index in 0..executors {
            let dir = logs.path().join(index.to_string());
            running.push(kind.start(counter.base.clone(), &dir).await);
        }
        Baseline {
            counter,
            executors: running,
            client: ExecutorClient::new(&ClientOptions::default()).unwrap(),
            next_log: Arc::new(AtomicUsize::new(1)),
            _logs: logs,
        }
    }

    /// `count` triggers, [`IN_FLIGHT`] at a time spread over the executors; results counted per second,
    /// CPU time per trigger.
    async fn round(&self, count: usize) -> Round {
        let before = self.counter.results.load(Ordering::Relaxed);
        let (started, cpu) = (Instant::now(), common::cpu_time());
        let mut callers = JoinSet::new();
        for caller in 0..IN_FLIGHT {
            let calls = count / IN_FLIGHT + usize::from(caller < count % IN_FLIGHT);
            let (client, next_log) = (self.client.clone(), Arc::clone(&self.next_log));
            let address = self.executors[caller % self.executors.len()].address().to_owned();
            callers.spawn(async move {
                let target = ExecutorTarget {
                    address: &address,
                    generation: Generation::G3,
                    access_token: Some(TOKEN),
                    app_name: Some(APP),
                };
                for call in 0..calls {
                    let job = JobId(1 + ((caller + call * IN_FLIGHT) % JOBS) as i32);
                    let log = LogId(next_log.fetch_add(1, Ordering::Relaxed) as i64);
                    let reply = client.trigger(&target, &run_request(job, log)).await.unwrap();
                    assert_eq!(reply.code, 200, "{:?}", reply.msg);
                }
            });
        }
        while let Some(done) = callers.join_next().await {
            done.unwrap();
        }
        let counted = wait_until(TIME_LIMIT, || async {
            self.counter.results.load(Ordering::Relaxed) >= before + count
        })
        .await;
        assert!(counted, "{count} results called back within {TIME_LIMIT:?}");
        Round::new(count, started.elapsed(), common::cpu_time() - cpu)
    }

    async fn stop(self) {
        for executor in self.executors {
            executor.stop().await;
        }
        self.counter.server.abort();
    }
}

/// An admin stand-in that accepts registrations and callbacks of any generation and only counts results.
struct CountingAdmin {
    base: String,
    results: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl CountingAdmin {
    async fn start() -> CountingAdmin {
        let results = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route("/api/registry", post(|| async { success() }))
            .route("/api/registryRemove", post(|| async { success() }))
            .route("/api/callback", post(count_callback))
            .with_state(Arc::clone(&results));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CountingAdmin {
            base,
            results,
            server,
        }
    }
}

/// Counts the items of a callback body in either shape: a bare array (G1, G2) or `callbackList` (G3).
async fn count_callback(
    State(results): State<Arc<AtomicUsize>>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let items = match &value {
        serde_json::Value::Array(items) => items.len(),
        other => other["callbackList"].as_array().map_or(0, Vec::len),
    };
    results.fetch_add(items, Ordering::Relaxed);
    success()
}

fn success() -> ([(&'static str, &'static str); 1], String) {
    let envelope = Envelope::<String>::success();
    (
        [(CONTENT_TYPE.as_str(), "application/json")],
        serde_json::to_string(&envelope.encode(Side::Admin, Dialect::G3)).unwrap(),
    )
}

/// What the minimal executor saw of each `/run`: `logDateTime` (ms) and the arrival (µs), by wall clock.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(i64, i64)>>>);

/// A bench-only G3 executor: registers once, answers `/run` at once with success, and one task sends the
/// results back in batches of at most [`CALLBACK_BATCH`]. No job threads, no log files.
struct MinimalExecutor {
    address: String,
    server: JoinHandle<()>,
    sender: JoinHandle<()>,
}

#[derive(Clone)]
struct MinimalState {
    results: mpsc::UnboundedSender<CallbackItem>,
    recorder: Option<Recorder>,
    reply: Bytes,
}

impl MinimalExecutor {
    async fn start(admin: String, recorder: Option<Recorder>) -> MinimalExecutor {
        let (results, receiver) = mpsc::unbounded_channel();
        let reply =
            serde_json::to_vec(&Envelope::<String>::success().encode(Side::Executor, Dialect::G3)).unwrap();
        let state = MinimalState {
            results,
            recorder,
            reply: Bytes::from(reply),
        };
        let app = axum::Router::new()
            .route(ExecutorEndpoint::Trigger.path(Generation::G3), post(minimal_run))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let registry = post_json(
            &http,
            &format!("{admin}/api/registry"),
            serde_json::to_vec(&RegistryRequest::executor(APP, address.clone())).unwrap(),
        )
        .await;
        assert!(registry, "the admin accepted the registration");
        let sender = tokio::spawn(send_results(http, format!("{admin}/api/callback"), receiver));
        MinimalExecutor {
            address,
            server,
            sender,
        }
    }

    fn stop(self) {
        self.server.abort();
        self.sender.abort();
    }
}

async fn minimal_run(
    State(state): State<MinimalState>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Bytes) {
    let arrival = wall_micros();
    let request: RunRequest = serde_json::from_slice(&body).unwrap();
    if let Some(recorder) = &state.recorder {
        recorder.0.lock().unwrap().push((request.log_date_time, arrival));
    }
    let _ = state.results.send(CallbackItem {
        log_id: request.log_id,
        log_date_time: request.log_date_time,
        handle_code: 200,
        handle_msg: None,
    });
    ([(CONTENT_TYPE.as_str(), "application/json")], state.reply.clone())
}

/// Sends queued results, whatever has queued up to [`CALLBACK_BATCH`] per request, one request at a time;
/// a refused batch is sent again (a bench admin does not refuse, so the retries are bounded).
async fn send_results(
    http: reqwest::Client,
    url: String,
    mut receiver: mpsc::UnboundedReceiver<CallbackItem>,
) {
    let mut batch = Vec::with_capacity(CALLBACK_BATCH);
    while receiver.recv_many(&mut batch, CALLBACK_BATCH).await > 0 {
        let batch_len = batch.len();
        let body = serde_json::to_vec(
            &CallbackBody::new(Generation::G3, std::mem::take(&mut batch)).encode(Dialect::G3),
        )
        .unwrap();
        let mut sent = false;
        let items = batch_len;
        for _ in 0..50 {
            let started = Instant::now();
            let accepted = post_json(&http, &url, body.clone()).await;
            CALLBACK_STATS.record(items, started.elapsed());
            if accepted {
                sent = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(sent, "the admin accepted a callback");
    }
}

/// Callback requests of the minimal executors: count, results carried, time until the admin answered.
static CALLBACK_STATS: CallbackStats = CallbackStats {
    requests: AtomicUsize::new(0),
    results: AtomicUsize::new(0),
    micros: AtomicUsize::new(0),
};

struct CallbackStats {
    requests: AtomicUsize,
    results: AtomicUsize,
    micros: AtomicUsize,
}

impl CallbackStats {
    fn record(&self, results: usize, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.results.fetch_add(results, Ordering::Relaxed);
        self.micros
            .fetch_add(took.as_micros() as usize, Ordering::Relaxed);
    }

    /// Prints what [`CallbackStats::take`] returns, for the minimal executor (the SDK keeps its own).
    fn print(&self, kind: Kind, against: &str) {
        let (requests, results, millis) = self.take();
        if kind == Kind::Minimal {
            println!(
                "  {against}: {requests} callbacks of {results:.1} results, answered after {millis:.2} ms on average"
            );
        }
    }

    /// Requests, mean results per request and mean answer time (ms) since the last call; resets.
    fn take(&self) -> (usize, f64, f64) {
        let requests = self.requests.swap(0, Ordering::Relaxed).max(1);
        let results = self.results.swap(0, Ordering::Relaxed);
        let micros = self.micros.swap(0, Ordering::Relaxed);
        (
            requests,
            results as f64 / requests as f64,
            micros as f64 / requests as f64 / 1000.0,
        )
    }
}

/// Posts a JSON body with the executor's headers; whether the admin answered with success.
async fn post_json(http: &reqwest::Client, url: &str, body: Vec<u8>) -> bool {
    let Ok(response) = http
        .post(url)
        .header(CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .header(APP_NAME_HEADER, APP)
        .header(ACCESS_TOKEN_HEADER, TOKEN)
        .body(body)
        .send()
        .await
    else {
        return false;
    };
    let Ok(bytes) = response.bytes().await else {
        return false;
    };
    serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes).is_ok_and(|envelope| envelope.is_success())
}

struct Skew {
    trigger: Vec<i64>,
    arrival: Vec<i64>,
    completed_micros: i64,
}

/// Makes `jobs` jobs due at one whole second a few seconds ahead and waits for every result.
async fn skew_run(jobs: usize) -> Skew {
    let (rig, recorder) =
        AdminRig::start(Kind::Minimal, 1, jobs, Schedule::fix_rate(3600).unwrap(), true).await;
    let planned_ms = (wall_micros() / 1_000_000 + 8) * 1000;
    let updates: Vec<ScheduleUpdate> = rig
        .jobs
        .iter()
        .map(|id| ScheduleUpdate {
            id: *id,
            last_time: 0,
            next_time: planned_ms,
            status: TriggerStatus::Running,
        })
        .collect();
    rig.store.update_schedules(&updates).await.unwrap();
    let done = wait_until(TIME_LIMIT, || async {
        let (last, waiting) = rig.progress().await;
        last >= jobs as i64 && waiting == 0
    })
    .await;
    let completed_micros = wall_micros() - planned_ms * 1000;
    assert!(
        done,
        "{jobs} scheduled fires completed within {TIME_LIMIT:?}: {:?} (last log id, rows waiting), {} received",
        rig.progress().await,
        recorder.0.lock().unwrap().len()
    );
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen.len(), jobs, "every job fired once");
    rig.stop().await;
    Skew {
        trigger: seen
            .iter()
            .map(|(trigger, _)| (trigger - planned_ms) * 1000)
            .collect(),
        arrival: seen
            .iter()
            .map(|(_, arrival)| arrival - planned_ms * 1000)
            .collect(),
        completed_micros,
    }
}
