//! The API server's object semantics over the store: create with defaulting and validation, get, list with
//! selectors and paging, patch/update with the immutability rules, graceful deletion with finalizers and
//! propagation to a Job's pods, and event recording. HTTP lives in `api`, processes in `kubelet`, the Job
//! controller in `jobs`; they all go through this module to change objects.

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
use crate::status::{ApiError, Cause};
use crate::store::{Key, Store};
use crate::time;
use crate::validation;

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

/// `DeleteOptions` from the body and query of a delete request.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) grace_period_seconds: Option<i64>,
    pub(crate) propagation: Option<Propagation>,
    /// The deprecated form of the propagation policy, kept because it changes the response code.
    pub(crate) orphan_dependents: Option<bool>,
    pub(crate) precondition_uid: Option<String>,
    pub(crate) precondition_resource_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// The outcome of a delete: the object as it is now, and whether it is gone from the store.
#[derive(Debug)]
pub(crate) struct Deleted {
    pub(crate) object: Value,
    pub(crate) removed: bool,
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

/// Finalizer the garbage collector holds on an owner during foreground deletion.
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

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

    pub(crate) fn patch(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        let mut candidate = current.clone();
        match media_type {
            // Strategic merge is served as a JSON merge patch: identical for maps and scalars, which is what
            // clients patch on these resources (labels, annotations, finalizers as a whole list).
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                check_version(resource, &current, &patch)?;
                json_patch::merge(&mut candidate, &patch);
            }
            "application/json-patch+json" => {
                let operations: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
                json_patch::patch(&mut candidate, &operations).map_err(|error| {
                    ApiError::new(
                        422,
                        format!("the server rejected our request due to an error in our request: {error}"),
                    )
                })?;
            }
            other => return Err(ApiError::unsupported_media_type(other)),
        }
        let (written, follow_ups) = self.commit_update(&mut store, resource, &key, &current, candidate)?;
        drop(store);
        self.run(follow_ups);
        Ok(written)
    }

    pub(crate) fn update(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        check_kind(resource, &body)?;
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        check_version(resource, &current, &body)?;
        let (written, follow_ups) = self.commit_update(&mut store, resource, &key, &current, body)?;
        drop(store);
        self.run(follow_ups);
        Ok(written)
    }

    /// Applies the update rules shared by PATCH and PUT and writes the result.
    fn commit_update(
        &self,
        store: &mut Store,
        resource: Resource,
        key: &Key,
        current: &Value,
        mut candidate: Value,
    ) -> Result<(Value, Vec<FollowUp>), ApiError> {
        let name = key.name.as_str();
        for field in ["name", "namespace"] {
            let before = current.pointer(&format!("/metadata/{field}"));
            let after = candidate.pointer(&format!("/metadata/{field}"));
            if after.is_some_and(|a| Some(a) != before) {
                return Err(ApiError::bad_request(format!(
                    "the {field} of the object ({}) does not match the {field} on the URL ({})",
                    after.and_then(Value::as_str).unwrap_or_default(),
                    before.and_then(Value::as_str).unwrap_or_default()
                )));
            }
        }
        if !candidate.get("metadata").is_some_and(Value::is_object) {
            candidate["metadata"] = json!({});
        }
        candidate["kind"] = json!(resource.kind());
        candidate["apiVersion"] = json!(resource.api_version());
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match current.pointer(&format!("/metadata/{field}")) {
                Some(value) => candidate["metadata"][field] = value.clone(),
                None => {
                    if let Some(metadata) = candidate["metadata"].as_object_mut() {
                        metadata.remove(field);
                    }
                }
            }
        }
        if matches!(resource, Resource::Pods | Resource::Jobs) {
            // The main resource ignores status changes; only the status subresource (here: the controllers)
            // writes it.
            candidate["status"] = current.get("status").cloned().unwrap_or_else(|| json!({}));
        }
        let mut causes = Vec::new();
        validation::validate_metadata(&candidate, usize::MAX, &mut causes);
        let finalizers = |object: &Value| -> Vec<String> {
            object
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let deleting = current.pointer("/metadata/deletionTimestamp").is_some();
        if deleting
            && finalizers(&candidate)
                .iter()
                .any(|f| !finalizers(current).contains(f))
        {
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                "no new finalizers can be added if the object is being deleted",
            ));
        }
        match resource {
            Resource::Pods => causes.extend(pod_spec_change(current, &candidate)),
            Resource::Jobs => causes.extend(job_spec_change(current, &candidate)),
            Resource::Events | Resource::EventsV1 => {}
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(resource, name, causes));
        }
        if candidate == *current {
            return Ok((candidate, Vec::new()));
        }
        if resource == Resource::Jobs && candidate.get("spec") != current.get("spec") {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            candidate["metadata"]["generation"] = json!(generation + 1);
        }
        let mut follow_ups = Vec::new();
        let uid = uid_of(current);
        if resource == Resource::Pods && candidate.get("spec") != current.get("spec") {
            follow_ups.push(FollowUp::PodSpecChanged { uid: uid.clone() });
        }
        let written = store.replace(key, candidate);
        if deleting && finalizers(&written).is_empty() && self.may_remove(resource, &written) {
            let removed = store.remove(key).unwrap_or(written);
            follow_ups.extend(self.after_removal(resource, &removed));
            return Ok((removed, follow_ups));
        }
        Ok((written, follow_ups))
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

    pub(crate) fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        let uid = uid_of(&current);
        if let Some(expected) = &options.precondition_uid
            && *expected != uid
        {
            return Err(ApiError::conflict(
                resource,
                name,
                &format!("Precondition failed: UID in precondition: {expected}, UID in object meta: {uid}"),
            ));
        }
        let version = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(expected) = &options.precondition_resource_version
            && expected != version
        {
            return Err(ApiError::conflict(
                resource,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {version}"
                ),
            ));
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let (deleted, follow_ups) = match resource {
            Resource::Pods => self.delete_pod(&mut store, &key, current, has_finalizers, options),
            Resource::Jobs => {
                // batch/v1 keeps the Job's pods unless told otherwise, for compatibility with old clients.
                let propagation = options.propagation.unwrap_or(Propagation::Orphan);
                delete_owner(&mut store, &key, current, has_finalizers, propagation)
            }
            Resource::Events | Resource::EventsV1 => {
                if has_finalizers {
                    let marked = mark_deleting(&mut store, &key, &current, 0);
                    (
                        Deleted {
                            object: marked,
                            removed: false,
                        },
                        Vec::new(),
                    )
                } else {
                    let removed = store.remove(&key).unwrap_or(current);
                    (
                        Deleted {
                            object: removed,
                            removed: true,
                        },
                        Vec::new(),
                    )
                }
            }
        };
        drop(store);
        self.run(follow_ups);
        Ok(deleted)
    }

    fn delete_pod(
        &self,
        store: &mut Store,
        key: &Key,
        current: Value,
        has_finalizers: bool,
        options: &DeleteOptions,
    ) -> (Deleted, Vec<FollowUp>) {
        let uid = uid_of(&current);
        let default_grace = current
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        let mut grace = options.grace_period_seconds.unwrap_or(default_grace).max(0);
        let scheduled = current
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = current
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // An unscheduled or finished pod has nothing to stop, so it goes at once (the real pod strategy).
        if !scheduled || phase == "Succeeded" || phase == "Failed" {
            grace = 0;
        }
        if let Some(existing) = current
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            && grace >= existing
        {
            // Already terminating with an equal or shorter grace period: nothing changes.
            return (
                Deleted {
                    object: current,
                    removed: false,
                },
                Vec::new(),
            );
        }
        let running = self.kubelet().is_running(&uid);
        if grace == 0 && !has_finalizers {
            let removed = store.remove(key).unwrap_or(current);
            let mut follow_ups = vec![FollowUp::StopPod {
                uid,
                grace_seconds: 0,
            }];
            follow_ups.extend(self.after_removal(Resource::Pods, &removed));
            return (
                Deleted {
                    object: removed,
                    removed: true,
                },
                follow_ups,
            );
        }
        let marked = mark_deleting(store, key, &current, grace);
        let follow_ups = if running {
            vec![FollowUp::StopPod {
                uid,
                grace_seconds: grace,
            }]
        } else {
            Vec::new()
        };
        if !running && !has_finalizers {
            let removed = store.remove(key).unwrap_or(marked);
            let mut follow_ups = follow_ups;
            follow_ups.extend(self.after_removal(Resource::Pods, &removed));
            return (
                Deleted {
                    object: removed,
                    removed: true,
                },
                follow_ups,
            );
        }
        (
            Deleted {
                object: marked,
                removed: false,
            },
            follow_ups,
        )
    }

    pub(crate) fn delete_collection(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let names: Vec<(String, String)> = self
            .store()
            .list(resource, namespace)
            .filter(|(_, object)| selection.matches(object))
            .map(|(key, _)| (key.namespace.clone(), key.name.clone()))
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            match self.delete(resource, &ns, &name, options) {
                Ok(deleted) => items.push(deleted.object),
                // Deleted concurrently: the collection delete does not care.
                Err(error) if error.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let version = self.store().resource_version();
        Ok(json!({
            "kind": format!("{}List", resource.kind()),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": version.to_string()},
            "items": items,
        }))
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

    /// Called by the kubelet once every container of a pod has stopped: a pod waiting for that to finish its
    /// deletion leaves the store now (unless finalizers still hold it).
    pub(crate) fn pod_stopped(&self, namespace: &str, name: &str, uid: &str) {
        let mut store = self.store();
        let key = Key::new(Resource::Pods, namespace, name);
        let Some(current) = store.get(&key).cloned() else {
            return;
        };
        if uid_of(&current) != uid || current.pointer("/metadata/deletionTimestamp").is_none() {
            return;
        }
        let held = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if held {
            return;
        }
        if let Some(removed) = store.remove(&key) {
            let follow_ups = self.after_removal(Resource::Pods, &removed);
            drop(store);
            self.run(follow_ups);
        }
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

    /// Pods in `namespace` whose owner references name `owner_uid`.
    pub(crate) fn dependents(&self, namespace: &str, owner_uid: &str) -> Vec<String> {
        self.store()
            .list(Resource::Pods, Some(namespace))
            .filter(|(_, pod)| owned_by(pod, owner_uid))
            .map(|(key, _)| key.name.clone())
            .collect()
    }

    /// Completes a foreground deletion once the owner has no dependents left.
    fn finish_foreground_deletion(&self, namespace: &str, owner_uid: &str) {
        let mut store = self.store();
        let Some(key) = store
            .list(Resource::Jobs, Some(namespace))
            .find(|(_, job)| uid_of(job) == owner_uid)
            .map(|(key, _)| key.clone())
        else {
            return;
        };
        let Some(job) = store.get(&key).cloned() else {
            return;
        };
        let finalizers: Vec<Value> = job
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if job.pointer("/metadata/deletionTimestamp").is_none()
            || !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER)
            || store
                .list(Resource::Pods, Some(namespace))
                .any(|(_, pod)| owned_by(pod, owner_uid))
        {
            return;
        }
        let remaining: Vec<Value> = finalizers
            .into_iter()
            .filter(|f| f != FOREGROUND_FINALIZER)
            .collect();
        if remaining.is_empty() {
            store.remove(&key);
        } else {
            let mut next = job;
            next["metadata"]["finalizers"] = json!(remaining);
            store.replace(&key, next);
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

/// Sets `deletionTimestamp` (now + grace) and `deletionGracePeriodSeconds`, emitting `MODIFIED`.
fn mark_deleting(store: &mut Store, key: &Key, current: &Value, grace: i64) -> Value {
    let mut next = current.clone();
    let at = Utc::now() + chrono::Duration::seconds(grace);
    next["metadata"]["deletionTimestamp"] = json!(time::seconds(at));
    next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    store.replace(key, next)
}

/// Deletes an owner (a Job) with the requested propagation to its pods.
fn delete_owner(
    store: &mut Store,
    key: &Key,
    current: Value,
    has_finalizers: bool,
    propagation: Propagation,
) -> (Deleted, Vec<FollowUp>) {
    let uid = uid_of(&current);
    let namespace = key.namespace.clone();
    if current.pointer("/metadata/deletionTimestamp").is_some() {
        return (
            Deleted {
                object: current,
                removed: false,
            },
            Vec::new(),
        );
    }
    match propagation {
        Propagation::Orphan => {
            let orphans: Vec<(Key, Value)> = store
                .list(Resource::Pods, Some(&namespace))
                .filter(|(_, pod)| owned_by(pod, &uid))
                .map(|(key, pod)| (key.clone(), pod.clone()))
                .collect();
            for (pod_key, mut pod) in orphans {
                if let Some(owners) = pod
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    owners.retain(|owner| owner.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                }
                store.replace(&pod_key, pod);
            }
            remove_or_mark(store, key, current, has_finalizers, Vec::new())
        }
        Propagation::Background => {
            let follow_ups = vec![FollowUp::DeleteDependents {
                namespace,
                owner_uid: uid,
            }];
            remove_or_mark(store, key, current, has_finalizers, follow_ups)
        }
        Propagation::Foreground => {
            let mut next = current;
            let finalizers = next["metadata"]
                .as_object_mut()
                .expect("stored objects have metadata")
                .entry("finalizers")
                .or_insert_with(|| json!([]));
            if let Some(list) = finalizers.as_array_mut()
                && !list.iter().any(|f| f == FOREGROUND_FINALIZER)
            {
                list.push(json!(FOREGROUND_FINALIZER));
            }
            next["metadata"]["deletionTimestamp"] = json!(time::now_seconds());
            next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            let marked = store.replace(key, next);
            (
                Deleted {
                    object: marked,
                    removed: false,
                },
                vec![FollowUp::DeleteDependents {
                    namespace,
                    owner_uid: uid,
                }],
            )
        }
    }
}

fn remove_or_mark(
    store: &mut Store,
    key: &Key,
    current: Value,
    has_finalizers: bool,
    follow_ups: Vec<FollowUp>,
) -> (Deleted, Vec<FollowUp>) {
    if has_finalizers {
        let marked = mark_deleting(store, key, &current, 0);
        return (
            Deleted {
                object: marked,
                removed: false,
            },
            follow_ups,
        );
    }
    let removed = store.remove(key).unwrap_or(current);
    (
        Deleted {
            object: removed,
            removed: true,
        },
        follow_ups,
    )
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

/// Optimistic concurrency: a `resourceVersion` in the request must be the stored one.
fn check_version(resource: Resource, current: &Value, request: &Value) -> Result<(), ApiError> {
    let version = |object: &Value| {
        object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match version(request) {
        Some(asked) if Some(&asked) != version(current).as_ref() => Err(ApiError::conflict(
            resource,
            current
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            "the object has been modified; please apply your changes to the latest version and try again",
        )),
        _ => Ok(()),
    }
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

/// Pod spec fields that an update may change; everything else is immutable.
fn pod_spec_change(current: &Value, candidate: &Value) -> Option<Cause> {
    let mask = |spec: Option<&Value>| -> Value {
        let mut spec = spec.cloned().unwrap_or_else(|| json!({}));
        for list in ["containers", "initContainers"] {
            if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                    container.remove("image");
                }
            }
        }
        if let Some(spec) = spec.as_object_mut() {
            spec.remove("activeDeadlineSeconds");
            spec.remove("tolerations");
        }
        spec
    };
    (mask(current.get("spec")) != mask(candidate.get("spec"))).then(|| {
        Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        )
    })
}

/// Job spec fields that may change after creation; the template and selector are immutable.
fn job_spec_change(current: &Value, candidate: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for field in ["template", "selector", "completionMode"] {
        let before = current.pointer(&format!("/spec/{field}"));
        let after = candidate.pointer(&format!("/spec/{field}"));
        if before != after {
            causes.push(Cause::invalid(&format!("spec.{field}"), "", "field is immutable"));
        }
    }
    causes
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
    fn pod_updates_may_change_only_some_fields() {
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "restartPolicy": "Never"}});
        let mut image = pod.clone();
        image["spec"]["containers"][0]["image"] = json!("b");
        image["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(pod_spec_change(&pod, &image), None);
        let mut policy = pod.clone();
        policy["spec"]["restartPolicy"] = json!("Always");
        assert!(pod_spec_change(&pod, &policy).is_some());
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
