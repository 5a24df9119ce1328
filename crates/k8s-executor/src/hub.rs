//! The shared watch: one label-selected watch of Pods and one of Jobs per namespace, for every execution of
//! this executor instance, fanned out to the executions by their log id. An execution subscribes with
//! [`Hub::subscribe`] and gets a [`watch::Receiver`] of the current [`Snapshot`] of its objects; nothing opens a
//! watch per pod.
//!
//! Watch errors and `410 Gone` are handled by the client's watcher, which re-lists; objects missing from a
//! re-list are dropped from the snapshots, so a deletion during an outage is still seen. Deciding what a
//! snapshot means is [`crate::outcome`]'s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The objects of one execution as last seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Pods by name: the execution's Pod, or the pods of its Job.
    pub(crate) pods: BTreeMap<String, Pod>,
    /// The execution's Job, for Job executions.
    pub(crate) job: Option<Job>,
    /// Whether the namespace's watches have listed everything once, so an absent object is really absent.
    pub(crate) synced: bool,
}

/// The shared watches of one executor instance. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Hub(Arc<HubInner>);

struct HubInner {
    client: Client,
    selector: String,
    log_id_label: String,
    namespaces: Mutex<HashMap<String, Arc<Namespace>>>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// The snapshots of one namespace, keyed by log id.
struct Namespace {
    executions: Mutex<HashMap<i64, watch::Sender<Snapshot>>>,
    synced: Mutex<SyncState>,
}

#[derive(Default)]
struct SyncState {
    pods: bool,
    jobs: bool,
}

/// One watch event of either kind; boxed, since the typed objects are a few kilobytes each.
enum Change {
    Pod(Box<watcher::Event<Pod>>),
    Job(Box<watcher::Event<Job>>),
}

impl Hub {
    /// A hub watching objects matching `selector`; executions are told apart by the `log_id_label` label.
    pub(crate) fn new(client: Client, selector: String, log_id_label: String) -> Self {
        Hub(Arc::new(HubInner {
            client,
            selector,
            log_id_label,
            namespaces: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// The snapshots of execution `log_id` in `namespace`; starts the namespace's watches on first use.
    pub(crate) fn subscribe(&self, namespace: &str, log_id: i64) -> watch::Receiver<Snapshot> {
        let namespace = self.namespace(namespace);
        let synced = namespace.is_synced();
        let mut executions = lock(&namespace.executions);
        executions
            .entry(log_id)
            .or_insert_with(|| {
                watch::Sender::new(Snapshot {
                    synced,
                    ..Snapshot::default()
                })
            })
            .subscribe()
    }

    /// Stops every watch.
    pub(crate) async fn shutdown(&self) {
        self.0.stop.cancel();
        self.0.tasks.close();
        self.0.tasks.wait().await;
    }

    fn namespace(&self, name: &str) -> Arc<Namespace> {
        let mut namespaces = lock(&self.0.namespaces);
        if let Some(existing) = namespaces.get(name) {
            return Arc::clone(existing);
        }
        let namespace = Arc::new(Namespace {
            executions: Mutex::new(HashMap::new()),
            synced: Mutex::new(SyncState::default()),
        });
        namespaces.insert(name.to_owned(), Arc::clone(&namespace));
        let inner = Arc::clone(&self.0);
        let watched = Arc::clone(&namespace);
        let name = name.to_owned();
        self.0
            .tasks
            .spawn(async move { inner.watch_namespace(&name, &watched).await });
        namespace
    }
}

impl HubInner {
    async fn watch_namespace(&self, name: &str, namespace: &Namespace) {
        let config = watcher::Config::default().labels(&self.selector);
        let pods = watcher(Api::<Pod>::namespaced(self.client.clone(), name), config.clone())
            .default_backoff()
            .map(|event| event.map(|event| Change::Pod(Box::new(event))));
        let jobs = watcher(Api::<Job>::namespaced(self.client.clone(), name), config)
            .default_backoff()
            .map(|event| event.map(|event| Change::Job(Box::new(event))));
        let mut changes = std::pin::pin!(futures::stream::select(pods, jobs));
        let mut relisted_pods: HashSet<(i64, String)> = HashSet::new();
        let mut relisted_jobs: HashSet<i64> = HashSet::new();
        loop {
            let change = tokio::select! {
                () = self.stop.cancelled() => return,
                change = changes.next() => change,
            };
            let Some(change) = change else { return };
            let change = match change {
                Ok(change) => change,
                Err(error) => {
                    // The watcher re-lists after errors (410 Gone included) with back-off; executions keep
                    // their last snapshot meanwhile.
                    tracing::warn!(namespace = name, %error, "kubernetes watch error; re-listing");
                    continue;
                }
            };
            match change {
                Change::Pod(event) => match *event {
                    watcher::Event::Init => relisted_pods.clear(),
                    watcher::Event::InitApply(pod) => {
                        if let Some(key) = self.pod_key(&pod) {
                            relisted_pods.insert(key);
                        }
                        self.apply_pod(namespace, pod, false);
                    }
                    watcher::Event::InitDone => {
                        namespace.forget_pods_except(&relisted_pods);
                        lock(&namespace.synced).pods = true;
                        namespace.mark_synced();
                    }
                    watcher::Event::Apply(pod) => self.apply_pod(namespace, pod, false),
                    watcher::Event::Delete(pod) => self.apply_pod(namespace, pod, true),
                },
                Change::Job(event) => match *event {
                    watcher::Event::Init => relisted_jobs.clear(),
                    watcher::Event::InitApply(job) => {
                        if let Some(log_id) = self.log_id(&job.metadata.labels) {
                            relisted_jobs.insert(log_id);
                        }
                        self.apply_job(namespace, job, false);
                    }
                    watcher::Event::InitDone => {
                        namespace.forget_jobs_except(&relisted_jobs);
                        lock(&namespace.synced).jobs = true;
                        namespace.mark_synced();
                    }
                    watcher::Event::Apply(job) => self.apply_job(namespace, job, false),
                    watcher::Event::Delete(job) => self.apply_job(namespace, job, true),
                },
            }
        }
    }

    fn log_id(&self, labels: &Option<BTreeMap<String, String>>) -> Option<i64> {
        labels.as_ref()?.get(&self.log_id_label)?.parse().ok()
    }

    fn pod_key(&self, pod: &Pod) -> Option<(i64, String)> {
        Some((self.log_id(&pod.metadata.labels)?, pod.metadata.name.clone()?))
    }

    fn apply_pod(&self, namespace: &Namespace, pod: Pod, deleted: bool) {
        let Some((log_id, name)) = self.pod_key(&pod) else {
            return;
        };
        namespace.update(log_id, deleted, |snapshot| {
            if deleted {
                snapshot.pods.remove(&name);
            } else {
                snapshot.pods.insert(name, pod);
            }
        });
    }

    fn apply_job(&self, namespace: &Namespace, job: Job, deleted: bool) {
        let Some(log_id) = self.log_id(&job.metadata.labels) else {
            return;
        };
        namespace.update(log_id, deleted, |snapshot| {
            snapshot.job = (!deleted).then_some(job);
        });
    }
}

impl Namespace {
    fn is_synced(&self) -> bool {
        let synced = lock(&self.synced);
        synced.pods && synced.jobs
    }

    /// Applies `change` to the snapshot of `log_id`; drops snapshots nobody watches once their objects are
    /// gone, so memory follows the live objects.
    fn update(&self, log_id: i64, deleted: bool, change: impl FnOnce(&mut Snapshot)) {
        let synced = self.is_synced();
        let mut executions = lock(&self.executions);
        let sender = executions.entry(log_id).or_insert_with(|| {
            watch::Sender::new(Snapshot {
                synced,
                ..Snapshot::default()
            })
        });
        sender.send_modify(change);
        let empty = {
            let snapshot = sender.borrow();
            snapshot.pods.is_empty() && snapshot.job.is_none()
        };
        if deleted && empty && sender.receiver_count() == 0 {
            executions.remove(&log_id);
        }
    }

    fn forget_pods_except(&self, listed: &HashSet<(i64, String)>) {
        for (log_id, sender) in lock(&self.executions).iter() {
            sender.send_if_modified(|snapshot| {
                let before = snapshot.pods.len();
                snapshot
                    .pods
                    .retain(|name, _| listed.contains(&(*log_id, name.clone())));
                before != snapshot.pods.len()
            });
        }
    }

    fn forget_jobs_except(&self, listed: &HashSet<i64>) {
        for (log_id, sender) in lock(&self.executions).iter() {
            if !listed.contains(log_id) {
                sender.send_if_modified(|snapshot| snapshot.job.take().is_some());
            }
        }
    }

    fn mark_synced(&self) {
        if !self.is_synced() {
            return;
        }
        for sender in lock(&self.executions).values() {
            sender.send_if_modified(|snapshot| !std::mem::replace(&mut snapshot.synced, true));
        }
    }
}

/// Locks `mutex`; every update under these locks is a single map operation, so a panicking holder cannot
/// leave the data half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
