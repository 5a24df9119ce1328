//! Watch streams: the initial state or a replay from `resourceVersion` out of the bounded history (`410
//! Expired` when it is too old), live changes filtered by namespace and selectors, `BOOKMARK` events,
//! streaming lists (`sendInitialEvents`), `timeoutSeconds`, and the handle's "close" and "expire" signals.
//! The stream is produced as JSON lines into a channel; HTTP framing lives in `api`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::cluster::{Cluster, Selection};
use crate::resource::Resource;
use crate::status::ApiError;
use crate::store::{Change, ChangeKind};

/// A parsed watch request.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub(crate) resource: Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) selection: Selection,
    /// `None` or `"0"`: start with the current state; otherwise replay from this version.
    pub(crate) resource_version: Option<String>,
    pub(crate) send_initial_events: bool,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Option<Duration>,
}

/// Starts a watch; the returned channel yields JSON lines until the watch ends.
pub(crate) fn start(cluster: &Cluster, request: WatchRequest) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let version = match request
        .resource_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "0")
    {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text:?}")))?,
        ),
    };
    // Subscribe and take the starting point under one lock, so that no change falls in between.
    let store = cluster.store();
    let changes = store.subscribe();
    let current = store.resource_version();
    let mut initial: Vec<Value> = Vec::new();
    let mut error: Option<ApiError> = None;
    match version {
        Some(version) if !request.send_initial_events => match store.changes_since(request.resource, version)
        {
            Ok(replay) => initial.extend(replay.iter().filter_map(|change| event_for(&request, change))),
            Err(too_old) => {
                error = Some(ApiError::expired(format!(
                    "too old resource version: {version} ({})",
                    too_old.oldest
                )));
            }
        },
        _ => {
            for (_, object) in store.list(request.resource, request.namespace.as_deref()) {
                if request.selection.matches(object) {
                    initial.push(json!({"type": "ADDED", "object": object}));
                }
            }
            if request.send_initial_events {
                let mut bookmark = bookmark(request.resource, current);
                bookmark["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                initial.push(bookmark);
            }
        }
    }
    drop(store);

    let (sender, receiver) = mpsc::channel(64);
    let cluster = cluster.clone();
    let task_cluster = cluster.clone();
    cluster.spawn(async move {
        let stream = Stream {
            cluster: task_cluster,
            request,
            sender,
            last_version: current,
        };
        stream.run(initial, error, changes).await;
    });
    Ok(receiver)
}

struct Stream {
    cluster: Cluster,
    request: WatchRequest,
    sender: mpsc::Sender<Bytes>,
    last_version: u64,
}

impl Stream {
    async fn run(
        mut self,
        initial: Vec<Value>,
        error: Option<ApiError>,
        mut changes: tokio::sync::broadcast::Receiver<Arc<Change>>,
    ) {
        if let Some(error) = error {
            self.send_error(&error).await;
            return;
        }
        for event in initial {
            if !self.send(&event).await {
                return;
            }
        }
        let shutdown = self.cluster.shutdown_token().clone();
        let mut signal = self.cluster.watch_signal();
        signal.mark_unchanged();
        let timeout = tokio::time::sleep(self.request.timeout.unwrap_or(Duration::MAX / 4));
        tokio::pin!(timeout);
        let interval = self.cluster.options().bookmark_interval;
        let mut bookmarks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.sender.closed() => return,
                _ = &mut timeout => return,
                changed = signal.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let expire = signal.borrow_and_update().expire;
                    if expire {
                        let message = format!("too old resource version: {} (watch expired by the test)", self.last_version);
                        self.send_error(&ApiError::expired(message)).await;
                    }
                    return;
                }
                _ = bookmarks.tick(), if self.request.bookmarks => {
                    let event = bookmark(self.request.resource, self.last_version);
                    if !self.send(&event).await {
                        return;
                    }
                }
                change = changes.recv() => match change {
                    Ok(change) => {
                        if change.resource_version <= self.last_version {
                            continue;
                        }
                        self.last_version = change.resource_version;
                        if let Some(event) = event_for(&self.request, &change)
                            && !self.send(&event).await
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let message = format!("too old resource version: {} (watcher fell behind)", self.last_version);
                        self.send_error(&ApiError::expired(message)).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    async fn send(&self, event: &Value) -> bool {
        let mut line = serde_json::to_vec(event).expect("JSON values always serialize");
        line.push(b'\n');
        self.sender.send(Bytes::from(line)).await.is_ok()
    }

    async fn send_error(&self, error: &ApiError) {
        self.send(&json!({"type": "ERROR", "object": error.status()}))
            .await;
    }
}

fn bookmark(resource: Resource, version: u64) -> Value {
    json!({"type": "BOOKMARK", "object": {
        "kind": resource.kind(),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": version.to_string()},
    }})
}

/// The event a watcher sees for a change: objects that start or stop matching the selection are reported as
/// `ADDED` and `DELETED`, as by the real watch cache.
fn event_for(request: &WatchRequest, change: &Change) -> Option<Value> {
    if change.resource != request.resource {
        return None;
    }
    let namespace = change
        .object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    if request
        .namespace
        .as_deref()
        .is_some_and(|ns| Some(ns) != namespace)
    {
        return None;
    }
    let now = request.selection.matches(&change.object);
    let kind = match change.kind {
        ChangeKind::Modified => {
            let before = change
                .previous
                .as_ref()
                .is_some_and(|previous| request.selection.matches(previous));
            match (before, now) {
                (true, true) => ChangeKind::Modified,
                (false, true) => ChangeKind::Added,
                (true, false) => ChangeKind::Deleted,
                (false, false) => return None,
            }
        }
        other if now => other,
        _ => return None,
    };
    Some(json!({"type": kind.as_str(), "object": change.object}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::LabelSelector;

    fn request(selector: &str) -> WatchRequest {
        WatchRequest {
            resource: Resource::Pods,
            namespace: Some("ns".into()),
            selection: Selection {
                labels: LabelSelector::parse(selector).unwrap(),
                ..Selection::default()
            },
            resource_version: None,
            send_initial_events: false,
            bookmarks: false,
            timeout: None,
        }
    }

    fn change(kind: ChangeKind, namespace: &str, label: &str, previous_label: Option<&str>) -> Change {
        let object = |label: &str| json!({"metadata": {"namespace": namespace, "labels": {"app": label}}});
        Change {
            resource_version: 1,
            resource: Resource::Pods,
            kind,
            object: object(label),
            previous: previous_label.map(object),
        }
    }

    #[test]
    fn selection_changes_become_added_and_deleted() {
        let watch = request("app=a");
        let kind =
            |change: &Change| event_for(&watch, change).map(|e| e["type"].as_str().unwrap().to_owned());
        assert_eq!(
            kind(&change(ChangeKind::Added, "ns", "a", None)).as_deref(),
            Some("ADDED")
        );
        assert_eq!(kind(&change(ChangeKind::Added, "ns", "b", None)), None);
        assert_eq!(kind(&change(ChangeKind::Added, "other", "a", None)), None);
        assert_eq!(
            kind(&change(ChangeKind::Modified, "ns", "a", Some("a"))).as_deref(),
            Some("MODIFIED")
        );
        assert_eq!(
            kind(&change(ChangeKind::Modified, "ns", "a", Some("b"))).as_deref(),
            Some("ADDED")
        );
        assert_eq!(
            kind(&change(ChangeKind::Modified, "ns", "b", Some("a"))).as_deref(),
            Some("DELETED")
        );
        assert_eq!(kind(&change(ChangeKind::Modified, "ns", "b", Some("b"))), None);
        assert_eq!(
            kind(&change(ChangeKind::Deleted, "ns", "a", None)).as_deref(),
            Some("DELETED")
        );
    }
}
