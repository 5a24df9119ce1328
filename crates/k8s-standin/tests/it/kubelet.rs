//! The fake kubelet: real processes, signals on deletion, deadlines, termination messages, init containers,
//! environment, restarts, fake images, scheduling, eviction, events, and no orphans after shutdown.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, LogParams, PostParams, WatchEvent};
use serde_json::json;
use xjob_k8s_standin::{Options, StandIn, TERMINATION_MESSAGE_ENV, UNSCHEDULABLE_LABEL};

use crate::support::{
    Setup, events_for, is_running, phase, pod, pod_json, scratch, terminated, typed, wait_until,
    waiting_reason,
};

fn with_env(mut manifest: serde_json::Value, name: &str, value: &str) -> serde_json::Value {
    manifest["spec"]["containers"][0]["env"] = json!([{"name": name, "value": value}]);
    manifest
}

async fn wait_file(path: &Path) -> String {
    wait_until(
        &format!("file {}", path.display()),
        Duration::from_secs(20),
        || async { std::fs::read_to_string(path).ok().filter(|text| !text.is_empty()) },
    )
    .await
}

/// Starts a pod whose script gets a scratch directory as `$DIR` and writes `$DIR/ready` once it runs.
async fn start_ready(setup: &Setup, name: &str, script: &str) -> tempfile::TempDir {
    let dir = scratch();
    let manifest = with_env(pod_json(name, script), "DIR", dir.path().to_str().unwrap());
    setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    wait_file(&dir.path().join("ready")).await;
    dir
}

#[tokio::test]
async fn delete_sends_sigterm_then_removes_the_pod() {
    let setup = Setup::start().await;
    let script = "trap 'echo term > \"$DIR/term\"; exit 0' TERM; echo ready > \"$DIR/ready\"; while true; do sleep 0.05; done";
    let dir = start_ready(&setup, "graceful", script).await;
    let uid = setup.pods().get("graceful").await.unwrap().metadata.uid.unwrap();
    let before_delete = setup.standin.resource_version().to_string();

    let pending = setup
        .pods()
        .delete("graceful", &DeleteParams::default().grace_period(10))
        .await
        .unwrap();
    let pending = pending.left().expect("the terminating pod");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.deletion_grace_period_seconds, Some(10));
    assert_eq!(wait_file(&dir.path().join("term")).await, "term\n");
    setup.wait_pod_gone("graceful").await;
    assert_eq!(setup.standin.running_processes(), 0);

    // The DELETED event carries the final status written after the process exited.
    let params = kube::api::WatchParams::default().timeout(1).disable_bookmarks();
    let events: Vec<WatchEvent<Pod>> = setup
        .pods()
        .watch(&params, &before_delete)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let last = events.iter().rev().find_map(|e| match e {
        WatchEvent::Deleted(pod) => Some(pod.clone()),
        _ => None,
    });
    let last = last.expect("a DELETED event");
    assert_eq!(phase(&last), "Succeeded");
    assert_eq!(
        terminated(&last, "main")
            .expect("final container state")
            .exit_code,
        0
    );
    assert!(last.metadata.deletion_timestamp.is_some());

    let events = events_for(&setup.client, &uid).await;
    assert!(
        events.contains(&"Killing: Stopping container main".to_owned()),
        "{events:?}"
    );
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn sigkill_follows_an_ignored_sigterm_after_the_grace_period() {
    let setup = Setup::start().await;
    let script = "trap '' TERM; echo ready > \"$DIR/ready\"; while true; do sleep 0.05; done";
    let _dir = start_ready(&setup, "stubborn", script).await;

    let started = Instant::now();
    setup
        .pods()
        .delete("stubborn", &DeleteParams::default().grace_period(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let terminating = setup
        .pods()
        .get("stubborn")
        .await
        .expect("still terminating within the grace period");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    setup.wait_pod_gone("stubborn").await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "removed only after the grace period"
    );
    assert_eq!(setup.standin.running_processes(), 0);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn active_deadline_fails_the_pod() {
    let setup = Setup::start().await;
    let mut manifest = pod_json("late", "sleep 30");
    manifest["spec"]["activeDeadlineSeconds"] = json!(1);
    manifest["spec"]["terminationGracePeriodSeconds"] = json!(1);
    setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    let failed = setup
        .wait_pod("late", "deadline exceeded", |p| {
            terminated(p, "main").is_some() && phase(p) == "Failed"
        })
        .await;
    let status = failed.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert_eq!(setup.standin.running_processes(), 0);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn exit_codes_and_termination_messages() {
    let setup = Setup::start().await;
    let pods = setup.pods();
    let script = format!("echo 'short result' > \"${TERMINATION_MESSAGE_ENV}\"; exit 3");
    pods.create(&PostParams::default(), &pod("exit3", &script))
        .await
        .unwrap();
    let mut fallback = pod_json("fallback", "echo first; echo 'last words'; exit 2");
    fallback["spec"]["containers"][0]["terminationMessagePolicy"] = json!("FallbackToLogsOnError");
    pods.create(&PostParams::default(), &typed(fallback))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("missing", "exec /nonexistent/binary"),
    )
    .await
    .unwrap();

    let exit3 = setup.wait_pod("exit3", "failed", |p| phase(p) == "Failed").await;
    let state = terminated(&exit3, "main").unwrap();
    assert_eq!((state.exit_code, state.reason.as_deref()), (3, Some("Error")));
    assert_eq!(state.message.as_deref(), Some("short result\n"));

    let fallback = setup
        .wait_pod("fallback", "failed", |p| phase(p) == "Failed")
        .await;
    let state = terminated(&fallback, "main").unwrap();
    assert_eq!(state.exit_code, 2);
    assert_eq!(state.message.as_deref(), Some("first\nlast words\n"));

    let missing = setup
        .wait_pod("missing", "failed", |p| phase(p) == "Failed")
        .await;
    assert_eq!(terminated(&missing, "main").unwrap().exit_code, 127);
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn init_containers_environment_and_downward_api() {
    let setup = Setup::start().await;
    let dir = scratch();
    let manifest = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "staged", "labels": {"app": "demo"}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "first", "image": "busybox", "command": ["sh", "-c", "echo one > \"$(DIR)/order\""],
                 "env": [{"name": "DIR", "value": dir.path().to_str().unwrap()}]},
                {"name": "second", "image": "busybox", "command": ["sh", "-c", "echo two >> \"$(DIR)/order\""],
                 "env": [{"name": "DIR", "value": dir.path().to_str().unwrap()}]},
            ],
            "containers": [{
                "name": "main", "image": "busybox", "workingDir": dir.path().to_str().unwrap(),
                "command": ["sh", "-c"],
                "args": ["cat order; printf '%s\\n' '$(GREETING) $$(LITERAL) $(UNSET)'; echo \"$POD/$APP/$INDEX\"; pwd"],
                "env": [
                    {"name": "NAME", "value": "world"},
                    {"name": "GREETING", "value": "hello-$(NAME)"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "INDEX", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
            }],
        },
    });
    setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    let done = setup
        .wait_pod("staged", "succeeded", |p| phase(p) == "Succeeded")
        .await;
    let init = done
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap();
    assert!(
        init.iter()
            .all(|s| s.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code == 0)
    );
    let output = setup.pods().logs("staged", &LogParams::default()).await.unwrap();
    let expected = format!(
        "one\ntwo\nhello-world $(LITERAL) $(UNSET)\nstaged/demo/standin-secret:s/k\n{}\n",
        dir.path().display()
    );
    assert_eq!(output, expected);
    let init_logs = setup
        .pods()
        .logs(
            "staged",
            &LogParams {
                container: Some("first".into()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(init_logs, "");
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn failing_init_container_fails_the_pod() {
    let setup = Setup::start().await;
    let mut manifest = pod_json("blocked", "echo never");
    manifest["spec"]["initContainers"] =
        json!([{"name": "setup", "image": "busybox", "command": ["sh", "-c", "exit 4"]}]);
    setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    let failed = setup
        .wait_pod("blocked", "failed", |p| phase(p) == "Failed")
        .await;
    assert_eq!(
        waiting_reason(&failed, "main").as_deref(),
        Some("PodInitializing")
    );
    let logs = crate::support::api_error(setup.pods().logs("blocked", &LogParams::default()).await);
    assert_eq!(
        logs.message,
        "container \"main\" in pod \"blocked\" is waiting to start: PodInitializing"
    );
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn on_failure_restarts_with_back_off() {
    let options = Options {
        restart_backoff: Duration::from_millis(100),
        ..Options::default()
    };
    let setup = Setup::with(options).await;
    let dir = scratch();
    let script = "if [ -f \"$DIR/once\" ]; then echo second run; exit 0; fi; touch \"$DIR/once\"; echo first run; exit 1";
    let mut manifest = with_env(pod_json("retry", script), "DIR", dir.path().to_str().unwrap());
    manifest["spec"]["restartPolicy"] = json!("OnFailure");
    let created = setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    let done = setup
        .wait_pod("retry", "succeeded", |p| phase(p) == "Succeeded")
        .await;
    let status = &done.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
    assert_eq!(status.restart_count, 1);
    assert_eq!(
        status
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    let previous = setup
        .pods()
        .logs(
            "retry",
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous, "first run\n");
    assert_eq!(
        setup.pods().logs("retry", &LogParams::default()).await.unwrap(),
        "second run\n"
    );
    let events = events_for(&setup.client, &created.metadata.uid.unwrap()).await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("BackOff: Back-off restarting failed container main")),
        "{events:?}"
    );
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn fake_images_and_missing_commands_never_start() {
    let options = Options {
        image_pull_backoff: Duration::from_millis(100),
        ..Options::default()
    };
    let setup = Setup::with(options).await;
    let pods = setup.pods();
    for (name, image) in [
        ("pull", "fake/pull-error"),
        ("invalid", "fake/invalid:1"),
        ("config", "fake/config-error"),
    ] {
        let mut manifest = pod_json(name, "true");
        manifest["spec"]["containers"][0]["image"] = json!(image);
        pods.create(&PostParams::default(), &typed(manifest))
            .await
            .unwrap();
    }
    let mut no_command = pod_json("nocommand", "true");
    no_command["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("command");
    pods.create(&PostParams::default(), &typed(no_command))
        .await
        .unwrap();

    setup
        .wait_pod("pull", "pull error", |p| {
            waiting_reason(p, "main").as_deref() == Some("ErrImagePull")
        })
        .await;
    let backing_off = setup
        .wait_pod("pull", "pull back-off", |p| {
            waiting_reason(p, "main").as_deref() == Some("ImagePullBackOff")
        })
        .await;
    assert_eq!(phase(&backing_off), "Pending");
    setup
        .wait_pod("invalid", "invalid", |p| {
            waiting_reason(p, "main").as_deref() == Some("InvalidImageName")
        })
        .await;
    setup
        .wait_pod("config", "config error", |p| {
            waiting_reason(p, "main").as_deref() == Some("CreateContainerConfigError")
        })
        .await;
    let no_command = setup
        .wait_pod("nocommand", "config error", |p| {
            waiting_reason(p, "main").as_deref() == Some("CreateContainerConfigError")
        })
        .await;
    let statuses = no_command.status.unwrap().container_statuses.unwrap();
    let message = statuses[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(message.contains("has no command"), "{message}");

    let uid = backing_off.metadata.uid.unwrap();
    let events = events_for(&setup.client, &uid).await;
    for expected in [
        "Failed: Error: ErrImagePull",
        "BackOff: Back-off pulling image \"fake/pull-error\"",
        "Failed: Error: ImagePullBackOff",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "missing {expected}: {events:?}"
        );
    }
    assert_eq!(setup.standin.running_processes(), 0);
    // Pods that never started are deleted promptly even with a grace period.
    pods.delete("pull", &DeleteParams::default()).await.unwrap();
    setup.wait_pod_gone("pull").await;
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn unschedulable_pods_stay_pending_with_a_reason() {
    let setup = Setup::start().await;
    let mut manifest = pod_json("nowhere", "true");
    manifest["spec"]["nodeSelector"] = json!({UNSCHEDULABLE_LABEL: "true"});
    setup
        .pods()
        .create(&PostParams::default(), &typed(manifest))
        .await
        .unwrap();
    let pending = setup
        .wait_pod("nowhere", "unschedulable", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.type_ == "PodScheduled"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
        })
        .await;
    assert_eq!(phase(&pending), "Pending");
    assert!(pending.spec.as_ref().unwrap().node_name.is_none());
    let events = events_for(&setup.client, pending.metadata.uid.as_ref().unwrap()).await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("FailedScheduling: 0/1 nodes are available")),
        "{events:?}"
    );
    let logs = crate::support::api_error(setup.pods().logs("nowhere", &LogParams::default()).await);
    assert_eq!(logs.code, 400);
    let deleted = setup
        .pods()
        .delete("nowhere", &DeleteParams::default())
        .await
        .unwrap();
    assert!(deleted.left().is_some());
    assert!(
        setup.pods().get_opt("nowhere").await.unwrap().is_none(),
        "an unscheduled pod is removed at once"
    );
    setup.standin.shutdown().await;
}

#[tokio::test]
async fn eviction_fails_the_pod_and_kills_it() {
    let setup = Setup::start().await;
    setup
        .pods()
        .create(&PostParams::default(), &pod("victim", "sleep 30"))
        .await
        .unwrap();
    let running = setup.wait_pod("victim", "running", is_running).await;
    let uid = running.metadata.uid.unwrap();
    let events = events_for(&setup.client, &uid).await;
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(
            events.iter().any(|e| e.starts_with(&format!("{reason}: "))),
            "missing {reason}: {events:?}"
        );
    }
    setup
        .standin
        .evict_pod("default", "victim", "The node was low on resource: memory.")
        .unwrap();
    let evicted = setup
        .wait_pod("victim", "evicted", |p| terminated(p, "main").is_some())
        .await;
    let status = evicted.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("Evicted"));
    assert_eq!(
        status.message.as_deref(),
        Some("The node was low on resource: memory.")
    );
    assert_eq!(setup.standin.running_processes(), 0);
    let missing = setup.standin.evict_pod("default", "ghost", "x").unwrap_err();
    assert!(missing.to_string().starts_with("404"), "{missing}");
    setup.standin.shutdown().await;
}

/// Whether a process is still running (a zombie awaiting its reaper counts as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn shutdown_and_drop_leave_no_processes() {
    for graceful in [true, false] {
        let standin = StandIn::start(Options::default()).await.unwrap();
        let client = standin.client().await.unwrap();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "default");
        let dir = scratch();
        // A background grandchild shares the process group and must die too. `$$$$` reaches the shell as
        // `$$`: the kubelet's expansion unescapes `$$`.
        let script = "sleep 300 & echo $! > \"$DIR/child\"; echo $$$$ > \"$DIR/pid\"; wait";
        let manifest = with_env(pod_json("long", script), "DIR", dir.path().to_str().unwrap());
        pods.create(&PostParams::default(), &typed(manifest))
            .await
            .unwrap();
        let pid: i32 = wait_file(&dir.path().join("pid")).await.trim().parse().unwrap();
        let child: i32 = wait_file(&dir.path().join("child")).await.trim().parse().unwrap();
        assert!(alive(pid) && alive(child));
        if graceful {
            standin.shutdown().await;
        } else {
            drop(standin);
        }
        wait_until("processes gone", Duration::from_secs(5), || async {
            (!alive(pid) && !alive(child)).then_some(())
        })
        .await;
    }
}
