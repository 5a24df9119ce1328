//! The API server's object semantics over the store: create with defaulting and validation, get, list with
//! selectors and paging, controller writes and event recording here; patch/update rules in `update`; graceful
//! deletion, finalizers and propagation to a Job's pods in `delete`. HTTP lives in `api`, processes in
//! `kubelet`, the Job controller in `jobs`; they all go through this module to change objects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::defaults;
use crate::faults::Faults;
use crate::kubelet::Kubelet;
use crate::logs::LogSignal;
use crate::options::Options;
use crate::resource::Resource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Key, Store};
use crate::time;
use crate::validation;

mod delete;
mod update;

pub(crate) use delete::{DeleteOptions, Propagation};

/// Shared state of one stand-in: cheap to clone, every clone is the same server.
#[derive(Clone)]
pub(crate) struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    faults: Faults,
    kubelet: Kubelet,
    options: Options,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    watch_signal: watch::Sender<WatchSignal>,
    log_release: watch::Sender<LogSignal>,
    unreachable: AtomicBool,
}

/// What live watches are told to do by the handle.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct WatchSignal {
    /// Bumped on every signal so receivers see repeated ones.
    pub(crate) generation: u64,
    /// End with a `410 Expired` ERROR event instead of a clean end of stream.
    pub(crate) expire: bool,
}

/// Which objects a list, watch or deletecollection selects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
}

impl Selection {
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object.pointer("/metadata/labels")) && self.fields.matches(object)
    }
}

/// Work to do after the store lock is released (the kubelet and controllers take the lock themselves).
enum FollowUp {
    StartPod(Value),
    StopPod {
        uid: String,
        grace_seconds: i64,
    },
    PodRemoved {
        namespace: String,
        uid: String,
        owner_uid: Option<String>,
    },
    PodSpecChanged {
        uid: String,
    },
    DeleteDependents {
        namespace: String,
        owner_uid: String,
    },
}

impl Cluster {
    pub(crate) fn new(options: Options, workdir: std::path::PathBuf) -> Self {
        let store = Store::new(options.watch_history);
        let (watch_signal, _) = watch::channel(WatchSignal::default());
        let (log_release, _) = watch::channel(LogSignal::default());
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                faults: Faults::default(),
                kubelet: Kubelet::new(workdir),
                options,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                watch_signal,
                log_release,
                unreachable: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub(crate) fn kubelet(&self) -> &Kubelet {
        &self.inner.kubelet
    }

    pub(crate) fn options(&self) -> &Options {
        &self.inner.options
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Spawns a background task that is awaited on shutdown.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(future);
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    pub(crate) fn watch_signal(&self) -> watch::Receiver<WatchSignal> {
        self.inner.watch_signal.subscribe()
    }

    pub(crate) fn signal_watches(&self, expire: bool) {
        if expire {
            self.store().compact();
        }
        self.inner.watch_signal.send_modify(|signal| {
            signal.generation += 1;
            signal.expire = expire;
        });
    }

    pub(crate) fn log_release(&self) -> watch::Receiver<LogSignal> {
        self.inner.log_release.subscribe()
    }

    pub(crate) fn release_logs(&self) {
        self.faults().release_logs();
        self.inner.log_release.send_modify(|signal| {
            signal.generation += 1;
            signal.everyone = false;
        });
    }

    pub(crate) fn set_unreachable(&self, unreachable: bool) {
        self.inner.unreachable.store(unreachable, Ordering::SeqCst);
        if unreachable {
            // Open streams go down with the "network".
            self.signal_watches(false);
            self.inner.log_release.send_modify(|signal| {
                signal.generation += 1;
                signal.everyone = true;
            });
        }
    }

    pub(crate) fn unreachable(&self) -> bool {
        self.inner.unreachable.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, resource: Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.store()
            .get(&Key::new(resource, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))
    }

    pub(crate) fn create(&self, resource: Resource, namespace: &str, body: Value) -> Result<Value, ApiError> {
        self.create_with(resource, namespace, body, false)
    }

    /// Creates an object; with `dry_run` it is admitted, named and checked for conflicts but not stored.
    pub(crate) fn create_with(
        &self,
        resource: Resource,
        namespace: &str,
        body: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut object = admit(resource, namespace, body)?;
        let mut store = self.store();
        let name = match object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_owned(),
            None => {
                let prefix = object
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = (0..8)
                    .map(|_| format!("{prefix}{}", random_suffix()))
                    .find(|candidate| store.get(&Key::new(resource, namespace, candidate)).is_none())
                    .ok_or_else(|| ApiError::already_exists(resource, prefix))?;
                object["metadata"]["name"] = json!(name);
                name
            }
        };
        let key = Key::new(resource, namespace, &name);
        if store.get(&key).is_some() {
            return Err(ApiError::already_exists(resource, &name));
        }
        if dry_run {
            return Ok(object);
        }
        let stored = store.insert(key, object);
        drop(store);
        if resource == Resource::Pods {
            self.run(vec![FollowUp::StartPod(stored.clone())]);
        }
        Ok(stored)
    }

    pub(crate) fn list(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Value, ApiError> {
        let store = self.store();
        let (list_version, start_after) = match continue_token.filter(|t| !t.is_empty()) {
            Some(token) => {
                let mut parts = token.splitn(3, '/');
                match (
                    parts.next().and_then(|v| v.parse::<u64>().ok()),
                    parts.next(),
                    parts.next(),
                ) {
                    (Some(version), Some(ns), Some(name)) => {
                        (version, Some((ns.to_owned(), name.to_owned())))
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "continue key is not valid: malformed token",
                        ));
                    }
                }
            }
            None => (store.resource_version(), None),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (key, object) in store.list(resource, namespace) {
            if let Some((ns, name)) = &start_after
                && (key.namespace.as_str(), key.name.as_str()) <= (ns.as_str(), name.as_str())
            {
                continue;
            }
            if !selection.matches(object) {
                continue;
            }
            if limit.is_some_and(|limit| limit > 0 && items.len() == limit) {
                more = true;
                break;
            }
            items.push(object.clone());
        }
        let mut metadata = json!({"resourceVersion": list_version.to_string()});
        if more && let Some(last) = items.last() {
            let ns = last
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = last
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            metadata["continue"] = json!(format!("{list_version}/{ns}/{name}"));
        }
        Ok(json!({
            "kind": format!("{}List", resource.kind()),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// Whether an object whose deletion is no longer held by finalizers can leave the store now. A pod whose
    /// containers still run stays until the kubelet reports them stopped.
    fn may_remove(&self, resource: Resource, object: &Value) -> bool {
        resource != Resource::Pods || !self.kubelet().is_running(&uid_of(object))
    }

    fn after_removal(&self, resource: Resource, removed: &Value) -> Vec<FollowUp> {
        if resource != Resource::Pods {
            return Vec::new();
        }
        let owner_uid = removed
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|owners| {
                owners
                    .iter()
                    .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
            })
            .and_then(|owner| owner.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        vec![FollowUp::PodRemoved {
            namespace: removed
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            uid: uid_of(removed),
            owner_uid,
        }]
    }

    /// Changes an object on behalf of a controller (status writes). Returns the stored object, or `None` when
    /// the object is gone or was replaced by another one with the same name.
    pub(crate) fn mutate(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        uid: &str,
        change: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = store.get(&key)?;
        if uid_of(current) != uid {
            return None;
        }
        let mut next = current.clone();
        change(&mut next);
        if next == *current {
            return Some(next);
        }
        Some(store.replace(&key, next))
    }

    /// Records a core/v1 event about `involved`, as the kubelet or a controller would.
    pub(crate) fn record_event(&self, involved: &Value, event: EventSpec<'_>) {
        let Some(namespace) = involved.pointer("/metadata/namespace").and_then(Value::as_str) else {
            return;
        };
        let name = involved
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let now = time::now_seconds();
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let mut involved_object = json!({
            "apiVersion": involved.get("apiVersion").cloned().unwrap_or(json!("v1")),
            "kind": involved.get("kind").cloned().unwrap_or(json!("Pod")),
            "namespace": namespace,
            "name": name,
            "uid": uid_of(involved),
            "resourceVersion": involved.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
        });
        if let Some(path) = event.field_path {
            involved_object["fieldPath"] = json!(path);
        }
        let host = &self.options().node_name;
        let mut source = json!({"component": event.component});
        if event.component == "kubelet" {
            source["host"] = json!(host);
        }
        let body = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": namespace},
            "involvedObject": involved_object,
            "reason": event.reason,
            "message": event.message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event.kind,
            "eventTime": null,
            "reportingComponent": event.component,
            "reportingInstance": if event.component == "kubelet" { host.as_str() } else { "" },
        });
        if let Err(error) = self.create(Resource::Events, namespace, body) {
            tracing::warn!(reason = event.reason, code = error.code, "could not record event");
        }
    }

    fn run(&self, follow_ups: Vec<FollowUp>) {
        for follow_up in follow_ups {
            match follow_up {
                FollowUp::StartPod(pod) => self.kubelet().start(self, pod),
                FollowUp::StopPod { uid, grace_seconds } => self.kubelet().stop(&uid, grace_seconds),
                FollowUp::PodSpecChanged { uid } => self.kubelet().spec_changed(&uid),
                FollowUp::PodRemoved {
                    namespace,
                    uid,
                    owner_uid,
                } => {
                    self.kubelet().removed(&uid);
                    if let Some(owner_uid) = owner_uid {
                        self.finish_foreground_deletion(&namespace, &owner_uid);
                    }
                }
                FollowUp::DeleteDependents { namespace, owner_uid } => {
                    for name in self.dependents(&namespace, &owner_uid) {
                        match self.delete(Resource::Pods, &namespace, &name, &DeleteOptions::default()) {
                            Ok(_) => {}
                            Err(error) if error.code == 404 => {}
                            Err(error) => {
                                tracing::warn!(pod = %name, code = error.code, "could not delete dependent")
                            }
                        }
                    }
                    self.finish_foreground_deletion(&namespace, &owner_uid);
                }
            }
        }
    }
}

/// One event to record.
pub(crate) struct EventSpec<'a> {
    /// `Normal` or `Warning`.
    pub(crate) kind: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) message: String,
    /// `spec.containers{name}` for container events.
    pub(crate) field_path: Option<String>,
    /// `kubelet`, `job-controller`, `default-scheduler`.
    pub(crate) component: &'a str,
}

/// The stored object at `key`, or the API's `NotFound`.
fn stored(store: &Store, key: &Key) -> Result<Value, ApiError> {
    store
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(key.resource, &key.name))
}

pub(crate) fn uid_of(object: &Value) -> String {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn owned_by(object: &Value, owner_uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o.get("uid").and_then(Value::as_str) == Some(owner_uid))
        })
}

/// Checks kind and namespace, validates, and applies defaults and server-owned metadata to a new object.
fn admit(resource: Resource, namespace: &str, mut body: Value) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    check_kind(resource, &body)?;
    if let Some(body_namespace) = body.pointer("/metadata/namespace").and_then(Value::as_str)
        && !body_namespace.is_empty()
        && body_namespace != namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    for server_owned in ["resourceVersion", "uid", "creationTimestamp"] {
        if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove(server_owned);
        }
    }
    body["kind"] = json!(resource.kind());
    body["apiVersion"] = json!(resource.api_version());
    // Defaulting runs before validation, as in the real server: a Job template without a restart policy is
    // reported as `Always`, not as empty.
    defaults::apply(resource, namespace, &mut body);
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut causes = Vec::new();
    match resource {
        Resource::Pods => {
            validation::validate_metadata(&body, 253, &mut causes);
            validation::validate_pod_spec(body.get("spec"), "spec", &mut causes);
        }
        Resource::Jobs => {
            validation::validate_metadata(&body, 63, &mut causes);
            validation::validate_job_spec(&body, &mut causes);
        }
        Resource::Events | Resource::EventsV1 => validation::validate_metadata(&body, 253, &mut causes),
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(resource, &name, causes));
    }
    Ok(body)
}

fn check_kind(resource: Resource, body: &Value) -> Result<(), ApiError> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        ));
    }
    if kind != resource.kind() || (!api_version.is_empty() && api_version != resource.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    Ok(())
}

/// `generateName` suffix: five characters from the API server's alphabet (no vowels, no look-alikes).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_use_the_safe_alphabet() {
        for _ in 0..100 {
            let suffix = random_suffix();
            assert_eq!(suffix.len(), 5);
            assert!(
                suffix
                    .bytes()
                    .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
                "{suffix}"
            );
        }
    }

    #[test]
    fn kinds_must_match_the_path() {
        assert!(check_kind(Resource::Pods, &json!({"kind": "Pod", "apiVersion": "v1"})).is_ok());
        assert!(check_kind(Resource::Pods, &json!({"kind": "Pod"})).is_ok());
        assert_eq!(
            check_kind(Resource::Pods, &json!({"apiVersion": "v1"}))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            check_kind(Resource::Jobs, &json!({"kind": "Job", "apiVersion": "v1"}))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            check_kind(Resource::Jobs, &json!({"kind": "Pod", "apiVersion": "batch/v1"}))
                .unwrap_err()
                .code,
            400
        );
    }
}
