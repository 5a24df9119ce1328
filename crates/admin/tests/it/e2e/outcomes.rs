//! How executions end: fail retries with backoff, child jobs, timeouts, kills and lost results.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::json;
use xjob_admin::registry::LOST_RESULT_MESSAGE;

use super::{Node, Rig, on_every_engine};

const APP: &str = "e2e-outcomes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_are_retried_with_growing_intervals() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let job = rig
            .job(
                group,
                "fail",
                json!({"executorFailRetryCount": 3, "failRetryInterval": 1, "failRetryBackoff": true}),
            )
            .await;
        rig.trigger(job, Some("again")).await;
        let rows = rig
            .logs_when(job, "ran out of retries", |rows| {
                rows.len() == 4
                    && rows
                        .iter()
                        .all(|row| row.trigger.code == 200 && row.handle.code == 500)
            })
            .await;

        let counts: Vec<i32> = rows
            .iter()
            .map(|row| row.trigger.executor_fail_retry_count)
            .collect();
        assert_eq!(counts, [3, 2, 1, 0], "{engine:?}: retries left, per attempt");
        for row in &rows[1..] {
            let msg = row.trigger.msg.as_deref().unwrap();
            assert!(msg.contains("Fail retry trigger"), "{engine:?}: {msg}");
            assert_eq!(row.trigger.executor_param.as_deref(), Some("again"));
        }
        // Each retry waits its interval after the failure it repeats: 1 s, 2 s, 4 s.
        for (attempt, pair) in rows.windows(2).enumerate() {
            let failed = pair[0].handle.time.unwrap();
            let retried = pair[1].trigger_time.unwrap();
            let delay = TimeDelta::seconds(1 << attempt);
            assert!(
                retried - failed >= delay,
                "{engine:?}: retry {} came {:?} after the failure, before its {delay:?}",
                attempt + 1,
                retried - failed
            );
        }
        let mut calls = node.calls();
        calls.sort_by_key(|call| call.log_id);
        assert_eq!(calls.len(), 4);
        let gaps: Vec<i64> = calls
            .windows(2)
            .map(|pair| pair[1].at_ms - pair[0].at_ms)
            .collect();
        assert!(gaps[2] > gaps[0], "{engine:?}: the gaps grow: {gaps:?} ms");

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_fires_the_child_jobs_and_a_failure_does_not() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let child_of_success = rig.job(group, "record", json!({"name": "child one"})).await;
        let child_of_failure = rig.job(group, "record", json!({"name": "child two"})).await;
        let failing = rig
            .job(
                group,
                "panic",
                json!({"name": "failing parent", "childJobId": child_of_failure.0.to_string()}),
            )
            .await;
        let succeeding = rig
            .job(
                group,
                "record",
                json!({"name": "parent", "childJobId": child_of_success.0.to_string()}),
            )
            .await;

        let failed = rig.trigger(failing, None).await;
        let failed = rig.finished(failed[0]).await;
        assert_eq!(
            failed.handle.code, 500,
            "{engine:?}: a panicking handler fails: {failed:#?}"
        );
        let parent = rig.trigger(succeeding, None).await;
        let parent = rig.finished(parent[0]).await;
        assert_eq!(parent.handle.code, 200);

        let children = rig
            .logs_when(child_of_success, "fired by its parent", |rows| {
                rows.len() == 1 && rows[0].handle.code == 200
            })
            .await;
        let msg = children[0].trigger.msg.as_deref().unwrap();
        assert!(msg.contains("Parent job trigger"), "{engine:?}: {msg}");
        node.call_for(children[0].id).await;
        // The failed parent finished before the successful one; its child would have fired by now.
        assert!(
            rig.logs(child_of_failure).await.is_empty(),
            "{engine:?}: a failure fired its child"
        );
        assert_eq!(
            rig.logs(child_of_success).await.len(),
            1,
            "{engine:?}: the child fired once"
        );

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_kills_end_running_executions() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;

        let slow = rig
            .job(group, "sleep", json!({"name": "slow", "executorTimeout": 1}))
            .await;
        let timed_out = rig.trigger(slow, None).await;
        let killed_job = rig.job(group, "sleep", json!({"name": "killed"})).await;
        let killed = rig.trigger(killed_job, None).await;

        let row = rig.finished(timed_out[0]).await;
        assert_eq!(row.handle.code, 502, "{engine:?}: timeout result: {row:#?}");
        let call = node.call_for(timed_out[0]).await;
        assert_eq!(call.cancelled.as_deref(), Some("Some(TimedOut)"));

        node.call_for(killed[0]).await;
        let answer = rig
            .api(Method::POST, &format!("/api/v1/logs/{}/kill", killed[0].0), None)
            .await;
        assert!(answer["message"].is_string(), "{answer}");
        let row = rig.finished(killed[0]).await;
        assert_eq!(row.handle.code, 500, "{engine:?}: killed: {row:#?}");
        let cancelled = xjob_test_support::wait_until(super::WAIT, || async {
            node.calls()
                .iter()
                .any(|call| call.log_id == killed[0].0 && call.cancelled.as_deref() == Some("Some(Killed)"))
        })
        .await;
        assert!(
            cancelled,
            "{engine:?}: the handler saw the kill: {:?}",
            node.calls()
        );
        // The executor's own report of the kill does not turn the row back.
        let row = rig.store().log(killed[0]).await.unwrap().unwrap();
        assert_eq!(row.handle.code, 500);

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_lost_with_its_executor_fails_the_row() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start_crashable(APP, &rig.context_path_url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let job = rig.job(group, "sleep", json!({})).await;
        let ids = rig.trigger(job, None).await;
        node.call_for(ids[0]).await;
        let row = rig.store().log(ids[0]).await.unwrap().unwrap();
        assert_eq!(
            (row.trigger.code, row.handle.code),
            (200, 0),
            "{engine:?}: running"
        );

        node.crash();
        rig.addresses_become(group, &[]).await;
        let row = rig.finished(ids[0]).await;
        assert_eq!(row.handle.code, 500, "{engine:?}: {row:#?}");
        assert_eq!(row.handle.msg.as_deref(), Some(LOST_RESULT_MESSAGE));

        rig.shutdown().await;
    })
    .await;
}
