//! A whole admin driving Python's pyxxl 0.4.8, an executor written by others for the G1/G2 protocol, unchanged:
//! it registers (and is recognised as G2, so it is called on `/run`), runs a job triggered through the job API
//! with a parameter and reports the result, shows its live log, and a long job is killed through the job API.
//! On every configured storage engine; skipped without `XJOB_TEST_PYXXL_PYTHON` (see
//! `xjob_test_support::pyxxl`).

use std::cell::RefCell;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use xjob_admin::config::{AdminConfig, Secret};
use xjob_admin::job_api::mint_token;
use xjob_admin::model::{GroupScope, JobLog, LogId};
use xjob_admin::store::Store;
use xjob_admin::{Admin, AdminHandle};
use xjob_protocol::Generation;
use xjob_test_support::db::{TestDatabase, engines};
use xjob_test_support::pyxxl::{ECHO_HANDLER, PyxxlExecutor, PyxxlSettings, SLEEP_HANDLER, python};
use xjob_test_support::{json_call, wait_until};

const APP_NAME: &str = "pyxxl-compat";
const GLOBAL_TOKEN: &str = "pyxxl-global-token";
/// Long enough for a cold Python start on a busy machine, short against the test's budget.
const WAIT: Duration = Duration::from_secs(15);

/// The job API as an API client sees it.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        json_call(&self.http, method, &url, Some(&self.token), body).await
    }

    async fn post(&self, path: &str, body: Value, expected: u16) -> Value {
        let (status, answer) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "POST {path}: {answer}");
        answer
    }

    /// Creates a BEAN job for `handler` in `group` (stopped; it only runs when triggered).
    async fn create_job(&self, group: i64, handler: &str) -> i64 {
        let job = json!({
            "jobGroup": group, "name": handler, "author": "compat", "scheduleType": "CRON",
            "scheduleConf": "0 0 3 * * ?", "executorHandler": handler, "executorRouteStrategy": "FIRST",
        });
        self.post("/api/v1/jobs", job, 201).await["id"].as_i64().unwrap()
    }

    /// Triggers `job` on `address` with `param`; the log id.
    async fn trigger(&self, job: i64, address: &str, param: &str) -> LogId {
        let body = json!({"executorParam": param, "addressList": [address]});
        let answer = self.post(&format!("/api/v1/jobs/{job}/trigger"), body, 200).await;
        LogId(answer["logIds"][0].as_i64().unwrap())
    }

    /// Polls the live log until it contains `text`; the last answer.
    async fn wait_for_log_text(&self, log: LogId, text: &str) -> Value {
        let path = format!("/api/v1/logs/{}/content?fromLine=1", log.0);
        let last = RefCell::new(Value::Null);
        let found = wait_until(WAIT, || {
            let request = self.call(reqwest::Method::GET, &path, None);
            let last = &last;
            async move {
                let (status, answer) = request.await;
                let found = status == 200 && answer["content"].as_str().unwrap_or_default().contains(text);
                *last.borrow_mut() = answer;
                found
            }
        })
        .await;
        let last = last.into_inner();
        assert!(found, "live log of {log:?} never showed {text:?}: {last}");
        last
    }
}

fn config(data_dir: &std::path::Path, database: &TestDatabase) -> AdminConfig {
    AdminConfig {
        port: 0,
        data_dir: Some(data_dir.to_owned()),
        database_url: Some(Secret::from(database.url().to_owned())),
        access_token: Some(Secret::from(GLOBAL_TOKEN.to_owned())),
        shutdown_grace: Duration::from_secs(5),
        ..AdminConfig::default()
    }
}

async fn wait_for_handle(store: &Store, log: LogId) -> JobLog {
    let last = RefCell::new(None);
    let done = wait_until(WAIT, || {
        let read = store.log(log);
        let last = &last;
        async move {
            let row = read.await.unwrap();
            let done = row.as_ref().is_some_and(|row| row.handle.code > 0);
            *last.borrow_mut() = row;
            done
        }
    })
    .await;
    let row = last.into_inner().unwrap();
    assert!(done, "no result for {log:?}: {row:?}");
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyxxl_registers_runs_jobs_and_is_killed_through_the_admin() {
    let Some(python) = python() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    for engine in engines() {
        let database = TestDatabase::create(engine).await;
        let home = tempfile::tempdir().unwrap();
        let admin = Admin::start(config(home.path(), &database)).await.unwrap();
        against_pyxxl(&admin, &python).await;
        admin.shutdown().await;
    }
}

async fn against_pyxxl(admin: &AdminHandle, python: &std::path::Path) {
    let context = admin.context();
    let store = &context.store;
    let api = Api {
        base: format!("http://{}", admin.addr()),
        token: mint_token(store, "pyxxl", GroupScope::All, None, Utc::now())
            .await
            .unwrap()
            .token,
        http: reqwest::Client::new(),
    };
    let group = api
        .post(
            "/api/v1/groups",
            json!({"appName": APP_NAME, "name": "pyxxl"}),
            201,
        )
        .await["id"]
        .as_i64()
        .unwrap();

    // pyxxl registers at upstream's 2.x/3.x path with the global token, unchanged.
    let pyxxl = PyxxlExecutor::start(
        python,
        &PyxxlSettings {
            admin_api: format!("http://{}/xxl-job-admin/api/", admin.addr()),
            app_name: APP_NAME.to_owned(),
            access_token: Some(GLOBAL_TOKEN.to_owned()),
        },
    )
    .await;
    let address = pyxxl.address().to_owned();
    let registration = RefCell::new(None);
    let registered = wait_until(WAIT, || {
        let live = store.live_registries(Utc::now() - chrono::Duration::seconds(90));
        let registration = &registration;
        let address = address.as_str();
        let generations = &context.generations;
        async move {
            let found = live
                .await
                .unwrap()
                .into_iter()
                .find(|row| row.key == APP_NAME && row.value == address);
            // The directory the pipeline reads is updated just after the row is written.
            let registered = found.is_some() && generations.get(address) == Generation::G2;
            *registration.borrow_mut() = found;
            registered
        }
    })
    .await;
    assert!(
        registered,
        "pyxxl never registered; its output:\n{}",
        pyxxl.output()
    );
    // It sends the global token, no AppName and no Accept-Charset: not G3, so G2, and calls go to `/run`.
    let registration = registration.into_inner().unwrap();
    assert_eq!(registration.generation, Some(Generation::G2), "{registration:?}");
    assert_eq!(context.generations.get(&address), Generation::G2);

    // A job with a parameter runs and reports success; the handler saw the parameter.
    let echo = api.create_job(group, ECHO_HANDLER).await;
    let log = api.trigger(echo, &address, "hello from xjob").await;
    let row = wait_for_handle(store, log).await;
    assert_eq!(
        row.trigger.code,
        200,
        "{:?}; pyxxl:\n{}",
        row.trigger,
        pyxxl.output()
    );
    assert_eq!(row.trigger.executor_address.as_deref(), Some(address.as_str()));
    assert_eq!(
        row.handle.code,
        200,
        "{:?}; pyxxl:\n{}",
        row.handle,
        pyxxl.output()
    );
    assert_eq!(row.handle.msg.as_deref(), Some("echo: hello from xjob"));
    assert_eq!(pyxxl.echoed(), vec![(log.0, "hello from xjob".to_owned())]);
    // pyxxl serves `/log` from its own files; the admin relays it.
    api.wait_for_log_text(log, "pyxxlEcho saw param: hello from xjob")
        .await;

    // A long job shows its live log while running and is killed through the job API.
    let sleeper = api.create_job(group, SLEEP_HANDLER).await;
    let log = api.trigger(sleeper, &address, "").await;
    // (pyxxl marks every page that reaches the end of its file `isEnd`, even while the job runs; the admin
    // passes that on as upstream's does, so no assertion on `end` here.)
    api.wait_for_log_text(log, "pyxxlSleep waits to be killed").await;
    let (status, killed) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/logs/{}/kill", log.0),
            None,
        )
        .await;
    assert_eq!(status, 200, "{killed}; pyxxl:\n{}", pyxxl.output());
    // pyxxl answers `/kill` only after the cancelled execution has reported itself (code 500,
    // "CancelledError"), so that first result is the one the log row keeps.
    let row = store.log(log).await.unwrap().unwrap();
    assert_eq!(
        (row.handle.code, row.handle.msg.as_deref()),
        (500, Some("CancelledError")),
        "{:?}",
        row.handle
    );
    // pyxxl cancelled the execution: the job's thread is idle again.
    let idle = reqwest::Client::new()
        .post(format!("{address}/idleBeat"))
        .body(json!({"jobId": sleeper}).to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let idle: Value = serde_json::from_str(&idle).unwrap();
    assert_eq!(idle["code"], json!(200), "{idle}");
}
