//! Watches: `kube::runtime::watcher` across forced expiry and closed streams, replay from a version, bookmarks,
//! streaming lists, timeouts and selector transitions.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::sync::mpsc;
use xjob_k8s_standin::{Options, Verb};

use crate::support::{Setup, pod, pod_json, typed, wait_until};

/// Waits until `count` watch requests have been answered, so that a signal reaches an open watch.
async fn watch_open(setup: &Setup, count: usize) {
    wait_until("watch established", Duration::from_secs(10), || async {
        let watches = setup
            .standin
            .requests()
            .iter()
            .filter(|r| r.verb == Some(Verb::Watch))
            .count();
        (watches >= count).then_some(())
    })
    .await;
}

/// What the test's watcher saw, in order.
#[derive(Debug)]
enum Seen {
    Apply(String),
    Delete(String),
    InitDone,
    Error(String),
}

fn spawn_watcher(setup: &Setup, config: watcher::Config) -> mpsc::UnboundedReceiver<Seen> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let stream = watcher(setup.pods(), config).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let seen = match item {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    Seen::Apply(pod.metadata.name.unwrap())
                }
                Ok(watcher::Event::Delete(pod)) => Seen::Delete(pod.metadata.name.unwrap()),
                Ok(watcher::Event::InitDone) => Seen::InitDone,
                Ok(watcher::Event::Init) => continue,
                Err(error) => Seen::Error(error.to_string()),
            };
            if sender.send(seen).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn next_matching(
    receiver: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    check: impl Fn(&Seen) -> bool,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let item = tokio::time::timeout_at(deadline, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {seen:?}"))
            .expect("watcher running");
        let done = check(&item);
        seen.push(item);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn watcher_relists_after_forced_expiry() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    pods.create(&PostParams::default(), &pod("before", "sleep 30"))
        .await
        .unwrap();
    let mut seen = spawn_watcher(&setup, watcher::Config::default().labels("suite=it"));
    next_matching(&mut seen, "initial list", |s| matches!(s, Seen::InitDone)).await;
    watch_open(&setup, 1).await;

    setup.standin.expire_watches();
    // While the watcher recovers, a pod appears; the re-list must deliver it.
    pods.create(&PostParams::default(), &pod("after", "sleep 30"))
        .await
        .unwrap();
    let recovery = next_matching(&mut seen, "re-list after expiry", |s| matches!(s, Seen::InitDone)).await;
    assert!(
        recovery
            .iter()
            .any(|s| matches!(s, Seen::Error(text) if text.contains("too old resource version"))),
        "expected a 410 error before the re-list: {recovery:?}"
    );
    assert!(
        recovery
            .iter()
            .any(|s| matches!(s, Seen::Apply(name) if name == "after")),
        "{recovery:?}"
    );

    // A cleanly closed watch resumes from its version without a re-list.
    watch_open(&setup, 2).await;
    setup.standin.close_watches();
    pods.create(&PostParams::default(), &pod("resumed", "sleep 30"))
        .await
        .unwrap();
    let resumed = next_matching(
        &mut seen,
        "pod after close",
        |s| matches!(s, Seen::Apply(name) if name == "resumed"),
    )
    .await;
    assert!(
        !resumed.iter().any(|s| matches!(s, Seen::InitDone)),
        "no re-list after a clean close: {resumed:?}"
    );

    pods.delete("before", &kube::api::DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    next_matching(
        &mut seen,
        "delete",
        |s| matches!(s, Seen::Delete(name) if name == "before"),
    )
    .await;
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn streaming_list_mode_works() {
    let setup = Setup::start().await;
    setup
        .pods()
        .create(&PostParams::default(), &pod("listed", "sleep 30"))
        .await
        .unwrap();
    let mut seen = spawn_watcher(&setup, watcher::Config::default().streaming_lists());
    let initial = next_matching(&mut seen, "initial events end", |s| matches!(s, Seen::InitDone)).await;
    assert!(
        initial
            .iter()
            .any(|s| matches!(s, Seen::Apply(name) if name == "listed")),
        "{initial:?}"
    );
    setup
        .pods()
        .create(&PostParams::default(), &pod("later", "sleep 30"))
        .await
        .unwrap();
    next_matching(
        &mut seen,
        "live event",
        |s| matches!(s, Seen::Apply(name) if name == "later"),
    )
    .await;
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn raw_watch_replays_bookmarks_and_times_out() {
    let options = Options {
        bookmark_interval: Duration::from_millis(200),
        watch_history: 40,
        ..Options::default()
    };
    let setup = Setup::with(options).await;
    let pods = setup.pods();
    let created = pods
        .create(&PostParams::default(), &pod("replayed", "true"))
        .await
        .unwrap();
    let version = created.metadata.resource_version.unwrap();
    setup
        .wait_pod("replayed", "pod done", |p| {
            crate::support::phase(p) == "Succeeded"
        })
        .await;

    // Replay from the creation version: the modifications since then come first.
    let params = WatchParams::default().timeout(1).disable_bookmarks();
    let events: Vec<WatchEvent<Pod>> = pods
        .watch(&params, &version)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        matches!(events.first(), Some(WatchEvent::Modified(_))),
        "{events:?}"
    );

    // Watches across all namespaces work for pods and for the kubelet's events.
    let all_pods: kube::Api<Pod> = kube::Api::all(setup.client.clone());
    let everywhere: Vec<WatchEvent<Pod>> = all_pods
        .watch(&params, &version)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(everywhere.len(), events.len());
    let all_events: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::all(setup.client.clone());
    let recorded: Vec<WatchEvent<k8s_openapi::api::core::v1::Event>> = all_events
        .watch(&params, &version)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let reasons: Vec<String> = recorded
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Added(event) => event.reason.clone(),
            _ => None,
        })
        .collect();
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "missing {reason}: {reasons:?}"
        );
    }

    // Bookmarks arrive on an idle watch; the stream ends at timeoutSeconds.
    let started = tokio::time::Instant::now();
    let current = setup.standin.resource_version().to_string();
    let events: Vec<WatchEvent<Pod>> = pods
        .watch(&WatchParams::default().timeout(1), &current)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WatchEvent::Bookmark(b) if b.metadata.resource_version == current)),
        "{events:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // History keeps forty pod changes: after forty-one creations the creation version is gone. The fillers
    // never start (invalid image), so they cost no processes.
    for index in 0..41 {
        let mut filler = pod_json(&format!("filler-{index}"), "true");
        filler["spec"]["containers"][0]["image"] = json!("fake/invalid");
        pods.create(&PostParams::default(), &typed(filler)).await.unwrap();
    }
    let events: Vec<WatchEvent<Pod>> = pods
        .watch(&params, &version)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    match events.as_slice() {
        [WatchEvent::Error(error)] => assert_eq!((error.code, error.reason.as_str()), (410, "Expired")),
        other => panic!("expected one 410 error event, got {other:?}"),
    }
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn selector_transitions_become_added_and_deleted() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let mut labelled = pod_json("moving", "sleep 30");
    labelled["metadata"]["labels"] = json!({"watch": "no"});
    pods.create(&PostParams::default(), &typed(labelled))
        .await
        .unwrap();
    let version = setup.standin.resource_version().to_string();
    let stream = pods
        .watch(&WatchParams::default().labels("watch=yes").timeout(3), &version)
        .await
        .unwrap();
    let collector = tokio::spawn(async move { stream.try_collect::<Vec<WatchEvent<Pod>>>().await });
    let patch = |value: &str| kube::api::Patch::Merge(json!({"metadata": {"labels": {"watch": value}}}));
    // The watch replays from `version`, so these patches cannot race its start.
    pods.patch("moving", &Default::default(), &patch("yes"))
        .await
        .unwrap();
    pods.patch("moving", &Default::default(), &patch("no"))
        .await
        .unwrap();
    let events = collector.await.unwrap().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"ADDED"), "{kinds:?}");
    assert!(kinds.contains(&"DELETED"), "{kinds:?}");
    setup.standin.shutdown().await;
}
