//! The executor-facing API over real HTTP on loopback: SDK executors of every generation registering and
//! reporting results, access checks, third-party request shapes, the registry monitor, lost results and
//! the coalescing of concurrent callbacks.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use xjob_admin::complete::{
    Completer, ExecutionResult, ResultSender, ResultWriter, ResultWriterHandle, ResultWriterOptions,
};
use xjob_admin::executor_api::{ExecutorApiConfig, ExecutorApiState, router};
use xjob_admin::model::{AddressType, AppName, JobGroupId, JobId, LogTrigger, NewJobGroup, NewJobLog};
use xjob_admin::registry::{
    GroupTokens, LOST_RESULT_MESSAGE, LostResultDetector, LostResultOptions, RegistryMonitor, RegistryOptions,
};
use xjob_admin::store::Store;
use xjob_admin::trigger::{ExecutorGenerations, TriggerQueue, TriggerRequest, TriggerType};
use xjob_executor::{AdminGenerationMode, Executor, ExecutorConfig, ExecutorHandle, JobResult};
use xjob_protocol::{ACCESS_TOKEN_HEADER, APP_NAME_HEADER, Generation, LogId};
use xjob_test_support::{trigger_body, wait_until};

use crate::results::running_log;
use crate::support::{each_store, new_job, now};

const GLOBAL_TOKEN: &str = "global-secret";
const GROUP_TOKEN: &str = "group-secret";
const WAIT: Duration = Duration::from_secs(15);

/// The executor API served on `127.0.0.1:0`, with its result writer and a real trigger queue.
struct TestAdmin {
    addr: SocketAddr,
    store: Store,
    generations: ExecutorGenerations,
    tokens: GroupTokens,
    triggers: mpsc::Receiver<TriggerRequest>,
    results: ResultSender,
    writer: ResultWriterHandle,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

impl TestAdmin {
    async fn start(store: Store, config: ExecutorApiConfig) -> TestAdmin {
        let (queue, triggers) = TriggerQueue::bounded(64);
        let (results, writer) = ResultWriter::start(
            Completer::new(store.clone(), queue),
            ResultWriterOptions::default(),
        );
        let generations = ExecutorGenerations::new(Generation::G3);
        let tokens = GroupTokens::new();
        let state = ExecutorApiState::new(
            store.clone(),
            config,
            generations.clone(),
            tokens.clone(),
            results.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        });
        TestAdmin {
            addr,
            store,
            generations,
            tokens,
            triggers,
            results,
            writer,
            stop,
            server,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn monitor(&self, generations: &ExecutorGenerations) -> RegistryMonitor {
        RegistryMonitor::new(
            self.store.clone(),
            generations.clone(),
            self.tokens.clone(),
            RegistryOptions::default(),
        )
    }

    /// POSTs `body` to `path` with `headers`; returns the reply as JSON.
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Value {
        let mut request = http().post(format!("{}{path}", self.base_url())).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server.await.unwrap();
        self.writer.shutdown().await;
    }
}

/// An HTTP client; reqwest is built without a default crypto provider, so the workspace's is installed.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn secured() -> ExecutorApiConfig {
    ExecutorApiConfig {
        access_token: Some(GLOBAL_TOKEN.into()),
        ..ExecutorApiConfig::default()
    }
}

fn open() -> ExecutorApiConfig {
    ExecutorApiConfig {
        allow_no_token: true,
        ..ExecutorApiConfig::default()
    }
}

async fn automatic_group(store: &Store, app_name: &str, token: Option<&str>) -> JobGroupId {
    store
        .insert_group(
            &NewJobGroup {
                app_name: AppName::new(app_name).unwrap(),
                name: app_name.to_owned(),
                address_type: AddressType::Automatic,
                address_list: None,
                access_token: token.map(str::to_owned),
            },
            now(),
        )
        .await
        .unwrap()
}

async fn sdk_executor(
    admin_base: String,
    app_name: &str,
    token: &str,
    generation: Generation,
    log_dir: &Path,
) -> ExecutorHandle {
    let mut config = ExecutorConfig::new(app_name, vec![admin_base], Some(token.to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = log_dir.join(app_name);
    config.admin_generation = AdminGenerationMode::Fixed(generation);
    config.beat_interval = Duration::from_secs(1);
    Executor::builder(config)
        .handler_fn("ok", |_| async { JobResult::success_with("done") })
        .handler_fn("fail", |_| async { JobResult::fail("bad input") })
        .start()
        .await
        .unwrap()
}

fn g3_headers<'a>(app_name: &'a str, token: &'a str) -> [(&'static str, &'a str); 3] {
    [
        (ACCESS_TOKEN_HEADER, token),
        (APP_NAME_HEADER, app_name),
        ("Accept-Charset", "UTF-8"),
    ]
}

#[tokio::test]
async fn sdk_executors_of_every_generation_register_and_deregister() {
    each_store(|store, _| async move {
        let groups = [
            automatic_group(&store, "g1-app", None).await,
            automatic_group(&store, "g2-app", None).await,
            automatic_group(&store, "g3-app", Some(GROUP_TOKEN)).await,
        ];
        let admin = TestAdmin::start(store.clone(), secured()).await;
        let logs = tempfile::tempdir().unwrap();
        let base = admin.base_url();
        let executors = [
            // G1 executors were configured with the old context path.
            sdk_executor(
                format!("{base}/xxl-job-admin"),
                "g1-app",
                GLOBAL_TOKEN,
                Generation::G1,
                logs.path(),
            )
            .await,
            sdk_executor(
                format!("{base}/"),
                "g2-app",
                GLOBAL_TOKEN,
                Generation::G2,
                logs.path(),
            )
            .await,
            sdk_executor(base.clone(), "g3-app", GROUP_TOKEN, Generation::G3, logs.path()).await,
        ];
        let expected: Vec<(String, Option<Generation>)> = executors
            .iter()
            .zip(Generation::ALL)
            .map(|(executor, generation)| (executor.address().to_owned(), Some(generation)))
            .collect();
        let registered = || async {
            let mut live: Vec<(String, Option<Generation>)> = store
                .live_registries(Utc::now() - TimeDelta::seconds(90))
                .await
                .unwrap()
                .into_iter()
                .map(|registry| (registry.value, registry.generation))
                .collect();
            live.sort_by_key(|(_, generation)| *generation);
            live
        };
        assert!(
            wait_until(WAIT, || async { registered().await == expected }).await,
            "registrations {:?}",
            registered().await
        );
        for (address, generation) in &expected {
            assert_eq!(Some(admin.generations.get(address)), *generation, "{address}");
        }

        // Another admin of the cluster learns the addresses and generations from the table.
        let elsewhere = ExecutorGenerations::new(Generation::G3);
        admin.monitor(&elsewhere).pass(Utc::now()).await.unwrap();
        for ((group, (address, generation)), app_name) in
            groups.iter().zip(&expected).zip(["g1-app", "g2-app", "g3-app"])
        {
            let stored = store.group(*group).await.unwrap().unwrap();
            assert_eq!(
                stored.address_list.as_deref(),
                Some(address.as_str()),
                "{app_name}"
            );
            assert_eq!(Some(elsewhere.get(address)), *generation, "{app_name}");
        }

        // Shutting down sends registryRemove.
        for executor in executors {
            executor.shutdown().await;
        }
        assert!(
            wait_until(WAIT, || async { registered().await.is_empty() }).await,
            "registrations left {:?}",
            registered().await
        );
        admin.monitor(&elsewhere).pass(Utc::now()).await.unwrap();
        assert_eq!(store.group(groups[0]).await.unwrap().unwrap().address_list, None);
        admin.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sdk_callbacks_complete_logs_and_fire_children_only_on_success() {
    each_store(|store, _| async move {
        let group = automatic_group(&store, "g3-app", Some(GROUP_TOKEN)).await;
        let child = store.insert_job(&new_job(group, "child"), now()).await.unwrap();
        let mut parent = new_job(group, "parent");
        parent.settings.child_job_id = Some(format!("{},abc", child.0));
        let parent = store.insert_job(&parent, now()).await.unwrap();
        let logs = [
            running_log_of(&store, group, parent).await,
            running_log_of(&store, group, parent).await,
        ];
        let mut admin = TestAdmin::start(store.clone(), secured()).await;
        let directory = tempfile::tempdir().unwrap();
        let executor = sdk_executor(admin.base_url(), "g3-app", GROUP_TOKEN, Generation::G3, directory.path()).await;

        for (log, handler) in logs.iter().zip(["ok", "fail"]) {
            let body = trigger_body(parent.0, log.0, json!({ "executorHandler": handler }));
            let response = http()
                .post(format!("{}trigger", executor.address()))
                .header(ACCESS_TOKEN_HEADER, GROUP_TOKEN)
                .header(APP_NAME_HEADER, "g3-app")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let reply: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(reply["code"], 200, "{reply}");
        }
        let finished = || async {
            let mut codes = Vec::new();
            for log in logs {
                codes.push(store.log(log).await.unwrap().unwrap().handle.code);
            }
            codes
        };
        assert!(
            wait_until(WAIT, || async { finished().await == [200, 500] }).await,
            "handle codes {:?}",
            finished().await
        );
        let success = store.log(logs[0]).await.unwrap().unwrap().handle.msg.unwrap();
        assert!(success.starts_with("done<br><br>"), "{success}");
        assert!(
            success.contains(&format!("Child 1/2 [job {}]: trigger submitted", child.0)),
            "{success}"
        );
        assert!(
            success.contains("Child 2/2 [job abc]: not triggered"),
            "{success}"
        );
        let failure = store.log(logs[1]).await.unwrap().unwrap().handle.msg.unwrap();
        assert!(failure.contains("bad input") && !failure.contains("Child"), "{failure}");

        let request = tokio::time::timeout(WAIT, admin.triggers.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((request.job_id, request.trigger_type), (child, TriggerType::Parent));
        assert_eq!(request.fail_retry_count, None);

        // A repeated callback for the finished log changes nothing and fires nothing.
        let repeat = json!({"callbackList": [{"logId": logs[0].0, "logDateTime": 1, "handleCode": 500, "handleMsg": "again"}]});
        let reply = admin
            .post("/api/callback", &g3_headers("g3-app", GROUP_TOKEN), repeat.to_string())
            .await;
        assert_eq!(reply["code"], 200, "{reply}");
        assert_eq!(store.log(logs[0]).await.unwrap().unwrap().handle.code, 200);
        executor.shutdown().await;
        assert!(admin.triggers.try_recv().is_err(), "only one child trigger");
        admin.stop().await;
    })
    .await;
}

async fn running_log_of(store: &Store, group: JobGroupId, job: JobId) -> LogId {
    let id = store
        .insert_log(&NewJobLog {
            job_group: group,
            job_id: job,
            trigger_time: now(),
        })
        .await
        .unwrap();
    let trigger = LogTrigger {
        code: 200,
        ..LogTrigger::default()
    };
    store.update_log_trigger(id, &trigger).await.unwrap();
    id
}

/// (headers, expected code, expected message)
type Credentials = (&'static [(&'static str, &'static str)], i64, &'static str);

#[tokio::test]
async fn credentials_are_checked_per_generation() {
    each_store(|store, _| async move {
        automatic_group(&store, "g3-app", Some(GROUP_TOKEN)).await;
        let admin = TestAdmin::start(store.clone(), secured()).await;
        let body =
            r#"{"registryGroup":"EXECUTOR","registryKey":"g3-app","registryValue":"http://127.0.0.1:9/"}"#;
        let table: &[Credentials] = &[
            (&[], 500, "The access token is wrong."),
            (
                &[(ACCESS_TOKEN_HEADER, "nope")],
                500,
                "The access token is wrong.",
            ),
            (&[(ACCESS_TOKEN_HEADER, GLOBAL_TOKEN)], 200, "Success"),
            (
                &[(ACCESS_TOKEN_HEADER, "nope"), (APP_NAME_HEADER, "g3-app")],
                500,
                "invalid request, accessToken or appname invalid.",
            ),
            (
                &[(APP_NAME_HEADER, "g3-app")],
                500,
                "invalid request, accessToken or appname is empty.",
            ),
            (
                &[(ACCESS_TOKEN_HEADER, GROUP_TOKEN), (APP_NAME_HEADER, "other-app")],
                500,
                "invalid request, accessToken or appname invalid.",
            ),
            (
                &[(ACCESS_TOKEN_HEADER, GROUP_TOKEN), (APP_NAME_HEADER, "g3-app")],
                200,
                "Success",
            ),
        ];
        for (headers, code, msg) in table {
            for path in ["/api/registry", "/api/callback"] {
                let body = if path.ends_with("callback") { "[]" } else { body };
                let reply = admin.post(path, headers, body).await;
                assert_eq!(reply["code"], *code, "{path} {headers:?}: {reply}");
                assert_eq!(reply["msg"], *msg, "{path} {headers:?}: {reply}");
            }
        }
        let registered = store
            .live_registries(Utc::now() - TimeDelta::seconds(90))
            .await
            .unwrap();
        assert_eq!(registered.len(), 1);
        let reply = admin
            .post("/api/registryRemove", &g3_headers("g3-app", GROUP_TOKEN), body)
            .await;
        assert_eq!(reply["code"], 200, "{reply}");
        assert!(
            store
                .live_registries(Utc::now() - TimeDelta::seconds(90))
                .await
                .unwrap()
                .is_empty()
        );
        admin.stop().await;

        // No token configured and no insecure switch: only executors of a group with a token get in.
        let closed = TestAdmin::start(store.clone(), ExecutorApiConfig::default()).await;
        let reply = closed.post("/api/registry", &[], body).await;
        assert_eq!(reply["msg"], "The access token is wrong.", "{reply}");
        let reply = closed
            .post("/api/registry", &g3_headers("g3-app", GROUP_TOKEN), body)
            .await;
        assert_eq!(reply["code"], 200, "{reply}");
        closed.stop().await;
        let insecure = TestAdmin::start(store.clone(), open()).await;
        let reply = insecure.post("/api/registry", &[], body).await;
        assert_eq!(reply["code"], 200, "{reply}");
        insecure.stop().await;
    })
    .await;
}

#[tokio::test]
async fn third_party_request_shapes_are_accepted() {
    each_store(|store, _| async move {
        let config = ExecutorApiConfig {
            max_body_bytes: 64 * 1024,
            ..open()
        };
        let admin = TestAdmin::start(store.clone(), config).await;
        let json_utf8 = ("Content-Type", "application/json; charset=utf-8");
        let g1 = ("Accept-Charset", "application/json;charset=UTF-8");
        let g2 = ("Accept-Charset", "UTF-8");
        let registration = r#"{"registryGroup":"EXECUTOR","registryKey":"py-app","registryValue":"http://10.0.0.7:9999","extra":{"a":[1]}}"#;

        // Each generation gets the envelope it parses.
        let reply = admin.post("/api/registry", &[json_utf8, g1], registration).await;
        assert_eq!(reply, json!({"code": 200, "msg": null, "content": null}));
        let reply = admin.post("/xxl-job-admin/api/registry", &[g2], registration).await;
        assert_eq!(reply, json!({"code": 200, "msg": "Success", "data": null, "success": true}));
        // No charset hint and no AppName header (Python's pyxxl sends neither): not G3, so G2.
        let reply = admin.post("/api/registry", &[json_utf8], registration).await;
        assert_eq!(reply, json!({"code": 200, "msg": "Success", "data": null, "success": true}));
        let live = store.live_registries(Utc::now() - TimeDelta::seconds(90)).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].value, "http://10.0.0.7:9999");
        assert_eq!(live[0].generation, Some(Generation::G2));

        // Callbacks: bare array with null message and the old date spelling, and the G3 object.
        let array_log = running_log(&store, 1).await;
        let object_log = running_log(&store, 1).await;
        let array = format!(
            r#"[{{"logId":{},"logDateTim":1781856000000,"handleCode":200,"handleMsg":null,"executorExtra":true}}]"#,
            array_log.0
        );
        let reply = admin.post("/api/callback", &[json_utf8, g2], array).await;
        assert_eq!(reply["code"], 200, "{reply}");
        let object = format!(
            r#"{{"callbackList":[{{"logId":{},"logDateTime":1,"handleCode":502,"handleMsg":"job execute timeout "}}]}}"#,
            object_log.0
        );
        let reply = admin.post("/xxl-job-admin/api/callback", &[], object).await;
        assert_eq!(reply, json!({"code": 200, "msg": "Success", "data": null, "success": true}));
        let array_row = store.log(array_log).await.unwrap().unwrap();
        assert_eq!((array_row.handle.code, array_row.handle.msg), (200, None));
        let object_row = store.log(object_log).await.unwrap().unwrap();
        assert_eq!(object_row.handle.code, 502);
        assert_eq!(object_row.handle.msg.as_deref(), Some("job execute timeout "));

        // What cannot be served gets a failure envelope, never a panic or a non-200 status.
        let failures: &[(&str, String, &str)] = &[
            ("/api/registry", "{not json".into(), "openapi invoke error: "),
            ("/api/callback", r#"{"callbackList":{}}"#.into(), "openapi invoke error: "),
            ("/api/callback", r#"[{"logId":"x"}]"#.into(), "openapi invoke error: "),
            (
                "/api/registry",
                r#"{"registryGroup":"EXECUTOR","registryKey":" ","registryValue":"http://a/"}"#.into(),
                "Illegal Argument.",
            ),
            ("/api/registryRemove", r#"{"registryKey":"a"}"#.into(), "Illegal Argument."),
            ("/api/registry", "  ".into(), "invalid request, requestBody empty."),
            ("/api/callback", "x".repeat(65 * 1024), "openapi invoke error: request body larger than"),
        ];
        for (path, body, msg) in failures {
            let reply = admin.post(path, &[g2], body.clone()).await;
            assert_eq!(reply["code"], 500, "{path} {reply}");
            let text = reply["msg"].as_str().unwrap();
            assert!(text.starts_with(msg), "{path}: {text}");
        }
        let response = http()
            .get(format!("{}/api/registry", admin.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let reply: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply["msg"], "invalid request, HttpMethod not support.");
        admin.stop().await;
    })
    .await;
}

#[tokio::test]
async fn lost_results_are_recorded_as_failed() {
    each_store(|store, _| async move {
        let old = now() - TimeDelta::minutes(11);
        let mut logs = Vec::new();
        for (address, triggered) in [
            ("http://gone:9999/", old),
            ("http://alive:9999/", old),
            ("http://gone:9999/", now() - TimeDelta::minutes(1)),
        ] {
            let id = store
                .insert_log(&NewJobLog {
                    job_group: JobGroupId(1),
                    job_id: JobId(1),
                    trigger_time: triggered,
                })
                .await
                .unwrap();
            let trigger = LogTrigger {
                executor_address: Some(address.into()),
                code: 200,
                ..LogTrigger::default()
            };
            store.update_log_trigger(id, &trigger).await.unwrap();
            logs.push(id);
        }
        store
            .upsert_registry("EXECUTOR", "app", "http://alive:9999/", now())
            .await
            .unwrap();
        let (queue, _triggers) = TriggerQueue::bounded(4);
        let detector =
            LostResultDetector::new(Completer::new(store.clone(), queue), LostResultOptions::default());
        let completed = detector.pass(now()).await.unwrap();
        assert_eq!(completed.written, [logs[0]]);
        let lost = store.log(logs[0]).await.unwrap().unwrap();
        assert_eq!(lost.handle.code, 500);
        assert_eq!(lost.handle.msg.as_deref(), Some(LOST_RESULT_MESSAGE));
        assert_eq!(lost.handle.time, Some(now()));
        for id in &logs[1..] {
            assert_eq!(store.log(*id).await.unwrap().unwrap().handle.code, 0);
        }
        assert!(detector.pass(now()).await.unwrap().written.is_empty());
    })
    .await;
}

#[tokio::test]
async fn monitor_loop_maintains_groups_and_concurrent_results_share_transactions() {
    each_store(|store, _| async move {
        let group = automatic_group(&store, "loop-app", None).await;
        let admin = TestAdmin::start(store.clone(), open()).await;
        let registration =
            r#"{"registryGroup":"EXECUTOR","registryKey":"loop-app","registryValue":"http://b:1/"}"#;
        admin.post("/api/registry", &[], registration).await;
        admin
            .post(
                "/api/registry",
                &[],
                registration.replace("http://b:1/", "http://a:1/"),
            )
            .await;
        let monitor = RegistryMonitor::new(
            store.clone(),
            admin.generations.clone(),
            admin.tokens.clone(),
            RegistryOptions {
                period: Duration::from_millis(100),
                ..RegistryOptions::default()
            },
        )
        .start();
        let addresses = || async { store.group(group).await.unwrap().unwrap().address_list };
        assert!(
            wait_until(WAIT, || async {
                addresses().await.as_deref() == Some("http://a:1/,http://b:1/")
            })
            .await,
            "{:?}",
            addresses().await
        );
        monitor.shutdown().await;

        // A hundred requests queued at once go into one transaction, and every one is answered.
        let mut logs = Vec::new();
        for _ in 0..1000 {
            logs.push(running_log(&store, 3).await);
        }
        let before = admin.results.stats();
        let writes = logs.chunks(10).map(|chunk| {
            let results = chunk
                .iter()
                .map(|log| ExecutionResult {
                    log_id: *log,
                    code: 200,
                    msg: None,
                })
                .collect();
            admin.results.write(results)
        });
        for outcome in futures_join_all(writes).await {
            outcome.unwrap();
        }
        let after = admin.results.stats();
        assert_eq!(after.requests - before.requests, 100);
        assert_eq!(after.results - before.results, 1000);
        assert_eq!(after.batches - before.batches, 1, "{after:?}");
        for log in logs.iter().step_by(97) {
            assert_eq!(store.log(*log).await.unwrap().unwrap().handle.code, 200);
        }
        admin.stop().await;
    })
    .await;
}

/// Polls every future in one task, so all of them are queued before the writer runs (the test runtime has
/// one thread).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|output| output.unwrap()).collect()
}
