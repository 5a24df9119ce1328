//! Shared helpers: starting a stand-in with a client, manifests, and bounded polling.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::{Value, json};
use xjob_k8s_standin::{Options, StandIn};

pub(crate) const NAMESPACE: &str = "default";

/// A stand-in with a client for it.
pub(crate) struct Setup {
    pub(crate) standin: StandIn,
    pub(crate) client: kube::Client,
}

impl Setup {
    pub(crate) async fn start() -> Setup {
        Setup::with(Options::default()).await
    }

    pub(crate) async fn with(options: Options) -> Setup {
        let standin = StandIn::start(options).await.expect("stand-in starts");
        let client = standin.client().await.expect("client builds");
        Setup { standin, client }
    }

    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub(crate) fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// Waits until the pod satisfies `check`, returning it.
    pub(crate) async fn wait_pod(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        wait_object(&self.pods(), name, what, check).await
    }

    pub(crate) async fn wait_pod_gone(&self, name: &str) {
        let pods = self.pods();
        wait_until("pod removed", Duration::from_secs(20), || {
            let pods = pods.clone();
            async move { matches!(pods.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await;
    }

    pub(crate) async fn wait_job(&self, name: &str, what: &str, check: impl Fn(&Job) -> bool) -> Job {
        wait_object(&self.jobs(), name, what, check).await
    }
}

async fn wait_object<K>(api: &Api<K>, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_until(what, Duration::from_secs(30), || {
        let api = api.clone();
        let check = &check;
        async move {
            api.get_opt(name)
                .await
                .ok()
                .flatten()
                .filter(|object| check(object))
        }
    })
    .await
}

/// Polls `condition` every 50 ms until it yields a value, failing the test after `timeout`.
pub(crate) async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `restartPolicy: Never` pod running `script` with `sh -c`.
pub(crate) fn pod(name: &str, script: &str) -> Pod {
    typed(pod_json(name, script))
}

pub(crate) fn pod_json(name: &str, script: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"suite": "it"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}],
        },
    })
}

pub(crate) fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid manifest")
}

pub(crate) fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The main container's terminated state, once there is one.
pub(crate) fn terminated(
    pod: &Pod,
    container: &str,
) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .find(|s| s.name == container)?
        .state
        .as_ref()?
        .terminated
        .clone()
}

pub(crate) fn waiting_reason(pod: &Pod, container: &str) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .find(|s| s.name == container)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

pub(crate) fn is_running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|list| {
            list.iter()
                .all(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        })
}

/// The `Status` of a failed API call.
pub(crate) fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A scratch directory for files written by test processes.
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The events recorded about an object, as `reason: message` lines.
pub(crate) async fn events_for(client: &kube::Client, uid: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), NAMESPACE);
    let params = kube::api::ListParams::default().fields(&format!("involvedObject.uid={uid}"));
    events
        .list(&params)
        .await
        .expect("events list")
        .items
        .into_iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect()
}
