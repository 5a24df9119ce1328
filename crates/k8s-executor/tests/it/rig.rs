//! A Kubernetes executor wired like the ready executor: the SDK executor with `kubernetesJobHandler`, a
//! stand-in admin receiving callbacks, and the Kubernetes API stand-in (the real-cluster run, switched on by
//! `K8S_E2E_KUBECONFIG`, is the `cluster` module).

use std::path::{Path, PathBuf};
use std::time::Duration;

use xjob_executor::{Executor, ExecutorConfig, ExecutorHandle};
use xjob_k8s_executor::config::{Host, KubernetesConfig};
use xjob_k8s_executor::{HANDLER_NAME, KubernetesExecutor};
use xjob_k8s_standin::{Options, StandIn};
use xjob_protocol::{CallbackItem, Generation, TriggerRequest};
use xjob_test_support::{StandinAdmin, trigger_body, wait_until};

pub(crate) const TOKEN: &str = "k8s-token";
pub(crate) const APP: &str = "k8s-it";
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Rig {
    pub(crate) standin: StandIn,
    pub(crate) admin: StandinAdmin,
    pub(crate) executor: Option<ExecutorHandle>,
    pub(crate) kubernetes: Option<KubernetesExecutor>,
    pub(crate) logs: tempfile::TempDir,
    pub(crate) config: String,
}

/// Says once per test binary which scenarios need the stand-in (its fault injection has no counterpart on a
/// real cluster; the real-cluster run is the `cluster` module).
pub(crate) fn note_cluster_mode() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eprintln!("lifecycle scenarios run against the Kubernetes API stand-in");
    });
}

pub(crate) fn settings(config: &str) -> xjob_k8s_executor::config::Settings {
    let config: KubernetesConfig = toml::from_str(config).unwrap();
    config
        .validate(&Host {
            in_cluster_namespace: None,
            host_name: "it-instance".to_owned(),
        })
        .unwrap()
}

impl Rig {
    pub(crate) async fn start(config: &str) -> Rig {
        Rig::start_with(Options::default(), config).await
    }

    pub(crate) async fn start_with(options: Options, config: &str) -> Rig {
        note_cluster_mode();
        let standin = StandIn::start(options).await.unwrap();
        let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP).await;
        let logs = tempfile::tempdir().unwrap();
        let mut rig = Rig {
            standin,
            admin,
            executor: None,
            kubernetes: None,
            logs,
            config: config.to_owned(),
        };
        rig.start_executor().await;
        rig
    }

    /// (Re)starts the executor and the Kubernetes parts on the same log directory and instance id.
    pub(crate) async fn start_executor(&mut self) {
        let kubernetes =
            KubernetesExecutor::with_client(self.standin.client().await.unwrap(), settings(&self.config))
                .await;
        let executor = Executor::builder(executor_config(&self.admin, self.logs.path()))
            .handler_arc(HANDLER_NAME, kubernetes.handler())
            .start()
            .await
            .unwrap();
        kubernetes.start_janitor(executor.reporter());
        self.executor = Some(executor);
        self.kubernetes = Some(kubernetes);
    }

    pub(crate) async fn stop_executor(&mut self) {
        if let Some(executor) = self.executor.take() {
            executor.shutdown().await;
        }
        if let Some(kubernetes) = self.kubernetes.take() {
            kubernetes.shutdown().await;
        }
    }

    pub(crate) fn address(&self) -> String {
        self.executor.as_ref().unwrap().address().to_owned()
    }

    pub(crate) async fn trigger(&self, request: &TriggerRequest) {
        let reply = self.admin.trigger(&self.address(), request).await;
        assert_eq!(reply.code(), 200, "trigger refused: {:?}", reply.msg());
    }

    pub(crate) async fn result(&self, log_id: i64) -> CallbackItem {
        let found = wait_until(WAIT, || async { self.admin.callback_for(log_id).is_some() }).await;
        assert!(found, "no result for log {log_id} within {WAIT:?}");
        self.admin.callback_for(log_id).unwrap()
    }

    pub(crate) fn log_file(&self, request: &TriggerRequest) -> PathBuf {
        log_file(self.logs.path(), request)
    }

    pub(crate) fn log_text(&self, request: &TriggerRequest) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_file(request)).unwrap_or_default()).into_owned()
    }

    /// Pods currently stored by the stand-in, by name.
    pub(crate) fn pod_names(&self) -> Vec<String> {
        self.standin
            .objects(xjob_k8s_standin::Resource::Pods)
            .iter()
            .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    }

    pub(crate) async fn wait_no_pod(&self, name: &str) -> bool {
        wait_until(WAIT, || async { !self.pod_names().iter().any(|pod| pod == name) }).await
    }
}

pub(crate) fn executor_config(admin: &StandinAdmin, logs: &Path) -> ExecutorConfig {
    let mut config = ExecutorConfig::new(APP, vec![admin.base_url()], Some(TOKEN.to_owned()));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.log_path = logs.to_owned();
    config.beat_interval = Duration::from_millis(300);
    config.shutdown_grace = Duration::from_millis(100);
    config.admin_timeout = Duration::from_secs(2);
    config
}

/// A trigger of `kubernetesJobHandler` with `manifest` as its parameter.
pub(crate) fn trigger(job_id: i32, log_id: i64, manifest: &str, fields: serde_json::Value) -> TriggerRequest {
    let mut body = trigger_body(
        job_id,
        log_id,
        serde_json::json!({"executorHandler": HANDLER_NAME, "executorParams": manifest}),
    );
    if let Some(extra) = fields.as_object() {
        for (key, value) in extra {
            body[key] = value.clone();
        }
    }
    serde_json::from_value(body).unwrap()
}

pub(crate) fn log_file(root: &Path, request: &TriggerRequest) -> PathBuf {
    let date = chrono::DateTime::from_timestamp_millis(request.log_date_time)
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d")
        .to_string();
    root.join(date).join(format!("{}.log", request.log_id.0))
}

/// A Pod manifest running `script` with `sh -c`.
pub(crate) fn pod(name: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, {}]\n",
        serde_json::to_string(script).unwrap()
    )
}
