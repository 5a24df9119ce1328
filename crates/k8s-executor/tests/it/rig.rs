//! A Kubernetes executor wired like the ready executor: the SDK executor with `kubernetesJobHandler`, a
//! stand-in admin receiving callbacks, and a Kubernetes API: the stand-in, or the real cluster named by
//! `K8S_E2E_KUBECONFIG` (or the older `XJOB_TEST_KUBECONFIG`), in the namespace `K8S_E2E_NAMESPACE`
//! (default `default`). The target is chosen once per test binary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use xjob_executor::{Executor, ExecutorConfig, ExecutorHandle};
use xjob_k8s_executor::config::{ApiMode, Host, KubernetesConfig, Settings};
use xjob_k8s_executor::{HANDLER_NAME, KubernetesExecutor};
use xjob_k8s_standin::{Options, StandIn};
use xjob_protocol::{CallbackItem, Generation, TriggerRequest};
use xjob_test_support::{StandinAdmin, trigger_body, wait_until};

pub(crate) const TOKEN: &str = "k8s-token";
pub(crate) const APP: &str = "k8s-it";

/// The Kubernetes API the scenarios talk to.
pub(crate) enum Target {
    StandIn,
    Cluster { kubeconfig: PathBuf, namespace: String },
}

/// The target of this test binary, read once from the environment.
pub(crate) fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let kubeconfig = ["K8S_E2E_KUBECONFIG", "XJOB_TEST_KUBECONFIG"]
            .into_iter()
            .find_map(|name| std::env::var_os(name).filter(|value| !value.is_empty()));
        match kubeconfig {
            Some(kubeconfig) => Target::Cluster {
                kubeconfig: kubeconfig.into(),
                namespace: std::env::var("K8S_E2E_NAMESPACE")
                    .ok()
                    .filter(|value| !value.is_empty())
                    .unwrap_or_else(|| "default".to_owned()),
            },
            None => Target::StandIn,
        }
    })
}

pub(crate) fn on_cluster() -> bool {
    matches!(target(), Target::Cluster { .. })
}

/// How long a scenario waits for one observable step (a real cluster pulls images and schedules pods).
pub(crate) fn wait() -> Duration {
    if on_cluster() {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(30)
    }
}

/// Says once per test binary which Kubernetes API the scenarios run against.
pub(crate) fn note_cluster_mode() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| match target() {
        Target::StandIn => eprintln!(
            "Kubernetes scenarios run against the API stand-in (set K8S_E2E_KUBECONFIG to use a real cluster)"
        ),
        Target::Cluster {
            kubeconfig,
            namespace,
        } => eprintln!(
            "Kubernetes scenarios run against the cluster of {} in namespace {namespace}",
            kubeconfig.display()
        ),
    });
}

/// True (after one line saying so) when `scenario` cannot run here because it needs the stand-in's fault
/// injection or inspection; the scenario then returns.
pub(crate) fn needs_standin(scenario: &str) -> bool {
    note_cluster_mode();
    if on_cluster() {
        eprintln!("skipping {scenario} on a real cluster: needs the stand-in's fault injection");
    }
    on_cluster()
}

/// A log id not used by an earlier run, so object names (which carry it) never collide on a real cluster.
pub(crate) fn next_log_id() -> i64 {
    static BASE: OnceLock<i64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        i64::try_from(seconds % 1_000_000_000).unwrap() * 100_000
    });
    base + xjob_test_support::next_log_id()
}

pub(crate) struct Rig {
    standin: Option<StandIn>,
    /// A client of the target's API, shared by every executor of the rig and the scenario's own checks.
    client: kube::Client,
    pub(crate) admin: StandinAdmin,
    pub(crate) executor: Option<ExecutorHandle>,
    pub(crate) kubernetes: Option<KubernetesExecutor>,
    pub(crate) logs: tempfile::TempDir,
    pub(crate) config: String,
    /// The executor's instance id: its own per rig, so janitors of scenarios sharing a cluster never adopt
    /// each other's objects.
    instance: String,
}

/// The executor's settings for `config` (TOML keys of the `kubernetes` section) on this binary's target.
pub(crate) fn settings(config: &str, instance: &str) -> Settings {
    let mut config: KubernetesConfig = toml::from_str(config).unwrap();
    if let Target::Cluster {
        kubeconfig,
        namespace,
    } = target()
    {
        config.mode = ApiMode::Kubeconfig;
        config.kubeconfig = Some(kubeconfig.clone());
        config.default_namespace = Some(namespace.clone());
        config.startup_timeout = Duration::from_secs(120);
    }
    config
        .validate(&Host {
            in_cluster_namespace: None,
            host_name: instance.to_owned(),
        })
        .unwrap()
}

impl Rig {
    pub(crate) async fn start(config: &str) -> Rig {
        Rig::start_with(Options::default(), config).await
    }

    pub(crate) async fn start_with(options: Options, config: &str) -> Rig {
        static RIGS: AtomicU32 = AtomicU32::new(0);
        note_cluster_mode();
        let standin = match target() {
            Target::StandIn => Some(StandIn::start(options).await.unwrap()),
            Target::Cluster { .. } => None,
        };
        let instance = format!(
            "it-{}-{}",
            std::process::id(),
            RIGS.fetch_add(1, Ordering::Relaxed)
        );
        let client = match &standin {
            Some(standin) => standin.client().await.unwrap(),
            None => xjob_k8s_executor::api::connect(&settings(config, &instance).config, false)
                .await
                .unwrap(),
        };
        let admin = StandinAdmin::start(Generation::G3, Some(TOKEN), APP).await;
        let logs = tempfile::tempdir().unwrap();
        let mut rig = Rig {
            standin,
            client,
            admin,
            executor: None,
            kubernetes: None,
            logs,
            config: config.to_owned(),
            instance,
        };
        rig.start_executor().await;
        rig
    }

    /// (Re)starts the executor and the Kubernetes parts on the same log directory and instance id.
    pub(crate) async fn start_executor(&mut self) {
        let kubernetes = KubernetesExecutor::with_client(self.client(), self.settings()).await;
        let executor = Executor::builder(executor_config(&self.admin, self.logs.path()))
            .handler_arc(HANDLER_NAME, kubernetes.handler())
            .start()
            .await
            .unwrap();
        kubernetes.start_janitor(executor.reporter());
        self.executor = Some(executor);
        self.kubernetes = Some(kubernetes);
    }

    /// The stand-in, for scenarios that return early on a real cluster (see [`needs_standin`]).
    pub(crate) fn standin(&self) -> &StandIn {
        self.standin
            .as_ref()
            .expect("a stand-in scenario ran on a real cluster")
    }

    /// The stand-in when the scenarios run against it.
    pub(crate) fn standin_opt(&self) -> Option<&StandIn> {
        self.standin.as_ref()
    }

    pub(crate) fn settings(&self) -> Settings {
        settings(&self.config, &self.instance)
    }

    pub(crate) fn namespace(&self) -> &str {
        match target() {
            Target::StandIn => "default",
            Target::Cluster { namespace, .. } => namespace,
        }
    }

    /// A client of the target's API.
    pub(crate) fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client(), self.namespace())
    }

    /// The stored pod `name` as JSON, if it exists.
    pub(crate) async fn pod_json(&self, name: &str) -> Option<serde_json::Value> {
        let pod = self.pods().get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(pod).unwrap())
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
        let found = wait_until(wait(), || async { self.admin.callback_for(log_id).is_some() }).await;
        assert!(found, "no result for log {log_id} within {:?}", wait());
        self.admin.callback_for(log_id).unwrap()
    }

    pub(crate) fn log_file(&self, request: &TriggerRequest) -> PathBuf {
        log_file(self.logs.path(), request)
    }

    pub(crate) fn log_text(&self, request: &TriggerRequest) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_file(request)).unwrap_or_default()).into_owned()
    }

    /// Pods currently stored in the namespace, by name.
    pub(crate) async fn pod_names(&self) -> Vec<String> {
        let pods = self.pods();
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|pod| pod.metadata.name)
            .collect()
    }

    pub(crate) async fn wait_no_pod(&self, name: &str) -> bool {
        wait_until(wait(), || async {
            !self.pod_names().await.iter().any(|pod| pod == name)
        })
        .await
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
