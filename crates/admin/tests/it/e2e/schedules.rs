//! Schedule types, misfire strategies and a restart, as the composed admin fires them.

use chrono::Utc;
use reqwest::Method;
use serde_json::json;
use xjob_admin::model::{JobId, JobLog, ScheduleState, TriggerStatus};
use xjob_admin::store::Store;
use xjob_test_support::db::Engine;
use xjob_test_support::wait_until;

use super::{Node, Rig, WAIT, on_every_engine};

const APP: &str = "e2e-schedules";

fn finished_ok(rows: &[JobLog]) -> bool {
    rows.iter()
        .all(|log| log.trigger.code == 200 && log.handle.code == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_and_fixed_rate_jobs_fire_and_none_runs_only_when_triggered() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;

        let cron = rig
            .job(
                group,
                "record",
                json!({"scheduleType": "CRON", "scheduleConf": "* * * * * ?"}),
            )
            .await;
        let rate = rig
            .job(
                group,
                "record",
                json!({"scheduleType": "FIX_RATE", "scheduleConf": "1"}),
            )
            .await;
        let none = rig.job(group, "record", json!({"executorParam": "own"})).await;
        let first_cron = rig.start_job(cron).await;
        rig.start_job(rate).await;
        let (status, answer) = rig
            .call(Method::POST, &format!("/api/v1/jobs/{}/start", none.0), None)
            .await;
        assert_eq!(status, 409, "{engine:?}: a NONE job cannot be started: {answer}");

        let cron_rows = rig
            .logs_when(cron, "fired twice", |rows| rows.len() >= 2 && finished_ok(rows))
            .await;
        let rate_rows = rig
            .logs_when(rate, "fired twice at a fixed rate", |rows| {
                rows.len() >= 2 && finished_ok(rows)
            })
            .await;
        rig.stop_job(cron).await;
        rig.stop_job(rate).await;

        // Each cron fire runs on or after its planned second, one second after the other.
        let calls = node.calls();
        for (index, row) in cron_rows.iter().enumerate() {
            let planned = first_cron + 1000 * index as i64;
            let call = calls.iter().find(|call| call.log_id == row.id.0).unwrap();
            assert!(
                call.at_ms >= planned,
                "{engine:?}: fire {index} ran at {} before its planned {planned}",
                call.at_ms
            );
            assert_eq!(
                row.trigger.executor_address.as_deref(),
                Some(node.address().as_str())
            );
            assert!(
                row.trigger.msg.as_deref().unwrap().contains("Cron trigger"),
                "{row:?}"
            );
        }
        // Fixed-rate fires are reported as cron triggers, as upstream does.
        assert!(
            rate_rows
                .iter()
                .all(|row| row.trigger.msg.as_deref().unwrap().contains("Cron trigger"))
        );

        // NONE never fired by itself; triggered, it runs with the given parameter.
        assert!(rig.logs(none).await.is_empty(), "{engine:?}: a NONE job fired");
        let ids = rig.trigger(none, Some("given")).await;
        let row = rig.finished(ids[0]).await;
        assert_eq!((row.trigger.code, row.handle.code), (200, 200));
        assert_eq!(row.trigger.executor_param.as_deref(), Some("given"));
        assert!(row.trigger.msg.as_deref().unwrap().contains("Manual trigger"));
        assert_eq!(node.call_for(ids[0]).await.param, "given");

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

/// Sets a job running with its next fire an hour ago.
async fn overdue(store: &Store, job: JobId) {
    let now = Utc::now();
    let hour_ago = now.timestamp_millis() - 3_600_000;
    let state = ScheduleState {
        status: TriggerStatus::Running,
        last_time: 0,
        next_time: hour_ago,
    };
    assert!(store.set_job_state(job, state, now).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misfired_jobs_found_at_start_follow_their_strategy() {
    on_every_engine(|engine| async move {
        let mut rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        // Once a year: the regular schedule does not fire during the test.
        let yearly = json!({"scheduleType": "CRON", "scheduleConf": "0 0 0 1 1 ?"});
        let mut skip = yearly.clone();
        skip["misfireStrategy"] = json!("DO_NOTHING");
        let mut once = yearly.clone();
        once["misfireStrategy"] = json!("FIRE_ONCE_NOW");
        let do_nothing = rig.job(group, "record", skip).await;
        let fire_once = rig.job(group, "record", once).await;
        // Fires every second once the admin is back: proof that passes ran after the misfires were seen.
        let canary = rig
            .job(
                group,
                "record",
                json!({"scheduleType": "CRON", "scheduleConf": "* * * * * ?"}),
            )
            .await;

        rig.restart(|store| async move {
            overdue(&store, do_nothing).await;
            overdue(&store, fire_once).await;
            let now = Utc::now().timestamp_millis();
            let state = ScheduleState {
                status: TriggerStatus::Running,
                last_time: 0,
                next_time: now - now % 1000 + 1000,
            };
            assert!(store.set_job_state(canary, state, Utc::now()).await.unwrap());
        })
        .await;
        let started = Utc::now().timestamp_millis();

        let rows = rig
            .logs_when(fire_once, "fired once for its misfire", |rows| {
                !rows.is_empty() && finished_ok(rows)
            })
            .await;
        rig.logs_when(canary, "fired three times", |rows| rows.len() >= 3)
            .await;
        rig.stop_job(canary).await;
        assert_eq!(
            rig.logs(fire_once).await.len(),
            1,
            "{engine:?}: exactly one compensation"
        );
        assert!(
            rows[0]
                .trigger
                .msg
                .as_deref()
                .unwrap()
                .contains("Misfire compensation trigger"),
            "{rows:?}"
        );
        node.call_for(rows[0].id).await;
        assert!(
            rig.logs(do_nothing).await.is_empty(),
            "{engine:?}: DO_NOTHING fired"
        );
        for job in [do_nothing, fire_once] {
            let job = rig.store().job(job).await.unwrap().unwrap();
            assert_eq!(job.state.status, TriggerStatus::Running);
            assert!(
                job.state.next_time > started,
                "{engine:?}: job {} next fire {} is not in the future",
                job.id.0,
                job.state.next_time
            );
        }

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_admin_fires_no_second_twice() {
    on_every_engine(|engine: Engine| async move {
        let mut rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let cron = rig
            .job(
                group,
                "record",
                json!({"scheduleType": "CRON", "scheduleConf": "* * * * * ?"}),
            )
            .await;
        rig.start_job(cron).await;
        rig.logs_when(cron, "fired", |rows| !rows.is_empty()).await;
        rig.restart(|_| async {}).await;
        let before = rig.logs(cron).await.len();
        rig.logs_when(cron, "fired twice after the restart", |rows| {
            rows.len() >= before + 2
        })
        .await;
        rig.stop_job(cron).await;
        // Let fires claimed before the stop run out, then compare.
        let calls_settle = wait_until(WAIT, || async {
            let rows = rig.logs(cron).await;
            rows.iter()
                .all(|row| row.trigger.code != 0 && row.handle.code != 0)
        })
        .await;
        assert!(calls_settle, "{engine:?}: every fire finishes");

        // At most one fire per second of the span, however the restart cut it.
        let rows = rig.logs(cron).await;
        let first = rows[0].trigger_time.unwrap().timestamp();
        let last = rows[rows.len() - 1].trigger_time.unwrap().timestamp();
        assert!(
            rows.len() as i64 <= last - first + 2,
            "{engine:?}: {} fires within {} s: {rows:#?}",
            rows.len(),
            last - first
        );
        let mut logs: Vec<i64> = node.calls().iter().map(|call| call.log_id).collect();
        logs.sort_unstable();
        logs.dedup();
        assert_eq!(
            logs.len(),
            node.calls().len(),
            "{engine:?}: an execution ran twice"
        );

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}
