//! The janitor: orphans after a crash are adopted (log continued without duplicates, one result) or deleted
//! and reported; a kill reaches an adopted execution; objects kept by the cleanup policy go after their
//! retention.

use std::time::Duration;

use serde_json::json;
use xjob_test_support::wait_until;

use crate::rig::{Rig, next_log_id, pod, trigger, wait};

/// Runs an executor on its own runtime and then drops that runtime: every task of the executor ends at
/// once without any shutdown step, as in a crash, while the pod keeps running.
async fn crash_mid_run(rig: &Rig, request: &xjob_protocol::TriggerRequest, until_line: &str) {
    let client = rig.client();
    let admin_config = crate::rig::executor_config(&rig.admin, rig.logs.path());
    let settings = rig.settings();
    let request = request.clone();
    let log_file = rig.log_file(&request);
    let address = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = address.clone();
    runtime.spawn(async move {
        let kubernetes = xjob_k8s_executor::KubernetesExecutor::with_client(client, settings).await;
        let executor = xjob_executor::Executor::builder(admin_config)
            .handler_arc(xjob_k8s_executor::HANDLER_NAME, kubernetes.handler())
            .start()
            .await
            .unwrap();
        *started.lock().unwrap() = executor.address().to_owned();
        std::future::pending::<()>().await;
        drop((executor, kubernetes));
    });
    assert!(
        wait_until(wait(), || async { !address.lock().unwrap().is_empty() }).await,
        "crashing executor did not start"
    );
    let executor_address = address.lock().unwrap().clone();
    let reply = rig.admin.trigger(&executor_address, &request).await;
    assert_eq!(reply.code(), 200);
    let until_line = until_line.to_owned();
    assert!(
        wait_until(wait(), || async {
            let text = std::fs::read_to_string(&log_file).unwrap_or_default();
            text.lines().any(|line| line == until_line)
        })
        .await,
        "line {until_line} never copied"
    );
    tokio::task::spawn_blocking(move || runtime.shutdown_background())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_the_running_pod_and_continues_its_log() {
    let config = "orphan_grace = 0\njanitor_interval = \"300ms\"";
    let mut rig = Rig::start(config).await;
    rig.stop_executor().await;
    let log_id = next_log_id();
    let script = "i=1; while [ $i -le 12 ]; do echo step-$i; i=$((i+1)); sleep 0.25; done";
    let request = trigger(1, log_id, &pod("adopted", script), json!({}));
    crash_mid_run(&rig, &request, "step-3").await;
    assert!(
        rig.pod_names().await.contains(&format!("adopted-{log_id}")),
        "pod should keep running"
    );

    rig.start_executor().await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 200, "{:?}", result.handle_msg);
    let log = rig.log_text(&request);
    for i in 1..=12 {
        let line = format!("step-{i}");
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line} in\n{log}");
    }
    assert!(log.contains("executor restarted; resuming pod"), "{log}");
    assert!(rig.wait_no_pod(&format!("adopted-{log_id}")).await);
    assert_eq!(
        rig.admin
            .callbacks()
            .iter()
            .filter(|c| c.log_id.0 == log_id)
            .count(),
        1,
        "one result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_reaches_an_adopted_execution() {
    let config = "orphan_grace = 0\njanitor_interval = \"300ms\"\nkill_grace_period = 1";
    let mut rig = Rig::start(config).await;
    rig.stop_executor().await;
    let log_id = next_log_id();
    let job_id = 31;
    let script = "echo up; sleep 300";
    let request = trigger(job_id, log_id, &pod("killme", script), json!({}));
    crash_mid_run(&rig, &request, "up").await;

    rig.start_executor().await;
    assert!(
        wait_until(wait(), || async {
            rig.log_text(&request)
                .contains("executor restarted; resuming pod")
        })
        .await,
        "the orphan was not adopted"
    );
    let reply = rig.admin.kill(&rig.address(), job_id).await;
    assert_eq!(reply.code(), 200);
    assert_eq!(
        reply.json["data"],
        serde_json::Value::Null,
        "the kill must find the adopted execution"
    );
    let result = rig.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (500, Some("scheduling center kill job. [job running, killed]"))
    );
    assert!(
        rig.wait_no_pod(&format!("killme-{log_id}")).await,
        "pod not deleted"
    );

    // Nothing is tracked any more: a second kill finds no execution.
    let again = rig.admin.kill(&rig.address(), job_id).await;
    assert_eq!(again.json["data"], "job thread already killed.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_delete_policy_removes_the_orphan() {
    let config =
        "orphan_grace = 0\njanitor_interval = \"300ms\"\norphan_policy = \"delete\"\nkill_grace_period = 0";
    let mut rig = Rig::start(config).await;
    rig.stop_executor().await;
    let log_id = next_log_id();
    let request = trigger(1, log_id, &pod("orphan", "echo up; sleep 30"), json!({}));
    crash_mid_run(&rig, &request, "up").await;
    rig.start_executor().await;
    let result = rig.result(log_id).await;
    assert_eq!(
        (result.handle_code, result.handle_msg.as_deref()),
        (
            500,
            Some(
                format!(
                    "executor restarted; pod {}/orphan-{log_id} removed by janitor",
                    rig.namespace()
                )
                .as_str()
            )
        )
    );
    assert!(rig.wait_no_pod(&format!("orphan-{log_id}")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_failure_is_removed_after_retention() {
    let config = "cleanup = \"on-success\"\nretain_finished = 2\njanitor_interval = \"300ms\"";
    let rig = Rig::start(config).await;
    let log_id = next_log_id();
    rig.trigger(&trigger(1, log_id, &pod("kept", "exit 1"), json!({})))
        .await;
    let result = rig.result(log_id).await;
    assert_eq!(result.handle_code, 500);
    let name = format!("kept-{log_id}");
    let stored = rig.pod_json(&name).await.unwrap();
    assert!(stored["metadata"]["annotations"]["xxl-job/retain-until"].is_string());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rig.pod_names().await.contains(&name),
        "removed before its retention"
    );
    assert!(rig.wait_no_pod(&name).await, "not removed after retention");
}
