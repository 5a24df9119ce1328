//! Executions from trigger to callback: results, live log lines, kill and timeout, repeated triggers,
//! broadcast, bad manifests.

use std::time::{Duration, Instant};

use serde_json::json;
use xjob_protocol::{LogId, LogRequest};
use xjob_test_support::wait_until;

use crate::rig::{Rig, next_log_id, pod, trigger, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_copies_lines_live_and_removes_the_pod() {
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    let script = "for i in 1 2 3; do echo line-$i; sleep 0.3; done";
    let request = trigger(1, log_id, &pod("lines", script), json!({}));
    rig.trigger(&request).await;

    // While the pod runs, the admin's /log already shows the first line but not yet the last.
    let name = format!("lines-{log_id}");
    let seen_live = std::sync::atomic::AtomicBool::new(false);
    let live = wait_until(wait(), || async {
        let page = rig
            .admin
            .log_page(
                &rig.address(),
                LogRequest {
                    log_date_time: request.log_date_time,
                    log_id: LogId(log_id),
                    from_line_num: 1,
                },
            )
            .await;
        let text = page.log_content;
        if text.contains("line-1") && !text.contains("line-3") {
            seen_live.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        text.contains("line-3")
    })
    .await;
    assert!(live, "log lines never appeared");
    assert!(seen_live.into_inner(), "lines were not visible while the pod ran");

    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let msg = result.handle_msg.unwrap();
    assert!(
        msg.starts_with(&format!("pod {}/{name} succeeded in ", rig.namespace())),
        "{msg}"
    );
    let log = rig.log_text(&request);
    for line in ["line-1", "line-2", "line-3"] {
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line} in {log}");
    }
    assert!(
        log.contains(&format!("created pod {}/{name}", rig.namespace())),
        "{log}"
    );
    assert!(rig.wait_no_pod(&name).await, "pod not removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_reports_exit_code_and_termination_message() {
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    // The stand-in names its termination-message file; a real kubelet reads the default path.
    let script = "echo 'disk full' > \"${STANDIN_TERMINATION_MESSAGE_PATH:-/dev/termination-log}\"; exit 3";
    rig.trigger(&trigger(1, log_id, &pod("fails", script), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    assert_eq!(
        result.handle_msg.as_deref(),
        Some(
            format!(
                "pod {}/fails-{log_id} failed: container main exit 3 (Error): disk full",
                rig.namespace()
            )
            .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_timeout_delete_the_pod() {
    let rig = Rig::start("kill_grace_period = 1").await;

    // Kill: the process gets SIGTERM (it writes a marker), the result is the kill text, the pod goes away.
    let log_id = next_log_id();
    let script = "trap 'echo got-term; exit 143' TERM; echo started; while true; do sleep 0.1; done";
    let request = trigger(7, log_id, &pod("killed", script), json!({}));
    rig.trigger(&request).await;
    let queued = trigger(7, next_log_id(), &pod("queued", "true"), json!({}));
    assert!(
        wait_until(wait(), || async { rig.log_text(&request).contains("started") }).await,
        "pod never started"
    );
    rig.trigger(&queued).await;
    let reply = rig.admin.kill(&rig.address(), 7).await;
    assert_eq!(reply.code(), 200);
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    assert_eq!(
        result.handle_msg.as_deref(),
        Some("scheduling center kill job. [job running, killed]")
    );
    let not_run = rig.result(queued.log_id.0).await;
    assert_eq!(not_run.handle_code, 500);
    assert!(
        rig.wait_no_pod(&format!("killed-{log_id}")).await,
        "killed pod left behind"
    );
    assert!(
        rig.log_text(&request).contains("got-term"),
        "{}",
        rig.log_text(&request)
    );

    // Timeout: 2 s on a 30 s sleep ends with 502 within about 3 s, and the pod goes away.
    let log_id = next_log_id();
    let started = Instant::now();
    rig.trigger(&trigger(
        8,
        log_id,
        &pod("slow", "sleep 30"),
        json!({"executorTimeout": 2}),
    ))
    .await;
    let result = rig.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (502, Some("job execute timeout "))
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        rig.wait_no_pod(&format!("slow-{log_id}")).await,
        "timed-out pod left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_trigger_follows_the_same_pod() {
    let mut rig = Rig::start("").await;
    let log_id = next_log_id();
    let request = trigger(3, log_id, &pod("again", "sleep 1; echo done"), json!({}));
    rig.trigger(&request).await;
    assert!(
        wait_until(wait(), || async {
            rig.pod_names().await.contains(&format!("again-{log_id}"))
        })
        .await,
        "pod not created"
    );
    // A second executor of the same instance gets the same trigger (the admin re-sent it elsewhere).
    let first = rig.executor.take().unwrap();
    let first_kubernetes = rig.kubernetes.take().unwrap();
    rig.start_executor().await;
    rig.trigger(&request).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    if let Some(standin) = rig.standin_opt() {
        let creates = standin
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
            .count();
        assert_eq!(creates, 2, "two create calls, one answered 409");
    }
    assert!(
        rig.log_text(&request)
            .contains("exists already for this execution")
    );
    first.shutdown().await;
    first_kubernetes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_runs_one_pod_per_shard_with_its_environment() {
    let rig = Rig::start("cleanup = \"never\"").await;
    let script = "echo shard=$XXL_JOB_SHARD_INDEX/$XXL_JOB_SHARD_TOTAL";
    let mut log_ids = Vec::new();
    for index in 0..3 {
        let log_id = next_log_id();
        log_ids.push(log_id);
        let request = trigger(
            20 + index,
            log_id,
            &pod("shard", script),
            json!({"broadcastIndex": index, "broadcastTotal": 3}),
        );
        rig.trigger(&request).await;
    }
    for (index, log_id) in log_ids.iter().enumerate() {
        let result = rig.result(*log_id).await;
        assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
        let stored = rig.pod_json(&format!("shard-{log_id}")).await.unwrap();
        assert_eq!(
            stored["metadata"]["labels"]["xxl-job/shard-index"],
            index.to_string()
        );
        assert_eq!(stored["metadata"]["labels"]["xxl-job/shard-total"], "3");
        assert!(stored["metadata"]["annotations"]["xxl-job/retain-until"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_fail_before_any_api_call() {
    let rig = Rig::start("").await;
    // Let the start-up permission checks and the janitor's first listing finish, then watch for requests
    // (recorded by the stand-in only).
    if let Some(standin) = rig.standin_opt() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        standin.clear_requests();
    }
    let cases = [
        (
            pod("x", "true").replace("image: busybox", "imag: busybox"),
            "invalid kubernetes manifest: spec.containers[0].imag: unknown field",
        ),
        (
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}".to_owned(),
            "invalid kubernetes manifest: unsupported CronJob (apiVersion batch/v1); expected a v1 Pod or a batch/v1 Job",
        ),
        (
            pod("x", "true").replace("spec:\n", "spec:\n  hostNetwork: true\n"),
            "kubernetes policy: spec.hostNetwork: host namespaces are not allowed",
        ),
    ];
    for (manifest, expected) in cases {
        let log_id = next_log_id();
        rig.trigger(&trigger(30, log_id, &manifest, json!({}))).await;
        let result = rig.result(log_id).await;
        assert_eq!(
            (result.handle_code, result.handle_msg.as_deref()),
            (500, Some(expected))
        );
    }
    if let Some(standin) = rig.standin_opt() {
        let writes: Vec<_> = standin
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect();
        assert!(writes.is_empty(), "unexpected API writes: {writes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_with_a_failing_index_lists_it_and_prefixes_logs_by_index() {
    let rig = Rig::start("").await;
    let log_id = next_log_id();
    let manifest = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: indexed}}\nspec:\n  completionMode: Indexed\n  completions: 4\n  parallelism: 2\n  backoffLimitPerIndex: 0\n  template:\n    spec:\n      containers:\n      - name: main\n        image: busybox\n        command: [sh, -c, {}]\n",
        serde_json::to_string(
            "echo index $JOB_COMPLETION_INDEX of $XXL_JOB_SHARD_TOTAL; if [ \"$JOB_COMPLETION_INDEX\" = 2 ]; then exit 1; fi"
        )
        .unwrap()
    );
    let request = trigger(1, log_id, &manifest, json!({}));
    rig.trigger(&request).await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500, "{:?}", result.handle_msg);
    let msg = result.handle_msg.unwrap_or_default();
    assert!(
        msg.starts_with(&format!("job {}/indexed-{log_id} failed: ", rig.namespace()))
            && msg.ends_with("; failed indexes 2"),
        "{msg}"
    );

    // Every index ran once (the failing one is not retried) and its output carries its index.
    let log = rig.log_text(&request);
    for index in 0..4 {
        let line = format!("[{index}] index {index} of 1");
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line} in {log}");
    }
}
