//! The fake kubelet: runs every scheduled pod's containers as local processes (one process group each) and
//! keeps the pod's status, events and logs the way a node would. This module holds the registry of pods on
//! the node and the process table used to kill everything on shutdown; `pod` drives one pod, `container` one
//! container, `status` and `env` are the pure parts.

mod container;
mod env;
mod pod;
mod status;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::cluster::{Cluster, EventSpec, uid_of};
use crate::logs::LogBuffer;
use crate::resource::Resource;
use crate::status::ApiError;

/// The environment variable holding the host path a container may write its termination message to (the
/// container's `terminationMessagePath` names a path inside a container that does not exist here).
pub const TERMINATION_MESSAGE_ENV: &str = "STANDIN_TERMINATION_MESSAGE_PATH";

/// Label key that no pod can be scheduled with: a node selector naming it leaves the pod `Pending`.
pub const UNSCHEDULABLE_LABEL: &str = "xjob.test/unschedulable";

/// Every pod on the node and every live process group.
pub(crate) struct Kubelet {
    pods: Mutex<HashMap<String, Arc<PodRuntime>>>,
    processes: Arc<ProcessTable>,
    workdir: PathBuf,
    next_ip: AtomicU32,
}

/// One pod on the node: how to stop it, whether its containers may still run, and its logs.
pub(crate) struct PodRuntime {
    pub(crate) uid: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    control: watch::Sender<Control>,
    running: AtomicBool,
    logs: Mutex<HashMap<String, ContainerLogs>>,
    spec_changed: Notify,
}

/// The log buffers of one container: the current run and the one before the last restart.
#[derive(Clone, Default)]
pub(crate) struct ContainerLogs {
    pub(crate) current: Option<Arc<LogBuffer>>,
    pub(crate) previous: Option<Arc<LogBuffer>>,
}

/// What the pod's containers should do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Control {
    Run,
    /// Stop: `SIGTERM` now, `SIGKILL` at `kill_at`.
    Stop {
        kill_at: Instant,
    },
}

/// Process groups started by the kubelet and not yet reaped.
#[derive(Default)]
pub(crate) struct ProcessTable {
    groups: Mutex<HashSet<i32>>,
}

impl ProcessTable {
    fn groups(&self) -> MutexGuard<'_, HashSet<i32>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register(&self, group: i32) {
        self.groups().insert(group);
    }

    pub(crate) fn unregister(&self, group: i32) {
        self.groups().remove(&group);
    }

    pub(crate) fn len(&self) -> usize {
        self.groups().len()
    }

    pub(crate) fn kill_all(&self) {
        for group in self.groups().iter() {
            signal_group(*group, Signal::SIGKILL);
        }
    }
}

/// Sends a signal to a process group; a group that is already gone is not an error.
pub(crate) fn signal_group(group: i32, signal: Signal) {
    if let Err(error) = killpg(Pid::from_raw(group), signal)
        && error != nix::errno::Errno::ESRCH
    {
        tracing::warn!(group, ?signal, %error, "could not signal process group");
    }
}

impl PodRuntime {
    fn logs(&self) -> MutexGuard<'_, HashMap<String, ContainerLogs>> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a new log buffer for a container run, keeping the previous one for `previous=true`.
    pub(crate) fn new_run(&self, container: &str, limit: usize) -> Arc<LogBuffer> {
        let buffer = Arc::new(LogBuffer::new(limit));
        let mut logs = self.logs();
        let entry = logs.entry(container.to_owned()).or_default();
        entry.previous = entry.current.take();
        entry.current = Some(buffer.clone());
        buffer
    }

    pub(crate) fn control(&self) -> watch::Receiver<Control> {
        self.control.subscribe()
    }

    /// Asks the containers to stop within `grace`; an earlier kill time already requested wins.
    pub(crate) fn stop(&self, grace: Duration) {
        let kill_at = Instant::now() + grace;
        self.control.send_if_modified(|control| match control {
            Control::Stop { kill_at: existing } if *existing <= kill_at => false,
            _ => {
                *control = Control::Stop { kill_at };
                true
            }
        });
    }
}

impl Kubelet {
    pub(crate) fn new(workdir: PathBuf) -> Self {
        Self {
            pods: Mutex::new(HashMap::new()),
            processes: Arc::new(ProcessTable::default()),
            workdir,
            next_ip: AtomicU32::new(1),
        }
    }

    fn pods(&self) -> MutexGuard<'_, HashMap<String, Arc<PodRuntime>>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn runtime(&self, uid: &str) -> Option<Arc<PodRuntime>> {
        self.pods().get(uid).cloned()
    }

    /// Takes a newly created pod onto the node.
    pub(crate) fn start(&self, cluster: &Cluster, pod: Value) {
        let uid = uid_of(&pod);
        let text = |pointer: &str| {
            pod.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (control, _) = watch::channel(Control::Run);
        let runtime = Arc::new(PodRuntime {
            uid: uid.clone(),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            control,
            running: AtomicBool::new(true),
            logs: Mutex::new(HashMap::new()),
            spec_changed: Notify::new(),
        });
        self.pods().insert(uid, runtime.clone());
        let ip = self.next_ip.fetch_add(1, Ordering::Relaxed);
        let context = pod::PodContext {
            cluster: cluster.clone(),
            runtime: runtime.clone(),
            processes: self.processes.clone(),
            workdir: self.workdir.join(&runtime.uid),
            pod_ip: format!("10.244.{}.{}", (ip / 250) % 250, ip % 250 + 2),
        };
        cluster.spawn(async move {
            context.run(pod).await;
            runtime.running.store(false, Ordering::SeqCst);
            context
                .cluster
                .pod_stopped(&runtime.namespace, &runtime.name, &runtime.uid);
            // A pod removed before its runner registered would otherwise stay in the registry.
            let still_there = context
                .cluster
                .get(Resource::Pods, &runtime.namespace, &runtime.name)
                .is_ok_and(|pod| uid_of(&pod) == runtime.uid);
            if !still_there {
                context.cluster.kubelet().pods().remove(&runtime.uid);
            }
        });
    }

    /// Stops a pod's containers with a grace period (deletion).
    pub(crate) fn stop(&self, uid: &str, grace_seconds: i64) {
        if let Some(runtime) = self.runtime(uid) {
            runtime.stop(Duration::from_secs(u64::try_from(grace_seconds).unwrap_or(0)));
        }
    }

    /// The pod left the store: kill what still runs and forget it.
    pub(crate) fn removed(&self, uid: &str) {
        if let Some(runtime) = self.pods().remove(uid) {
            runtime.stop(Duration::ZERO);
        }
    }

    pub(crate) fn spec_changed(&self, uid: &str) {
        if let Some(runtime) = self.runtime(uid) {
            runtime.spec_changed.notify_one();
        }
    }

    /// Whether a pod's containers may still be running.
    pub(crate) fn is_running(&self, uid: &str) -> bool {
        self.runtime(uid)
            .is_some_and(|runtime| runtime.running.load(Ordering::SeqCst))
    }

    pub(crate) fn container_logs(&self, uid: &str, container: &str) -> Option<ContainerLogs> {
        self.runtime(uid)
            .and_then(|runtime| runtime.logs().get(container).cloned())
    }

    pub(crate) fn process_count(&self) -> usize {
        self.processes.len()
    }

    pub(crate) fn kill_all(&self) {
        self.processes.kill_all();
    }

    /// Node-pressure eviction: the pod fails with reason `Evicted` and its containers are killed; the object
    /// stays, as on a real node.
    pub(crate) fn evict(
        &self,
        cluster: &Cluster,
        namespace: &str,
        name: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let pod = cluster.get(Resource::Pods, namespace, name)?;
        let uid = uid_of(&pod);
        let updated = cluster.mutate(Resource::Pods, namespace, name, &uid, |pod| {
            pod["status"]["phase"] = json!("Failed");
            pod["status"]["reason"] = json!("Evicted");
            pod["status"]["message"] = json!(message);
            status::refresh(pod);
        });
        if let Some(updated) = updated {
            cluster.record_event(
                &updated,
                EventSpec {
                    kind: "Warning",
                    reason: "Evicted",
                    message: message.to_owned(),
                    field_path: None,
                    component: "kubelet",
                },
            );
        }
        self.stop(&uid, 0);
        Ok(())
    }
}
