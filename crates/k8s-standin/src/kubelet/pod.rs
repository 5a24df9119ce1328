//! One pod's life on the fake node: scheduling (or `FailedScheduling`), the initial node status, init
//! containers in order, app containers concurrently, and `activeDeadlineSeconds`. Running a single container
//! lives in `container`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::container::{ContainerKind, Outcome};
use super::{Control, PodRuntime, ProcessTable, UNSCHEDULABLE_LABEL, status};
use crate::cluster::{Cluster, EventSpec};
use crate::resource::Resource;
use crate::time;

pub(crate) struct PodContext {
    pub(crate) cluster: Cluster,
    pub(crate) runtime: Arc<PodRuntime>,
    pub(crate) processes: Arc<ProcessTable>,
    /// Scratch space of this pod: termination-message files and container home directories.
    pub(crate) workdir: PathBuf,
    pub(crate) pod_ip: String,
}

impl PodContext {
    pub(crate) async fn run(&self, pod: Value) {
        let shutdown = self.cluster.shutdown_token().clone();
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.lifecycle(pod) => {}
        }
        if let Err(error) = tokio::fs::remove_dir_all(&self.workdir).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::debug!(%error, "could not remove pod scratch directory");
        }
    }

    async fn lifecycle(&self, pod: Value) {
        let mut control = self.runtime.control();
        let Some(pod) = self.schedule(pod, &mut control).await else {
            return;
        };
        tokio::select! {
            _ = self.run_containers(&pod, control) => {}
            _ = self.enforce_deadline(&pod) => {}
        }
    }

    /// Writes a change to the pod (status, or `nodeName` at binding) and re-derives phase and conditions.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let runtime = &self.runtime;
        self.cluster.mutate(
            Resource::Pods,
            &runtime.namespace,
            &runtime.name,
            &runtime.uid,
            |pod| {
                change(pod);
                status::refresh(pod);
            },
        )
    }

    pub(crate) fn event(
        &self,
        pod: &Value,
        kind: &str,
        reason: &str,
        message: String,
        container: Option<&str>,
    ) {
        let field_path = container.map(|name| {
            let in_init = pod
                .pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter()
                        .any(|c| c.get("name").and_then(Value::as_str) == Some(name))
                });
            let list = if in_init { "initContainers" } else { "containers" };
            format!("spec.{list}{{{name}}}")
        });
        self.cluster.record_event(
            pod,
            EventSpec {
                kind,
                reason,
                message,
                field_path,
                component: "kubelet",
            },
        );
    }

    /// Binds the pod to the node and writes the node's first status. `None` when the pod cannot be scheduled
    /// (it then stays `Pending` until deleted) or was stopped meanwhile.
    async fn schedule(&self, pod: Value, control: &mut watch::Receiver<Control>) -> Option<Value> {
        let node = self.cluster.options().node_name.clone();
        if let Some(reason) = unschedulable(&pod, &node) {
            let message = format!(
                "0/1 nodes are available: 1 {reason}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            );
            let updated = self.cluster.mutate(
                Resource::Pods,
                &self.runtime.namespace,
                &self.runtime.name,
                &self.runtime.uid,
                |pod| {
                    status::set_condition(
                        &mut pod["status"],
                        "PodScheduled",
                        false,
                        Some("Unschedulable"),
                        Some(&message),
                    )
                },
            )?;
            self.cluster.record_event(
                &updated,
                EventSpec {
                    kind: "Warning",
                    reason: "FailedScheduling",
                    message,
                    field_path: None,
                    component: "default-scheduler",
                },
            );
            wait_for_stop(control).await;
            return None;
        }
        let bound = self.cluster.mutate(
            Resource::Pods,
            &self.runtime.namespace,
            &self.runtime.name,
            &self.runtime.uid,
            |pod| {
                pod["spec"]["nodeName"] = json!(node);
                status::set_condition(&mut pod["status"], "PodScheduled", true, None, None);
            },
        )?;
        let message = format!(
            "Successfully assigned {}/{} to {node}",
            self.runtime.namespace, self.runtime.name
        );
        self.cluster.record_event(
            &bound,
            EventSpec {
                kind: "Normal",
                reason: "Scheduled",
                message,
                field_path: None,
                component: "default-scheduler",
            },
        );
        if matches!(*control.borrow(), Control::Stop { .. }) {
            return None;
        }
        let has_init = bound
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty());
        let pod_ip = self.pod_ip.clone();
        self.update(|pod| {
            let init: Vec<Value> = containers(pod, "initContainers")
                .iter()
                .map(|c| status::waiting_status(c, "PodInitializing"))
                .collect();
            let app_reason = if has_init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            };
            let apps: Vec<Value> = containers(pod, "containers")
                .iter()
                .map(|c| status::waiting_status(c, app_reason))
                .collect();
            let status = &mut pod["status"];
            status["hostIP"] = json!("127.0.0.1");
            status["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
            status["podIP"] = json!(pod_ip);
            status["podIPs"] = json!([{"ip": pod_ip}]);
            status["startTime"] = json!(time::now_seconds());
            if !init.is_empty() {
                status["initContainerStatuses"] = json!(init);
            }
            status["containerStatuses"] = json!(apps);
            status::set_condition(status, "PodReadyToStartContainers", true, None, None);
            // Keep the real server's condition order: PodReadyToStartContainers, Initialized, Ready,
            // ContainersReady, PodScheduled.
            if let Some(conditions) = status["conditions"].as_array_mut() {
                conditions.sort_by_key(|c| match c.get("type").and_then(Value::as_str) {
                    Some("PodReadyToStartContainers") => 0,
                    Some("Initialized") => 1,
                    Some("Ready") => 2,
                    Some("ContainersReady") => 3,
                    _ => 4,
                });
            }
        })
    }

    async fn run_containers(&self, pod: &Value, control: watch::Receiver<Control>) {
        for (index, container) in containers(pod, "initContainers").iter().enumerate() {
            match self
                .run_container(pod, container, ContainerKind::Init(index), control.clone())
                .await
            {
                Outcome::Succeeded => {}
                Outcome::Failed | Outcome::Stopped => return,
            }
        }
        let apps = containers(pod, "containers");
        let runs = apps.iter().enumerate().map(|(index, container)| {
            self.run_container(pod, container, ContainerKind::App(index), control.clone())
        });
        futures::future::join_all(runs).await;
    }

    /// Fails the pod with `DeadlineExceeded` once it has been active for `activeDeadlineSeconds`, then stops
    /// its containers with the pod's grace period. Never completes on its own.
    async fn enforce_deadline(&self, pod: &Value) {
        let started = Utc::now();
        loop {
            let current = self
                .cluster
                .get(Resource::Pods, &self.runtime.namespace, &self.runtime.name)
                .ok();
            let deadline = current
                .as_ref()
                .unwrap_or(pod)
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_i64)
                .filter(|seconds| *seconds > 0);
            let Some(deadline) = deadline else {
                self.runtime.spec_changed.notified().await;
                continue;
            };
            let due = started + chrono::Duration::seconds(deadline);
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.runtime.spec_changed.notified() => continue,
            }
            let message = "Pod was active on the node longer than the specified deadline";
            if let Some(updated) = self.update(|pod| {
                pod["status"]["phase"] = json!("Failed");
                pod["status"]["reason"] = json!("DeadlineExceeded");
                pod["status"]["message"] = json!(message);
            }) {
                self.event(&updated, "Warning", "DeadlineExceeded", message.to_owned(), None);
            }
            let grace = pod
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(30);
            self.runtime.stop(Duration::from_secs(grace));
            std::future::pending::<()>().await;
        }
    }
}

pub(crate) fn containers(pod: &Value, list: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Waits until the pod is told to stop (or the control channel closes).
pub(crate) async fn wait_for_stop(control: &mut watch::Receiver<Control>) {
    // An error means the sender is gone, which also ends the pod.
    let _ = control.wait_for(|c| matches!(c, Control::Stop { .. })).await;
}

/// Why the fake node does not fit the pod's node selector, if it does not. The node carries the usual
/// well-known labels and nothing else.
fn unschedulable(pod: &Value, node: &str) -> Option<String> {
    let selector = pod.pointer("/spec/nodeSelector").and_then(Value::as_object)?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let node_labels = [
        ("kubernetes.io/hostname", node),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
    ];
    let fits = selector.iter().all(|(key, value)| {
        key != UNSCHEDULABLE_LABEL
            && node_labels
                .iter()
                .any(|(k, v)| k == key && Some(*v) == value.as_str())
    });
    (!fits).then(|| "node(s) didn't match Pod's node affinity/selector".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_selectors_against_the_fake_node() {
        let check =
            |selector: Value| unschedulable(&json!({"spec": {"nodeSelector": selector}}), "standin-node");
        assert_eq!(check(json!({})), None);
        assert_eq!(check(json!({"kubernetes.io/os": "linux"})), None);
        assert_eq!(check(json!({"kubernetes.io/hostname": "standin-node"})), None);
        assert!(check(json!({"kubernetes.io/os": "windows"})).is_some());
        assert!(check(json!({UNSCHEDULABLE_LABEL: "true"})).is_some());
        assert!(check(json!({"disk": "ssd"})).is_some());
        assert_eq!(unschedulable(&json!({"spec": {}}), "n"), None);
    }
}
