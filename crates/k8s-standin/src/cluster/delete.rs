//! Deletion: graceful pod deletion (deletion timestamp, the kubelet's SIGTERM/SIGKILL, removal once stopped),
//! preconditions, finalizers, collection deletes, and propagation from a Job to its pods (orphan, background,
//! foreground).

use chrono::Utc;
use serde_json::{Value, json};

use super::{Cluster, FollowUp, Selection, owned_by, stored, uid_of};
use crate::resource::Resource;
use crate::status::ApiError;
use crate::store::{Key, Store};
use crate::time;

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

/// Finalizer the garbage collector holds on an owner during foreground deletion.
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

impl Cluster {
    pub(crate) fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let mut store = self.store();
        let key = Key::new(resource, namespace, name);
        let current = stored(&store, &key)?;
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

    /// Pods in `namespace` whose owner references name `owner_uid`.
    pub(crate) fn dependents(&self, namespace: &str, owner_uid: &str) -> Vec<String> {
        self.store()
            .list(Resource::Pods, Some(namespace))
            .filter(|(_, pod)| owned_by(pod, owner_uid))
            .map(|(key, _)| key.name.clone())
            .collect()
    }

    /// Completes a foreground deletion once the owner has no dependents left.
    pub(super) fn finish_foreground_deletion(&self, namespace: &str, owner_uid: &str) {
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
