//! The life of one execution (§5–§6, §8.1): create the object (adopting it on `409` when it belongs to the
//! same execution), follow it through the shared watch, copy its output, report the verdict, apply the
//! cleanup policy — and on kill, timeout or shutdown, delete it with the configured grace period.
//!
//! [`supervise`] is shared by triggered executions ([`crate::KubernetesJobHandler`]) and executions the
//! janitor resumes after a restart; what differs (where the result goes, what cancels) is the caller's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use xjob_executor::ExecutionLog;

use crate::api::{ApiError, bounded};
use crate::config::{Cleanup, Settings};
use crate::hub::{Hub, Snapshot};
use crate::logcopy::{self, Budget, CopyTarget, Source};
use crate::manifest::{Kind, LogContainers, Workload};
use crate::normalise::{ExecutionOptions, Keys};
use crate::outcome::{self, Observation, Startup, Verdict};
use crate::rbac::Missing;

/// Annotation of a Job's pods with their completion index (Indexed Jobs).
const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// How often the startup rules are re-evaluated while nothing changes (they depend on the clock).
const RECHECK: Duration = Duration::from_secs(1);

/// Without any watch news of a created object for this long, one direct read checks whether it exists.
const UNSEEN_CHECK: Duration = Duration::from_secs(10);

/// Longest wait for log followers after a kill, so the execution ends within the SDK's cancel grace.
const KILL_DRAIN: Duration = Duration::from_secs(3);

/// Everything executions of one executor instance share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) settings: Arc<Settings>,
    pub(crate) keys: Keys,
    pub(crate) hub: Hub,
    /// Objects (namespace, name) a live execution is looking after; the janitor leaves them alone.
    pub(crate) live: Mutex<HashSet<(String, String)>>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) missing: Vec<Missing>,
    /// Trips at shutdown; resumed executions stop following their objects then.
    pub(crate) stop: CancellationToken,
}

/// The object an execution runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) log_id: i64,
}

/// How an execution ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The workload reached a result (or could not start, or vanished).
    Verdict(Verdict),
    /// The execution was cancelled; the object was deleted or, on detach, left running.
    Cancelled,
}

/// What to do with the object when the execution is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnCancel {
    /// Delete it with the kill grace period (kill, timeout, replacement, shutdown with `kill`).
    Delete,
    /// Leave it running for the next start of this instance to adopt.
    Detach,
}

/// Marks an object as looked after while the guard lives.
pub(crate) struct LiveGuard {
    shared: Arc<Shared>,
    key: (String, String),
}

impl LiveGuard {
    /// Marks `target`; `None` when another execution looks after it already.
    pub(crate) fn claim(shared: &Arc<Shared>, target: &Target) -> Option<LiveGuard> {
        let key = (target.namespace.clone(), target.name.clone());
        if !lock(&shared.live).insert(key.clone()) {
            return None;
        }
        Some(LiveGuard {
            shared: Arc::clone(shared),
            key,
        })
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        lock(&self.shared.live).remove(&self.key);
    }
}

impl Target {
    /// The target of a prepared object.
    pub(crate) fn of(workload: &Workload, log_id: i64) -> Target {
        let metadata = workload.metadata();
        Target {
            kind: workload.kind(),
            namespace: metadata.namespace.clone().unwrap_or_default(),
            name: metadata.name.clone().unwrap_or_default(),
            log_id,
        }
    }

    /// `pod <ns>/<name>`.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Creates `workload`; an existing object of the same execution is adopted. Returns a line for the log.
pub(crate) async fn create(shared: &Shared, workload: &Workload, target: &Target) -> Result<String, String> {
    let limit = shared.settings.config.api_timeout;
    let params = PostParams::default();
    let created = match workload {
        Workload::Pod(pod) => bounded(limit, pods(shared, &target.namespace).create(&params, pod))
            .await
            .map(drop),
        Workload::Job(job) => bounded(limit, jobs(shared, &target.namespace).create(&params, job))
            .await
            .map(drop),
    };
    let error = match created {
        Ok(()) => return Ok(format!("created {}", target.describe())),
        Err(error) => error,
    };
    let failure = |error: &ApiError| format!("kubernetes API error creating {}: {error}", target.describe());
    if error.code() != Some(409) {
        return Err(failure(&error));
    }
    // A repeated trigger of the same execution finds its own object: follow it instead of creating another.
    let existing = match target.kind {
        Kind::Pod => bounded(limit, pods(shared, &target.namespace).get_opt(&target.name))
            .await
            .map(|pod| pod.and_then(|pod| pod.metadata.labels)),
        Kind::Job => bounded(limit, jobs(shared, &target.namespace).get_opt(&target.name))
            .await
            .map(|job| job.and_then(|job| job.metadata.labels)),
    };
    let same_execution = existing
        .ok()
        .flatten()
        .is_some_and(|labels| labels.get(&shared.keys.log_id) == Some(&target.log_id.to_string()));
    if same_execution {
        Ok(format!(
            "{} exists already for this execution; following it",
            target.describe()
        ))
    } else {
        Err(failure(&error))
    }
}

/// Follows `target` until it has a result or `cancel` trips; copies its output into `log`.
pub(crate) async fn supervise(
    shared: &Shared,
    target: &Target,
    options: &ExecutionOptions,
    log: &ExecutionLog,
    cancel: &CancellationToken,
    on_cancel: impl Fn() -> OnCancel,
) -> Outcome {
    let config = &shared.settings.config;
    let mut snapshots = shared.hub.subscribe(&target.namespace, target.log_id);
    let copy = CopyTarget {
        log: log.clone(),
        cursors: logcopy::cursor_directory(log.path()),
        budget: Arc::new(Budget::new(config.max_log_bytes)),
        timestamps: options.log_timestamps,
        drain_timeout: config.log_drain_timeout,
        api_timeout: config.api_timeout,
    };
    let mut followers = Followers::new(copy, pods(shared, &target.namespace), options, target.kind);
    let mut progress = Progress::default();
    let startup = Startup {
        timeout: options.startup_timeout,
        fail_fast_reasons: &config.fail_fast_reasons,
    };
    let mut seen = false;
    let mut unseen_check = tokio::time::Instant::now() + UNSEEN_CHECK;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let observation = observe(target, &snapshot, &startup);
        if let Some(observation) = observation {
            seen = true;
            progress.log(target, &snapshot, log);
            followers.sync(target, &snapshot);
            match observation {
                Observation::Starting | Observation::Running => {}
                Observation::Abort(verdict) => {
                    log.line(&verdict.message);
                    delete(shared, target, options.kill_grace_period, log).await;
                    followers.finish_all();
                    followers.join(config.log_drain_timeout).await;
                    return Outcome::Verdict(verdict);
                }
                Observation::Finished(verdict) => {
                    if target.kind == Kind::Job {
                        // A Job's own status can arrive before the last updates of its pods; read them once
                        // so the output of pods that ran to their end unseen is collected too.
                        if let Some(pods) = job_pods(shared, target).await {
                            followers.sync(target, &pods);
                        }
                    }
                    followers.finish_all();
                    followers
                        .join(config.log_drain_timeout + config.api_timeout)
                        .await;
                    clean_up(shared, target, options.cleanup, verdict.code, log).await;
                    return Outcome::Verdict(verdict);
                }
            }
        } else if seen
            || (tokio::time::Instant::now() >= unseen_check && !exists(shared, target).await.unwrap_or(true))
        {
            followers.finish_all();
            followers.join(config.log_drain_timeout).await;
            let metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                namespace: Some(target.namespace.clone()),
                name: Some(target.name.clone()),
                ..Default::default()
            };
            return Outcome::Verdict(outcome::deleted_outside(target.kind, &metadata));
        } else if tokio::time::Instant::now() >= unseen_check {
            unseen_check = tokio::time::Instant::now() + UNSEEN_CHECK;
        }
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    // The shared watch is gone: the executor is shutting down.
                    followers.abort();
                    return Outcome::Cancelled;
                }
            }
            () = tokio::time::sleep(RECHECK) => {}
            () = cancel.cancelled() => {
                match on_cancel() {
                    OnCancel::Delete => {
                        delete(shared, target, options.kill_grace_period, log).await;
                        followers.finish_all();
                        followers.join(KILL_DRAIN.min(config.log_drain_timeout)).await;
                    }
                    OnCancel::Detach => {
                        log.line(&format!("{} left running for the next start of this executor", target.describe()));
                        followers.abort();
                    }
                }
                return Outcome::Cancelled;
            }
        }
    }
}

/// The observation of `target` in `snapshot`; `None` while the object is absent.
fn observe(target: &Target, snapshot: &Snapshot, startup: &Startup<'_>) -> Option<Observation> {
    let now = Timestamp::now();
    match target.kind {
        Kind::Pod => snapshot
            .pods
            .get(&target.name)
            .map(|pod| outcome::observe_pod(pod, startup, now)),
        Kind::Job => {
            let job = snapshot
                .job
                .as_ref()
                .filter(|job| job.metadata.name.as_deref() == Some(target.name.as_str()))?;
            let pods: Vec<Pod> = snapshot.pods.values().cloned().collect();
            Some(outcome::observe_job(job, &pods, startup, now))
        }
    }
}

async fn exists(shared: &Shared, target: &Target) -> Result<bool, ApiError> {
    let limit = shared.settings.config.api_timeout;
    match target.kind {
        Kind::Pod => bounded(limit, pods(shared, &target.namespace).get_opt(&target.name))
            .await
            .map(|pod| pod.is_some()),
        Kind::Job => bounded(limit, jobs(shared, &target.namespace).get_opt(&target.name))
            .await
            .map(|job| job.is_some()),
    }
}

/// The pods of a Job execution as they are now, read from the API; `None` when they cannot be listed.
async fn job_pods(shared: &Shared, target: &Target) -> Option<Snapshot> {
    let selector = format!("{}={}", shared.keys.log_id, target.log_id);
    let listed = bounded(
        shared.settings.config.api_timeout,
        pods(shared, &target.namespace).list(&ListParams::default().labels(&selector)),
    )
    .await;
    match listed {
        Ok(list) => Some(Snapshot {
            pods: list
                .items
                .into_iter()
                .filter_map(|pod| Some((pod.metadata.name.clone()?, pod)))
                .collect(),
            job: None,
            synced: true,
        }),
        Err(error) => {
            tracing::warn!(namespace = %target.namespace, name = %target.name, %error, "cannot list the job's pods");
            None
        }
    }
}

/// Deletes `target` with `grace` (Pods in the background; Jobs in the foreground, and their pods too).
pub(crate) async fn delete(shared: &Shared, target: &Target, grace: Duration, log: &ExecutionLog) {
    let limit = shared.settings.config.api_timeout;
    let seconds = u32::try_from(grace.as_secs()).unwrap_or(u32::MAX);
    let result = match target.kind {
        Kind::Pod => bounded(
            limit,
            pods(shared, &target.namespace)
                .delete(&target.name, &DeleteParams::background().grace_period(seconds)),
        )
        .await
        .map(drop),
        Kind::Job => {
            let job = bounded(
                limit,
                jobs(shared, &target.namespace)
                    .delete(&target.name, &DeleteParams::foreground().grace_period(seconds)),
            )
            .await
            .map(drop);
            let selector = format!("{}={}", shared.keys.log_id, target.log_id);
            let job_pods = bounded(
                limit,
                pods(shared, &target.namespace).delete_collection(
                    &DeleteParams::background().grace_period(seconds),
                    &ListParams::default().labels(&selector),
                ),
            )
            .await
            .map(drop);
            job.and(job_pods)
        }
    };
    match result {
        Ok(()) => log.line(&format!(
            "deleting {} (grace period {}s)",
            target.describe(),
            seconds
        )),
        Err(error) if error.code() == Some(404) => {}
        Err(error) => log.line(&format!(
            "kubernetes API error deleting {}: {error}",
            target.describe()
        )),
    }
}

/// Applies the cleanup policy once the result is known.
async fn clean_up(shared: &Shared, target: &Target, cleanup: Cleanup, code: i32, log: &ExecutionLog) {
    let delete_it = match cleanup {
        Cleanup::Always => true,
        Cleanup::OnSuccess => code == xjob_protocol::code::SUCCESS,
        Cleanup::Never => false,
    };
    if delete_it {
        let limit = shared.settings.config.api_timeout;
        let params = DeleteParams::background();
        let result = match target.kind {
            Kind::Pod => bounded(
                limit,
                pods(shared, &target.namespace).delete(&target.name, &params),
            )
            .await
            .map(drop),
            Kind::Job => bounded(
                limit,
                jobs(shared, &target.namespace).delete(&target.name, &params),
            )
            .await
            .map(drop),
        };
        match result {
            Ok(()) => log.line(&format!("removed {}", target.describe())),
            Err(error) if error.code() == Some(404) => {}
            Err(error) => log.line(&format!(
                "kubernetes API error deleting {}: {error}",
                target.describe()
            )),
        }
        return;
    }
    let retain =
        SignedDuration::try_from(shared.settings.config.retain_finished).unwrap_or(SignedDuration::MAX);
    let until = Timestamp::now().checked_add(retain).unwrap_or(Timestamp::MAX);
    let patch = json!({"metadata": {"annotations": {(shared.keys.retain_until.clone()): until.to_string()}}});
    let limit = shared.settings.config.api_timeout;
    let params = PatchParams::default();
    let result = match target.kind {
        Kind::Pod => bounded(
            limit,
            pods(shared, &target.namespace).patch(&target.name, &params, &Patch::Merge(&patch)),
        )
        .await
        .map(drop),
        Kind::Job => bounded(
            limit,
            jobs(shared, &target.namespace).patch(&target.name, &params, &Patch::Merge(&patch)),
        )
        .await
        .map(drop),
    };
    match result {
        Ok(()) => log.line(&format!("kept {} until {until}", target.describe())),
        Err(error) => log.line(&format!(
            "kubernetes API error marking {} for retention: {error}",
            target.describe()
        )),
    }
}

pub(crate) fn pods(shared: &Shared, namespace: &str) -> Api<Pod> {
    Api::namespaced(shared.client.clone(), namespace)
}

pub(crate) fn jobs(shared: &Shared, namespace: &str) -> Api<Job> {
    Api::namespaced(shared.client.clone(), namespace)
}

/// The log followers of one execution, one per (pod, container) once the container has started.
struct Followers {
    copy: CopyTarget,
    pods: Api<Pod>,
    containers: LogContainers,
    kind: Kind,
    tasks: JoinSet<()>,
    terminated: HashMap<(String, String), watch::Sender<bool>>,
}

impl Followers {
    fn new(copy: CopyTarget, pods: Api<Pod>, options: &ExecutionOptions, kind: Kind) -> Self {
        Followers {
            copy,
            pods,
            containers: options.log_containers.clone(),
            kind,
            tasks: JoinSet::new(),
            terminated: HashMap::new(),
        }
    }

    /// Starts followers for containers that run or ran, and tells them when their container terminated.
    fn sync(&mut self, target: &Target, snapshot: &Snapshot) {
        let pods: Vec<&Pod> = match target.kind {
            Kind::Pod => snapshot.pods.get(&target.name).into_iter().collect(),
            Kind::Job => snapshot.pods.values().collect(),
        };
        for pod in pods {
            let Some(pod_name) = pod.metadata.name.clone() else {
                continue;
            };
            let copied: Vec<String> = container_names(pod)
                .into_iter()
                .filter(|name| match &self.containers {
                    LogContainers::All => true,
                    LogContainers::Named(names) => names.contains(name),
                })
                .collect();
            for status in container_statuses(pod) {
                if !copied.contains(&status.name) {
                    continue;
                }
                let state = status.state.as_ref();
                let started = state.is_some_and(|s| s.running.is_some() || s.terminated.is_some());
                let ended = state.is_some_and(|s| s.terminated.is_some());
                if !started {
                    continue;
                }
                let key = (pod_name.clone(), status.name.clone());
                let sender = self.terminated.entry(key).or_insert_with(|| {
                    let (sender, receiver) = watch::channel(false);
                    let source = Source {
                        pods: self.pods.clone(),
                        pod: pod_name.clone(),
                        container: status.name.clone(),
                        prefix: prefix(self.kind, pod, &pod_name, &status.name, copied.len()),
                    };
                    self.tasks
                        .spawn(logcopy::follow(self.copy.clone(), source, receiver));
                    sender
                });
                if ended {
                    sender.send_if_modified(|done| !std::mem::replace(done, true));
                }
            }
        }
    }

    fn finish_all(&mut self) {
        for sender in self.terminated.values() {
            sender.send_if_modified(|done| !std::mem::replace(done, true));
        }
    }

    /// Waits up to `limit` for every follower to finish, then stops the rest.
    async fn join(&mut self, limit: Duration) {
        let tasks = &mut self.tasks;
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            self.tasks.abort_all();
        }
    }

    fn abort(&mut self) {
        self.tasks.abort_all();
    }
}

/// The prefix of copied lines: none for a single container of a Pod, `[<container>] ` for several, and for
/// Jobs `[<completion index>] ` or `[<pod suffix>/<container>] `.
fn prefix(kind: Kind, pod: &Pod, pod_name: &str, container: &str, copied: usize) -> String {
    match kind {
        Kind::Pod if copied <= 1 => String::new(),
        Kind::Pod => format!("[{container}] "),
        Kind::Job => {
            let index = pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(COMPLETION_INDEX_ANNOTATION));
            match index {
                Some(index) if copied <= 1 => format!("[{index}] "),
                Some(index) => format!("[{index}/{container}] "),
                None => {
                    let suffix = pod_name.rsplit('-').next().unwrap_or(pod_name);
                    format!("[{suffix}/{container}] ")
                }
            }
        }
    }
}

/// Init containers in order, then app containers.
fn container_names(pod: &Pod) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .map(|container| container.name.clone())
        .collect()
}

fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .chain(
            status
                .and_then(|s| s.container_statuses.as_ref())
                .into_iter()
                .flatten(),
        )
}

/// Progress lines already written, so each is written once.
#[derive(Default)]
struct Progress {
    written: HashSet<String>,
}

impl Progress {
    fn log(&mut self, target: &Target, snapshot: &Snapshot, log: &ExecutionLog) {
        let pods: Vec<&Pod> = match target.kind {
            Kind::Pod => snapshot.pods.get(&target.name).into_iter().collect(),
            Kind::Job => snapshot.pods.values().collect(),
        };
        for pod in pods {
            let name = pod.metadata.name.as_deref().unwrap_or("");
            if let Some(node) = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) {
                self.once(log, format!("pod {name} scheduled on node {node}"));
            }
            for status in container_statuses(pod) {
                let Some(state) = status.state.as_ref() else {
                    continue;
                };
                if state.running.is_some() || state.terminated.is_some() {
                    self.once(
                        log,
                        format!(
                            "pod {name}: container {} started (image {})",
                            status.name, status.image
                        ),
                    );
                }
                if let Some(terminated) = &state.terminated {
                    self.once(
                        log,
                        format!(
                            "pod {name}: container {} terminated with exit code {} ({})",
                            status.name,
                            terminated.exit_code,
                            terminated.reason.as_deref().unwrap_or("unknown reason")
                        ),
                    );
                }
            }
        }
    }

    fn once(&mut self, log: &ExecutionLog, line: String) {
        if self.written.insert(line.clone()) {
            log.line(&line);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under this lock is one set insert or removal.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
