//! The object store: every object as raw JSON under one monotonically increasing `resourceVersion`, a
//! bounded change history for watch replay, and a broadcast of changes for live watches and controllers.
//! API semantics (validation, deletion, defaults) live in `cluster`; this module only stores and orders.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::resource::Resource;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub(crate) resource: Resource,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Key {
    pub(crate) fn new(resource: Resource, namespace: &str, name: &str) -> Self {
        Self {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One write, as seen by watches: the object after the write and, for modifications, before it (a watch with a
/// selector turns "stopped matching" into `DELETED` and "started matching" into `ADDED`, as the real one does).
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) resource_version: u64,
    pub(crate) resource: Resource,
    pub(crate) kind: ChangeKind,
    pub(crate) object: Value,
    pub(crate) previous: Option<Value>,
}

/// Why a watch cannot be served from history.
#[derive(Debug, PartialEq)]
pub(crate) struct TooOld {
    pub(crate) oldest: u64,
}

pub(crate) struct Store {
    resource_version: u64,
    objects: BTreeMap<Key, Value>,
    /// Per resource, like the real server's watch caches, so that churn of one resource (events) does not
    /// expire watches of another.
    history: BTreeMap<Resource, History>,
    history_limit: usize,
    changes: broadcast::Sender<Arc<Change>>,
}

/// The retained changes of one resource.
struct History {
    changes: VecDeque<Arc<Change>>,
    /// A watch may start from any version `>= oldest_replayable`: every later change is still in `changes`.
    oldest_replayable: u64,
}

/// Versions start high enough that they never look like the special value `0`.
const FIRST_RESOURCE_VERSION: u64 = 1000;

impl Store {
    pub(crate) fn new(history_limit: usize) -> Self {
        // A live watcher that falls this many changes behind is ended with `410` and re-lists, as a slow
        // watcher of the real server is.
        let (changes, _) = broadcast::channel(history_limit.max(8192));
        Self {
            resource_version: FIRST_RESOURCE_VERSION,
            objects: BTreeMap::new(),
            history: BTreeMap::new(),
            history_limit: history_limit.max(1),
            changes,
        }
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, ordered by namespace and name (etcd key order), optionally in one namespace.
    pub(crate) fn list<'a>(
        &'a self,
        resource: Resource,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.objects
            .range(Key::new(resource, "", "")..)
            .take_while(move |(key, _)| key.resource == resource)
            .filter(move |(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
    }

    /// Stores a new object, stamping its `resourceVersion`. The caller has checked that the key is free.
    pub(crate) fn insert(&mut self, key: Key, mut object: Value) -> Value {
        let version = self.bump();
        stamp(&mut object, version);
        self.objects.insert(key.clone(), object.clone());
        self.record(version, key.resource, ChangeKind::Added, object.clone(), None);
        object
    }

    /// Replaces an existing object, stamping a new `resourceVersion`.
    pub(crate) fn replace(&mut self, key: &Key, mut object: Value) -> Value {
        let version = self.bump();
        stamp(&mut object, version);
        let previous = self.objects.insert(key.clone(), object.clone());
        self.record(
            version,
            key.resource,
            ChangeKind::Modified,
            object.clone(),
            previous,
        );
        object
    }

    /// Removes an object; the `DELETED` event carries it with a fresh `resourceVersion`.
    pub(crate) fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        let version = self.bump();
        stamp(&mut object, version);
        self.record(version, key.resource, ChangeKind::Deleted, object.clone(), None);
        Some(object)
    }

    /// Changes of `resource` after `since`, or `TooOld` when some of them are no longer kept.
    pub(crate) fn changes_since(&self, resource: Resource, since: u64) -> Result<Vec<Arc<Change>>, TooOld> {
        let Some(history) = self.history.get(&resource) else {
            return if since < FIRST_RESOURCE_VERSION {
                Err(TooOld {
                    oldest: FIRST_RESOURCE_VERSION,
                })
            } else {
                Ok(Vec::new())
            };
        };
        if since < history.oldest_replayable {
            return Err(TooOld {
                oldest: history.oldest_replayable,
            });
        }
        Ok(history
            .changes
            .iter()
            .filter(|change| change.resource_version > since)
            .cloned()
            .collect())
    }

    /// Forgets all history, so that every watch from an earlier version gets `410 Gone`.
    pub(crate) fn compact(&mut self) {
        for resource in Resource::ALL {
            self.history.insert(
                resource,
                History {
                    changes: VecDeque::new(),
                    oldest_replayable: self.resource_version,
                },
            );
        }
    }

    fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn record(
        &mut self,
        version: u64,
        resource: Resource,
        kind: ChangeKind,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            resource_version: version,
            resource,
            kind,
            object,
            previous,
        });
        let history = self.history.entry(resource).or_insert_with(|| History {
            changes: VecDeque::new(),
            oldest_replayable: FIRST_RESOURCE_VERSION,
        });
        if history.changes.len() == self.history_limit
            && let Some(dropped) = history.changes.pop_front()
        {
            history.oldest_replayable = dropped.resource_version;
        }
        history.changes.push_back(change.clone());
        // No receiver is not an error: nobody is watching.
        let _ = self.changes.send(change);
    }
}

fn stamp(object: &mut Value, version: u64) {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]["resourceVersion"] = json!(version.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}})
    }

    #[test]
    fn versions_increase_across_all_writes() {
        let mut store = Store::new(10);
        let a = store.insert(Key::new(Resource::Pods, "ns", "a"), pod("a"));
        let b = store.insert(Key::new(Resource::Jobs, "ns", "b"), pod("b"));
        let a2 = store.replace(&Key::new(Resource::Pods, "ns", "a"), pod("a"));
        let gone = store
            .remove(&Key::new(Resource::Jobs, "ns", "b"))
            .expect("stored");
        let versions: Vec<u64> = [&a, &b, &a2, &gone]
            .iter()
            .map(|o| {
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(versions, vec![1001, 1002, 1003, 1004]);
        assert_eq!(store.resource_version(), 1004);
        assert!(store.remove(&Key::new(Resource::Jobs, "ns", "b")).is_none());
    }

    #[test]
    fn list_is_ordered_and_filtered() {
        let mut store = Store::new(10);
        for (ns, name) in [("b", "x"), ("a", "y"), ("a", "x")] {
            store.insert(Key::new(Resource::Pods, ns, name), pod(name));
        }
        store.insert(Key::new(Resource::Jobs, "a", "j"), pod("j"));
        let all: Vec<String> = store
            .list(Resource::Pods, None)
            .map(|(k, _)| format!("{}/{}", k.namespace, k.name))
            .collect();
        assert_eq!(all, vec!["a/x", "a/y", "b/x"]);
        assert_eq!(store.list(Resource::Pods, Some("b")).count(), 1);
        assert_eq!(store.list(Resource::Jobs, None).count(), 1);
        assert_eq!(store.list(Resource::Events, None).count(), 0);
    }

    #[test]
    fn history_is_bounded_and_compactable() {
        let mut store = Store::new(3);
        for name in ["a", "b", "c", "d"] {
            store.insert(Key::new(Resource::Pods, "ns", name), pod(name));
        }
        // Versions 1001..=1004 were written; only the last three are kept.
        assert_eq!(
            store.changes_since(Resource::Pods, 1000).err(),
            Some(TooOld { oldest: 1001 })
        );
        let replay = store.changes_since(Resource::Pods, 1001).expect("covered");
        assert_eq!(
            replay.iter().map(|c| c.resource_version).collect::<Vec<_>>(),
            vec![1002, 1003, 1004]
        );
        assert!(
            store
                .changes_since(Resource::Pods, 1004)
                .expect("current")
                .is_empty()
        );
        // Another resource's history is separate.
        store.insert(Key::new(Resource::Events, "ns", "e"), pod("e"));
        assert_eq!(
            store
                .changes_since(Resource::Events, 1004)
                .expect("covered")
                .len(),
            1
        );
        assert!(
            store
                .changes_since(Resource::Jobs, 1000)
                .expect("nothing happened")
                .is_empty()
        );
        store.compact();
        assert!(store.changes_since(Resource::Pods, 1004).is_err());
        assert!(store.changes_since(Resource::Pods, 1005).is_ok());
    }
}
