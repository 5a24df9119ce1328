//! The admin with its built-in Kubernetes executor, composed by the binary's library, against the Kubernetes
//! API stand-in: the executor group is created, the mounted executor registers the admin's own address plus
//! the path prefix, a CRON job runs a pod whose output the job API shows through the executor endpoints, a
//! kill through the job API deletes the running pod, and shutdown deregisters. And the standalone executor
//! binary killed with SIGKILL mid-run, whose pod the deadline backstop ends.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use xjob_admin::config::{AdminConfig, Secret};
use xjob_admin::job_api::mint_token;
use xjob_admin::model::{AddressType, GroupScope, JobGroup};
use xjob_admin::registry::{GroupTokens, RegistryMonitor, RegistryOptions};
use xjob_admin::store::{Store, StoreOptions};
use xjob_admin::{AdminContext, AdminHandle};
use xjob_k8s_standin::{Options, Resource, StandIn};
use xjob_protocol::{Generation, TriggerRequest};
use xjob_test_support::{StandinAdmin, json_call, next_log_id, trigger_body, wait_until};

use crate::executor::{executor, registration};

const TOKEN: &str = "in-admin-token";
const APP: &str = "xxl-job-executor-kubernetes";
const WAIT: Duration = Duration::from_secs(60);

/// A Pod manifest running `script` with `sh -c`.
fn pod(name: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, {}]\n",
        serde_json::to_string(script).unwrap()
    )
}

/// The admin's job API on its own listener, with an administrator token.
struct JobApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl JobApi {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", self.base);
        json_call(&self.http, method, &url, Some(&self.token), body).await
    }

    async fn expect(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, body) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }

    /// The job's oldest log that has a result, once one has.
    async fn finished_log(&self, job_id: i64) -> Value {
        let found = std::sync::Mutex::new(Value::Null);
        let finished = wait_until(WAIT, || async {
            let page = self
                .expect("GET", &format!("/api/v1/logs?jobId={job_id}&limit=50"), None, 200)
                .await;
            let oldest = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .min_by_key(|log| log["id"].as_i64())
                .cloned();
            match oldest {
                Some(log) if log["handleCode"].as_i64() != Some(0) => {
                    *found.lock().unwrap() = log;
                    true
                }
                _ => false,
            }
        })
        .await;
        assert!(finished, "job {job_id} has no finished log within {WAIT:?}");
        found.into_inner().unwrap()
    }
}

fn config(dir: &Path, kubeconfig: &Path) -> AdminConfig {
    let mut config = AdminConfig {
        port: 0,
        data_dir: Some(dir.join("data")),
        access_token: Some(Secret::from(TOKEN.to_owned())),
        shutdown_grace: Duration::from_secs(10),
        ..AdminConfig::default()
    };
    let section = format!(
        "enabled = true\nmode = \"kubeconfig\"\nkubeconfig = {}\ninstance_id = \"admin-it\"\nkill_grace_period = 2\n",
        serde_json::to_string(kubeconfig.to_str().unwrap()).unwrap()
    );
    config.kubernetes = section.parse().unwrap();
    config
}

/// Runs registry-monitor passes until the group lists `address`, so the test need not wait for the
/// monitor's 30 s period.
async fn wait_for_address(context: &AdminContext, group: &JobGroup, address: &str) {
    let monitor = RegistryMonitor::new(
        context.store.clone(),
        context.generations.clone(),
        GroupTokens::new(),
        RegistryOptions::default(),
    );
    let listed = wait_until(WAIT, || async {
        monitor.pass(Utc::now()).await.unwrap();
        let group = context.store.group(group.id).await.unwrap().unwrap();
        group.address_list.as_deref() == Some(address)
    })
    .await;
    assert!(listed, "the group never listed {address}");
}

fn pods_of(standin: &StandIn, log_id: i64) -> Vec<Value> {
    standin
        .objects(Resource::Pods)
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"]["xxl-job/log-id"] == json!(log_id.to_string()))
        .collect()
}

#[tokio::test]
async fn in_admin_executor_runs_cron_pods_and_kills_through_the_job_api() {
    xjob_k8s_executor::api::install_crypto_provider();
    let standin = StandIn::start(Options::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    standin.write_kubeconfig(&kubeconfig).unwrap();
    let admin: AdminHandle = xjob::admin::start(config(dir.path(), &kubeconfig)).await.unwrap();
    let context = admin.context().clone();
    let address = format!("http://{}{}", admin.addr(), xjob::admin::DEFAULT_PATH_PREFIX);

    // The group exists from the start; the executor registered the admin's address plus the prefix.
    let group = context.store.group_by_app_name(APP).await.unwrap().unwrap();
    assert_eq!(
        (group.name.as_str(), group.address_type),
        (xjob::admin::GROUP_TITLE, AddressType::Automatic)
    );
    wait_for_address(&context, &group, &address).await;

    let api = JobApi {
        base: format!("http://{}", admin.addr()),
        token: mint_token(&context.store, "e2e", GroupScope::All, None, Utc::now())
            .await
            .unwrap()
            .token,
        http: reqwest::Client::new(),
    };

    // A CRON job: its first run's pod output reaches the admin's log view, and the run succeeds.
    let manifest = pod(
        "report",
        "echo first line; sleep 0.2; echo second line; sleep 0.2; echo third line",
    );
    let job = api
        .expect(
            "POST",
            "/api/v1/jobs",
            Some(json!({
                "jobGroup": group.id.0, "name": "pod report", "author": "ops",
                "scheduleType": "CRON", "scheduleConf": "*/2 * * * * ?",
                "glueType": "BEAN", "executorHandler": "kubernetesJobHandler", "executorParam": manifest,
                "executorRouteStrategy": "FIRST", "executorBlockStrategy": "SERIAL_EXECUTION",
            })),
            201,
        )
        .await;
    let job_id = job["id"].as_i64().unwrap();
    api.expect("POST", &format!("/api/v1/jobs/{job_id}/start"), None, 200)
        .await;
    let log = api.finished_log(job_id).await;
    api.expect("POST", &format!("/api/v1/jobs/{job_id}/stop"), None, 200)
        .await;
    assert_eq!(log["executorAddress"], json!(address), "{log}");
    assert_eq!(log["handleCode"], json!(200), "{log}");
    let log_id = log["id"].as_i64().unwrap();
    let content = api
        .expect("GET", &format!("/api/v1/logs/{log_id}/content"), None, 200)
        .await;
    let text = content["content"].as_str().unwrap();
    let lines = ["first line", "second line", "third line"];
    let positions: Vec<Option<usize>> = lines.iter().map(|line| text.find(line)).collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.is_sorted(),
        "pod output missing or out of order in:\n{text}"
    );
    assert!(
        wait_until(WAIT, || async { pods_of(&standin, log_id).is_empty() }).await,
        "the finished pod was not removed"
    );

    // A long-running pod, triggered by hand and killed through the job API.
    let sleeper = api
        .expect(
            "POST",
            "/api/v1/jobs",
            Some(json!({
                "jobGroup": group.id.0, "name": "pod sleeper", "author": "ops", "scheduleType": "NONE",
                "glueType": "BEAN", "executorHandler": "kubernetesJobHandler",
                "executorParam": pod("sleeper", "echo sleeping; sleep 300"),
                "executorRouteStrategy": "FIRST",
            })),
            201,
        )
        .await;
    let sleeper_id = sleeper["id"].as_i64().unwrap();
    api.expect(
        "POST",
        &format!("/api/v1/jobs/{sleeper_id}/trigger"),
        Some(json!({})),
        200,
    )
    .await;
    let log_id = std::sync::atomic::AtomicI64::new(0);
    let running = wait_until(WAIT, || async {
        let page = api
            .expect("GET", &format!("/api/v1/logs?jobId={sleeper_id}"), None, 200)
            .await;
        let Some(id) = page["items"][0]["id"].as_i64() else {
            return false;
        };
        log_id.store(id, std::sync::atomic::Ordering::Relaxed);
        pods_of(&standin, id)
            .iter()
            .any(|pod| pod["status"]["phase"] == json!("Running"))
    })
    .await;
    let log_id = log_id.into_inner();
    assert!(running, "the sleeper pod never ran");
    api.expect("POST", &format!("/api/v1/logs/{log_id}/kill"), None, 200)
        .await;
    assert!(
        wait_until(WAIT, || async { pods_of(&standin, log_id).is_empty() }).await,
        "the killed pod was not deleted"
    );
    let killed = api
        .expect("GET", &format!("/api/v1/logs/{log_id}"), None, 200)
        .await;
    assert_eq!(killed["handleCode"], json!(500), "{killed}");

    // Shutdown deregisters the built-in executor.
    let url = context.config.database_url().unwrap();
    let zone = context.config.time_zone;
    admin.shutdown().await;
    let store = Store::open(&StoreOptions {
        url,
        time_zone: zone,
        max_connections: Some(1),
    })
    .await
    .unwrap();
    let left = store
        .live_registries(Utc::now() - chrono::TimeDelta::minutes(5))
        .await
        .unwrap();
    assert!(
        left.iter().all(|registry| registry.value != address),
        "still registered: {left:?}"
    );
    store.close().await;
    standin.shutdown().await;
}

/// The ready executor `xjob executor --kubernetes` killed with SIGKILL while its pod runs: nothing deletes the
/// pod, so the stand-in ends it at the deadline backstop (`executorTimeout` + `deadline_margin`).
#[tokio::test]
async fn sigkilled_standalone_executor_leaves_the_pod_to_the_deadline_backstop() {
    xjob_k8s_executor::api::install_crypto_provider();
    let standin = StandIn::start(Options::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    standin.write_kubeconfig(&kubeconfig).unwrap();
    let app = "k8s-standalone";
    let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), app).await;
    let file = dir.path().join("executor.toml");
    std::fs::write(
        &file,
        format!(
            "app_name = \"{app}\"\naccess_token = \"{TOKEN}\"\n[kubernetes]\nmode = \"kubeconfig\"\nkubeconfig = {}\ninstance_id = \"crashing\"\ndeadline_margin = 1\n",
            serde_json::to_string(kubeconfig.to_str().unwrap()).unwrap()
        ),
    )
    .unwrap();
    let admin_url = admin.base_url();
    let mut child = executor(
        &dir.path().join("logs"),
        &[],
        &[
            "--kubernetes",
            "--config",
            file.to_str().unwrap(),
            "--admin",
            &admin_url,
        ],
    )
    .spawn()
    .unwrap();
    let (_, address) = registration(&admin).await;

    let log_id = next_log_id();
    let request: TriggerRequest = serde_json::from_value(trigger_body(
        1,
        log_id,
        json!({"executorHandler": "kubernetesJobHandler", "executorTimeout": 10,
            "executorParams": pod("stuck", "echo started; sleep 300")}),
    ))
    .unwrap();
    assert_eq!(admin.trigger(&address, &request).await.code(), 200);
    let name = format!("stuck-{log_id}");
    let phase = |standin: &StandIn| {
        standin
            .object(Resource::Pods, "default", &name)
            .map(|pod| pod["status"]["phase"].clone())
    };
    let running = wait_until(WAIT, || async { phase(&standin) == Some(json!("Running")) }).await;
    assert!(running, "the pod never ran");

    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGKILL).unwrap();
    let status = tokio::time::timeout(WAIT, child.wait()).await.unwrap().unwrap();
    assert!(!status.success(), "{status}");

    let ended = wait_until(WAIT, || async { phase(&standin) == Some(json!("Failed")) }).await;
    let pod = standin.object(Resource::Pods, "default", &name).unwrap();
    assert!(ended, "the pod outlived its deadline: {}", pod["status"]);
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], json!(11));
    assert_eq!(
        pod["status"]["reason"],
        json!("DeadlineExceeded"),
        "{}",
        pod["status"]
    );
    assert!(
        wait_until(WAIT, || async { standin.running_processes() == 0 }).await,
        "the container process outlived the pod"
    );
    assert!(
        admin.callback_for(log_id).is_none(),
        "a dead executor reported a result"
    );
    standin.shutdown().await;
}

/// Bad `[kubernetes]` settings given as flags stop `xjob admin` with one line naming the key.
#[tokio::test]
async fn bad_kubernetes_settings_stop_the_admin_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |flags: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xjob"))
            .arg("admin")
            .args(flags)
            .env_clear()
            .env("XJOB_ADMIN_DATA_DIR", dir.path())
            .env("XJOB_ADMIN_ACCESS_TOKEN", TOKEN)
            .env("XJOB_ADMIN_KUBERNETES_EXECUTOR", "true")
            .output()
            .unwrap()
    };
    let output = run(&["--port", "0", "--kubernetes-path-prefix", "k8s"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "xjob: invalid setting `kubernetes.path_prefix`: \"k8s\" must start with '/'\n"
    );
    let output = run(&["--port", "0", "--kubernetes-mode", "sideways"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("xjob: invalid setting `kubernetes`: ")
            && stderr.contains("sideways")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}
