//! Executions under faults: dropped and held log streams, odd output, images that never start, API errors
//! and outages, missing permissions, expired watches.

use std::time::{Duration, Instant};

use serde_json::json;
use xjob_k8s_standin::{AccessRule, Failure, Options, RequestMatch, Verb};
use xjob_test_support::wait_until;

use crate::rig::{Rig, next_log_id, pod, trigger, wait};

fn numbered(count: usize) -> String {
    format!("i=1; while [ $i -le {count} ]; do echo n-$i; i=$((i+1)); sleep 0.05; done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_log_stream_loses_and_repeats_no_line() {
    if crate::rig::needs_standin("the cut log stream") {
        return;
    }
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    let name = format!("cut-{log_id}");
    rig.standin().cut_log_stream("default", &name, None, 5);
    let request = trigger(1, log_id, &pod("cut", &numbered(20)), json!({}));
    rig.trigger(&request).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let log = rig.log_text(&request);
    for i in 1..=20 {
        let line = format!("n-{i}");
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line} in\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_log_stream_is_drained_within_the_drain_timeout() {
    if crate::rig::needs_standin("the held log stream") {
        return;
    }
    let rig = Rig::start("log_drain_timeout = 2").await;
    let log_id = next_log_id();
    rig.standin()
        .hold_log_streams("default", &format!("held-{log_id}"), None);
    let request = trigger(1, log_id, &pod("held", "echo one; echo two"), json!({}));
    let started = Instant::now();
    rig.trigger(&request).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let log = rig.log_text(&request);
    assert_eq!(log.lines().filter(|l| *l == "two").count(), 1, "{log}");
    rig.standin().release_log_streams();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_long_lines_are_copied() {
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    let script = "printf 'bad \\377 byte\\n'; head -c 102400 /dev/zero | tr '\\0' x; echo; echo after";
    let request = trigger(1, log_id, &pod("bytes", script), json!({}));
    rig.trigger(&request).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let log = rig.log_text(&request);
    assert!(
        log.contains("bad \u{FFFD} byte"),
        "{}",
        &log[..log.len().min(2000)]
    );
    let x_bytes: usize = log
        .lines()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b == b'x'))
        .map(|l| {
            assert!(l.len() <= 16 * 1024, "line of {} bytes", l.len());
            l.len()
        })
        .sum();
    assert_eq!(x_bytes, 102_400);
    assert!(log.lines().any(|l| l == "after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_that_never_start() {
    if crate::rig::needs_standin("images that never start") {
        return;
    }
    let rig = Rig::start("").await;
    let manifest = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: img\n  annotations: {{xxl-job/startup-timeout: '2'}}\nspec:\n  containers: [{{name: main, image: {image}, command: ['true']}}]\n"
        )
    };
    let log_id = next_log_id();
    rig.trigger(&trigger(1, log_id, &manifest("fake/pull-error"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    let msg = result.handle_msg.unwrap();
    let named = msg.contains("ImagePullBackOff") || msg.contains("ErrImagePull");
    assert!(
        msg.starts_with(&format!("pod default/img-{log_id} did not start within 2s: ")) && named,
        "{msg}"
    );
    assert!(rig.wait_no_pod(&format!("img-{log_id}")).await);

    let log_id = next_log_id();
    let started = Instant::now();
    rig.trigger(&trigger(2, log_id, &manifest("fake/invalid"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    assert!(result.handle_msg.unwrap().contains("InvalidImageName"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fail fast took {:?}",
        started.elapsed()
    );

    let log_id = next_log_id();
    let unschedulable = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nowhere\n  annotations: {{xxl-job/startup-timeout: '1'}}\nspec:\n  nodeSelector: {{{}: 'true'}}\n  containers: [{{name: main, image: busybox, command: ['true']}}]\n",
        xjob_k8s_standin::UNSCHEDULABLE_LABEL
    );
    rig.trigger(&trigger(3, log_id, &unschedulable, json!({}))).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    let msg = result.handle_msg.unwrap();
    assert!(msg.contains("did not start within 1s: Unschedulable"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_at_create() {
    if crate::rig::needs_standin("API errors at create") {
        return;
    }
    let rig = Rig::start("api_timeout = 5").await;
    // 429 once, then success: the client's retry carries the execution through.
    rig.standin().fail_next(
        RequestMatch::verb(Verb::Create).on("pods"),
        1,
        Failure::code(429).retry_after(1),
    );
    let log_id = next_log_id();
    rig.trigger(&trigger(1, log_id, &pod("retry", "echo ok"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);

    // A server error is the execution's failure, worded with the object and the status.
    rig.standin().fail_next(
        RequestMatch::verb(Verb::Create).on("pods"),
        1,
        Failure::code(500).message("etcd is sad"),
    );
    let log_id = next_log_id();
    rig.trigger(&trigger(2, log_id, &pod("broken", "true"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (
            500,
            Some(format!("kubernetes API error creating pod default/broken-{log_id}: 500 InternalError: etcd is sad").as_str())
        )
    );

    // Unreachable for longer than api_timeout: a clear failure, and nothing left behind.
    rig.standin().set_unreachable(true);
    let log_id = next_log_id();
    rig.trigger(&trigger(3, log_id, &pod("gone", "true"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    rig.standin().set_unreachable(false);
    assert_eq!(result.handle_code, 500);
    assert!(result.handle_msg.unwrap().starts_with(&format!(
        "kubernetes API error creating pod default/gone-{log_id}: "
    )),);
    assert!(!rig.pod_names().await.contains(&format!("gone-{log_id}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_log_permission_fails_triggers_with_the_rbac_text() {
    if crate::rig::needs_standin("the missing log permission") {
        return;
    }
    let standin_options = Options::default();
    let mut rig = Rig::start_with(standin_options, "").await;
    rig.stop_executor().await;
    rig.standin()
        .set_access(AccessRule::new("get", "pods/log"), false);
    rig.start_executor().await;
    let missing = rig.kubernetes.as_ref().unwrap().missing_permissions().to_vec();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        missing[0].message(),
        "kubernetes RBAC: missing get pods/log in default"
    );
    let log_id = next_log_id();
    rig.trigger(&trigger(1, log_id, &pod("denied", "true"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some("kubernetes RBAC: missing get pods/log in default"))
    );
    // The executor stays alive for the admin.
    assert_eq!(rig.admin.beat(&rig.address()).await.code(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_watch_mid_run_still_completes() {
    if crate::rig::needs_standin("the expired watch") {
        return;
    }
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    let request = trigger(
        1,
        log_id,
        &pod("expire", "echo a; sleep 1.5; echo b; exit 4"),
        json!({}),
    );
    rig.trigger(&request).await;
    assert!(
        wait_until(wait(), || async { rig.log_text(&request).contains("\na\n") }).await,
        "pod never ran"
    );
    rig.standin().expire_watches();
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    assert!(result.handle_msg.unwrap().contains("exit 4"));
}
