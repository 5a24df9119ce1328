//! End to end: a whole admin started with `Admin::start` on a fresh database of every configured engine
//! (the engines run side by side inside each test), real SDK executors registering with it over HTTP, jobs
//! created, started, triggered and killed through the job API, and the outcome read from the log rows and
//! from the calls the executors' handlers recorded.
//!
//! The admin runs with short background timings (see [`short_timings`]), which are ordinary settings.

mod outcomes;
mod planned;
mod routing;
mod schedules;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use xjob_admin::config::{AdminConfig, Secret};
use xjob_admin::job_api::mint_token;
use xjob_admin::model::{GroupScope, JobGroupId, JobId, JobLog, LogId};
use xjob_admin::store::{LogFilter, Page, Store};
use xjob_admin::{Admin, AdminHandle};
use xjob_executor::{Executor, ExecutorConfig, ExecutorHandle, JobContext, JobResult};
use xjob_test_support::db::{Engine, TestDatabase, engines};
use xjob_test_support::{json_call, wait_until};

/// The access token of the admin and of every group and executor.
pub(crate) const TOKEN: &str = "e2e-t0ken";
/// Longest wait for one observable outcome.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Runs `scenario` once per configured engine, all engines at the same time; a failure on any engine fails
/// the test (the others are aborted).
pub(crate) async fn on_every_engine<F, Fut>(scenario: F)
where
    F: Fn(Engine) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut running = JoinSet::new();
    for engine in engines() {
        running.spawn(scenario(engine));
    }
    while let Some(done) = running.join_next().await {
        if let Err(error) = done {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("scenario task failed: {error}"),
            }
        }
    }
}

/// The timings every end-to-end admin runs with: second-scale instead of upstream's minutes.
pub(crate) fn short_timings(config: &mut AdminConfig) {
    config.schedule_pre_read = Duration::from_secs(1);
    config.registry_beat_interval = Duration::from_secs(1);
    config.registry_dead_timeout = Duration::from_secs(4);
    config.lost_result_interval = Duration::from_secs(1);
    config.lost_result_timeout = Duration::from_secs(2);
    config.fail_monitor_interval = Duration::from_secs(1);
    config.shutdown_grace = Duration::from_secs(3);
}

/// The settings of an admin on `database_url`, on a free loopback port.
pub(crate) fn admin_config(database_url: &str) -> AdminConfig {
    let mut config = AdminConfig {
        port: 0,
        database_url: Some(Secret::from(database_url.to_owned())),
        database_pool_size: Some(8),
        // Not UTC, so the DATETIME conversions are exercised.
        time_zone: "Asia/Shanghai".parse().unwrap(),
        access_token: Some(Secret::from(TOKEN.to_owned())),
        ..AdminConfig::default()
    };
    short_timings(&mut config);
    config
}

/// A running admin on its own database, with a job-API token.
pub(crate) struct Rig {
    pub(crate) engine: Engine,
    /// Behind a lock only so the rig can be shared by the tasks of a scenario; it is taken only to stop.
    admin: Mutex<Option<AdminHandle>>,
    address: SocketAddr,
    store: Store,
    config: AdminConfig,
    api_token: String,
    http: reqwest::Client,
    _database: Option<TestDatabase>,
}

impl Rig {
    /// An admin on a fresh database of `engine`.
    pub(crate) async fn start(engine: Engine) -> Rig {
        let database = TestDatabase::create(engine).await;
        let mut rig = Rig::start_on(engine, admin_config(database.url())).await;
        rig._database = Some(database);
        rig
    }

    /// An admin with `config`.
    pub(crate) async fn start_on(engine: Engine, config: AdminConfig) -> Rig {
        let admin = Admin::start(config.clone())
            .await
            .unwrap_or_else(|error| panic!("{engine:?}: starting the admin: {error:#}"));
        let api_token = mint_token(
            &admin.context().store,
            "e2e",
            GroupScope::All,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .token;
        Rig {
            engine,
            address: admin.addr(),
            store: admin.context().store.clone(),
            admin: Mutex::new(Some(admin)),
            config,
            api_token,
            http: reqwest::Client::new(),
            _database: None,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The admin's base URL, as executors are configured with it.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// The admin's URL under upstream's `/xxl-job-admin` context path.
    pub(crate) fn context_path_url(&self) -> String {
        format!("http://{}/xxl-job-admin", self.address)
    }

    /// Stops the admin and starts it again on the same database and port; `between` runs on the
    /// database while no admin is running.
    pub(crate) async fn restart<F, Fut>(&mut self, between: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()>,
    {
        let admin = self
            .admin
            .get_mut()
            .unwrap()
            .take()
            .expect("the admin is running");
        self.config.port = self.address.port();
        admin.shutdown().await;
        let store = xjob_admin::app::open_store(&self.config).await.unwrap();
        between(store.clone()).await;
        store.close().await;
        let admin = Admin::start(self.config.clone())
            .await
            .unwrap_or_else(|error| panic!("{:?}: restarting the admin: {error:#}", self.engine));
        self.store = admin.context().store.clone();
        *self.admin.get_mut().unwrap() = Some(admin);
    }

    pub(crate) async fn shutdown(self) {
        if let Some(admin) = self.admin.into_inner().unwrap() {
            admin.shutdown().await;
        }
    }

    /// Calls the job API; returns the status and the JSON body (`Null` when empty).
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.address);
        json_call(&self.http, method, &url, Some(&self.api_token), body).await
    }

    /// Calls the job API and expects a 2xx answer.
    pub(crate) async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{:?}: {method} {path} answered {status}: {answer}",
            self.engine
        );
        answer
    }

    /// An automatic group (following registrations) for `app_name`, with the access token.
    pub(crate) async fn group(&self, app_name: &str) -> JobGroupId {
        let group = self
            .api(
                Method::POST,
                "/api/v1/groups",
                Some(json!({
                    "appName": app_name,
                    "name": app_name,
                    "addressType": "automatic",
                    "accessToken": TOKEN
                })),
            )
            .await;
        JobGroupId(group["id"].as_i64().unwrap() as i32)
    }

    /// A job in `group` running `handler`, never scheduled and routed FIRST unless `fields` say otherwise.
    pub(crate) async fn job(&self, group: JobGroupId, handler: &str, fields: Value) -> JobId {
        let mut body = json!({
            "jobGroup": group.0,
            "name": format!("{handler} job"),
            "author": "e2e",
            "scheduleType": "NONE",
            "executorHandler": handler,
            "executorRouteStrategy": "FIRST",
            "executorBlockStrategy": "SERIAL_EXECUTION"
        });
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        let job = self.api(Method::POST, "/api/v1/jobs", Some(body)).await;
        JobId(job["id"].as_i64().unwrap() as i32)
    }

    /// Starts scheduling a job; returns its first fire time (Unix ms).
    pub(crate) async fn start_job(&self, job: JobId) -> i64 {
        let view = self
            .api(Method::POST, &format!("/api/v1/jobs/{}/start", job.0), None)
            .await;
        view["triggerNextTime"].as_i64().unwrap()
    }

    pub(crate) async fn stop_job(&self, job: JobId) {
        self.api(Method::POST, &format!("/api/v1/jobs/{}/stop", job.0), None)
            .await;
    }

    /// Triggers a job now through the API; returns the log ids.
    pub(crate) async fn trigger(&self, job: JobId, param: Option<&str>) -> Vec<LogId> {
        let answer = self
            .api(
                Method::POST,
                &format!("/api/v1/jobs/{}/trigger", job.0),
                Some(json!({ "executorParam": param })),
            )
            .await;
        answer["logIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| LogId(id.as_i64().unwrap()))
            .collect()
    }

    /// The job's log rows, oldest first.
    pub(crate) async fn logs(&self, job: JobId) -> Vec<JobLog> {
        let filter = LogFilter {
            job_id: Some(job),
            ..LogFilter::default()
        };
        let page = Page {
            offset: 0,
            limit: 500,
        };
        let mut rows = self.store().logs_page(&filter, page).await.unwrap().rows;
        rows.sort_by_key(|log| log.id);
        rows
    }

    /// Waits until the job's rows satisfy `done`, and returns them.
    pub(crate) async fn logs_when(
        &self,
        job: JobId,
        what: &str,
        done: impl Fn(&[JobLog]) -> bool,
    ) -> Vec<JobLog> {
        let reached = wait_until(WAIT, || async { done(&self.logs(job).await) }).await;
        let rows = self.logs(job).await;
        assert!(
            reached,
            "{:?}: job {}: never {what}; rows: {rows:#?}",
            self.engine, job.0
        );
        rows
    }

    /// Waits until the row has its trigger result and its execution result, and returns it. Either may
    /// be stored first: a quick execution's callback can overtake the pipeline's batched trigger write.
    pub(crate) async fn finished(&self, id: LogId) -> JobLog {
        let reached = wait_until(WAIT, || async {
            self.store()
                .log(id)
                .await
                .unwrap()
                .is_some_and(|log| log.trigger.code != 0 && log.handle.code != 0)
        })
        .await;
        let log = self.store().log(id).await.unwrap().unwrap();
        assert!(
            reached,
            "{:?}: log {} never got a result: {log:#?}",
            self.engine, id.0
        );
        log
    }

    /// Waits until the group's address list is exactly `addresses` (in any order); returns it as stored,
    /// which is the order routing sees.
    pub(crate) async fn addresses_become(&self, group: JobGroupId, addresses: &[String]) -> Vec<String> {
        let mut expected = addresses.to_vec();
        expected.sort();
        let listed = || async {
            let group = self.store().group(group).await.unwrap().unwrap();
            let mut list: Vec<String> = group
                .address_list
                .unwrap_or_default()
                .split(',')
                .filter(|address| !address.is_empty())
                .map(str::to_owned)
                .collect();
            let stored = list.clone();
            list.sort();
            (list, stored)
        };
        let reached = wait_until(WAIT, || async { listed().await.0 == expected }).await;
        let (_, stored) = listed().await;
        assert!(
            reached,
            "{:?}: group {} lists {stored:?}, expected {expected:?}",
            self.engine, group.0
        );
        stored
    }
}

/// One call a node's handler received.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) node: String,
    pub(crate) log_id: i64,
    pub(crate) param: String,
    pub(crate) shard: (u32, u32),
    /// Wall-clock time the handler started, Unix ms.
    pub(crate) at_ms: i64,
    /// Set when the handler saw its cancellation: the reason, as debug text.
    pub(crate) cancelled: Option<String>,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// A real SDK executor registering with the admin, whose handlers record every call: `record` succeeds,
/// `fail` fails, `panic` panics, `sleep` waits for its cancellation (30 s at most) and reports success.
pub(crate) struct Node {
    handle: Option<ExecutorHandle>,
    address: String,
    calls: Calls,
    /// The runtime the executor runs on when it must be able to vanish without a word.
    runtime: Option<tokio::runtime::Runtime>,
    _logs: tempfile::TempDir,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

fn record(calls: &Calls, node: &str, context: &JobContext) -> usize {
    let mut calls = calls.lock().unwrap();
    calls.push(Call {
        node: node.to_owned(),
        log_id: context.log_id().0,
        param: context.param().to_owned(),
        shard: (context.shard_index(), context.shard_total()),
        at_ms: now_ms(),
        cancelled: None,
    });
    calls.len() - 1
}

impl Node {
    /// Starts one for `app_name`, registering with `admin_url` every second.
    pub(crate) async fn start(app_name: &str, admin_url: &str) -> Node {
        let (handle, calls, logs) = Node::build(app_name, admin_url).await;
        Node {
            address: handle.address().to_owned(),
            handle: Some(handle),
            calls,
            runtime: None,
            _logs: logs,
        }
    }

    /// Starts one on its own runtime, so [`Node::crash`] can make it vanish as a killed process does.
    pub(crate) async fn start_crashable(app_name: &str, admin_url: &str) -> Node {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (app_name, admin_url) = (app_name.to_owned(), admin_url.to_owned());
        let (handle, calls, logs) = runtime
            .spawn(async move { Node::build(&app_name, &admin_url).await })
            .await
            .unwrap();
        Node {
            address: handle.address().to_owned(),
            handle: Some(handle),
            calls,
            runtime: Some(runtime),
            _logs: logs,
        }
    }

    async fn build(app_name: &str, admin_url: &str) -> (ExecutorHandle, Calls, tempfile::TempDir) {
        let logs = tempfile::tempdir().unwrap();
        let mut config = ExecutorConfig::new(app_name, vec![admin_url.to_owned()], Some(TOKEN.to_owned()));
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.log_path = logs.path().to_owned();
        config.beat_interval = Duration::from_secs(1);
        config.shutdown_grace = Duration::from_millis(100);
        config.cancel_grace = Duration::from_secs(1);
        let calls: Calls = Arc::default();
        // The address is known only once the executor is bound; handlers read it from here.
        let address: Arc<Mutex<String>> = Arc::default();
        let handler = |name: &'static str| {
            let (calls, address) = (Arc::clone(&calls), Arc::clone(&address));
            move |context: JobContext| {
                let (calls, address) = (Arc::clone(&calls), Arc::clone(&address));
                async move {
                    let node = address.lock().unwrap().clone();
                    let index = record(&calls, &node, &context);
                    match name {
                        "fail" => JobResult::fail("failing on purpose"),
                        "panic" => panic!("panicking on purpose"),
                        "sleep" => {
                            let cancelled = context.cancelled();
                            tokio::select! {
                                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                                () = cancelled.cancelled() => {
                                    let reason = format!("{:?}", context.cancel_reason());
                                    calls.lock().unwrap()[index].cancelled = Some(reason);
                                }
                            }
                            JobResult::success()
                        }
                        _ => JobResult::success(),
                    }
                }
            }
        };
        let handle = Executor::builder(config)
            .handler_fn("record", handler("record"))
            .handler_fn("fail", handler("fail"))
            .handler_fn("panic", handler("panic"))
            .handler_fn("sleep", handler("sleep"))
            .start()
            .await
            .unwrap();
        *address.lock().unwrap() = handle.address().to_owned();
        (handle, calls, logs)
    }

    /// The address it registers.
    pub(crate) fn address(&self) -> String {
        self.address.clone()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until a handler ran for `log`, and returns the call.
    pub(crate) async fn call_for(&self, log: LogId) -> Call {
        let find = || self.calls().into_iter().find(|call| call.log_id == log.0);
        let ran = wait_until(WAIT, || async { find().is_some() }).await;
        assert!(ran, "executor {} never ran log {}", self.address, log.0);
        find().unwrap()
    }

    /// Ends it abruptly: no deregistration, no callback, connections dropped.
    pub(crate) fn crash(mut self) {
        let runtime = self.runtime.take().expect("started with start_crashable");
        runtime.shutdown_background();
        // Its tasks are gone; the handle only holds their remains.
        drop(self.handle.take());
    }

    pub(crate) async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Every call the nodes recorded, in log id order.
pub(crate) fn all_calls(nodes: &[Node]) -> Vec<Call> {
    let mut calls: Vec<Call> = nodes.iter().flat_map(Node::calls).collect();
    calls.sort_by_key(|call| call.log_id);
    calls
}

/// Stops every node.
pub(crate) async fn stop_all(nodes: Vec<Node>) {
    for node in nodes {
        node.stop().await;
    }
}
