//! Triggers planned through the job API for a later instant, as the composed admin fires them: once, at
//! their millisecond, as MANUAL triggers with their own parameter and executors; never when cancelled;
//! refused with 400 when the time or an address is wrong; handed back by a shutdown that had claimed
//! them and fired by the restarted admin (at once when their time passed meanwhile, not at all when
//! their job was deleted); once even with two admins on one database; and recorded as failed when
//! their chosen executor is gone by then.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use xjob_admin::model::{JobId, JobLog, NewPlannedTrigger, PlannedTriggerId};
use xjob_test_support::db::{Engine, TestDatabase};
use xjob_test_support::wait_until;

use super::{Node, Rig, WAIT, admin_config, now_ms, on_every_engine};

const APP: &str = "e2e-planned";

/// RFC 3339 of a Unix millisecond, with an offset other than UTC so the conversion is exercised.
fn rfc3339(ms: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(3600).unwrap();
    DateTime::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// Plans a trigger of `job` at `at_ms`; returns its id after checking the 202 answer.
async fn plan(rig: &Rig, job: JobId, at_ms: i64, body: Value) -> PlannedTriggerId {
    let mut body = body;
    body["triggerTime"] = json!(rfc3339(at_ms));
    let (status, answer) = rig
        .call(
            Method::POST,
            &format!("/api/v1/jobs/{}/trigger", job.0),
            Some(body),
        )
        .await;
    assert_eq!(status, 202, "{:?}: planning answered {answer}", rig.engine);
    let expected = DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    assert_eq!(answer["triggerTime"], json!(expected), "{:?}", rig.engine);
    PlannedTriggerId(answer["plannedTriggerId"].as_i64().unwrap())
}

/// The ids the API lists for `job`.
async fn listed(rig: &Rig, job: JobId) -> Vec<i64> {
    let list = rig
        .api(
            Method::GET,
            &format!("/api/v1/jobs/{}/planned-triggers", job.0),
            None,
        )
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// Checks a row of a planned trigger that ran: MANUAL, with `param`, no earlier than planned.
fn check_planned_row(engine: Engine, row: &JobLog, param: &str, planned_ms: i64) {
    assert_eq!(
        (row.trigger.code, row.handle.code),
        (200, 200),
        "{engine:?}: {row:?}"
    );
    assert_eq!(row.trigger.executor_param.as_deref(), Some(param), "{engine:?}");
    assert!(
        row.trigger.msg.as_deref().unwrap().contains("Manual trigger"),
        "{engine:?}: {row:?}"
    );
    // The stored trigger time has whole seconds.
    let trigger_ms = row.trigger_time.unwrap().timestamp_millis();
    assert!(
        trigger_ms >= planned_ms - planned_ms.rem_euclid(1000),
        "{engine:?}: triggered at {trigger_ms}, planned for {planned_ms}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_trigger_fires_once_at_its_time_and_a_cancelled_one_never() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let job = rig.job(group, "record", json!({"executorParam": "own"})).await;
        let trigger_path = format!("/api/v1/jobs/{}/trigger", job.0);

        // Refused: not RFC 3339 with an offset, too far ahead, an executor not registered.
        let far = now_ms() + 400 * 86_400_000;
        let soon = now_ms() + 60_000;
        let refused = [
            (json!({"triggerTime": "tomorrow"}), "triggerTime"),
            (json!({"triggerTime": "2030-11-24T08:00:00"}), "triggerTime"),
            (json!({"triggerTime": 1_900_000_000_000_i64}), "triggerTime"),
            (json!({"triggerTime": rfc3339(far)}), "triggerTime"),
            (
                json!({"triggerTime": rfc3339(soon), "addressList": ["http://169.254.169.254/"]}),
                "addressList",
            ),
        ];
        for (body, field) in refused {
            let (status, answer) = rig.call(Method::POST, &trigger_path, Some(body.clone())).await;
            assert_eq!(
                (status, answer["field"].as_str()),
                (400, Some(field)),
                "{engine:?}: {body}: {answer}"
            );
        }
        assert!(listed(&rig, job).await.is_empty(), "{engine:?}");

        // A time already past is a trigger now, as without one.
        let answer = rig
            .api(
                Method::POST,
                &trigger_path,
                Some(json!({"triggerTime": "2020-01-01T00:00:00Z", "executorParam": "past"})),
            )
            .await;
        let past = rig
            .finished(xjob_admin::model::LogId(answer["logIds"][0].as_i64().unwrap()))
            .await;
        assert_eq!(past.trigger.executor_param.as_deref(), Some("past"), "{engine:?}");

        // One to cancel, due before the one that fires, so its absence is known once the other ran.
        let cancelled_at = now_ms() + 2_000;
        let cancelled = plan(&rig, job, cancelled_at, json!({"executorParam": "cancelled"})).await;
        let planned_at = now_ms() + 2_500;
        let planned = plan(
            &rig,
            job,
            planned_at,
            json!({"executorParam": "planned", "addressList": [node.address()]}),
        )
        .await;
        assert_eq!(listed(&rig, job).await, [cancelled.0, planned.0], "{engine:?}");
        let list = rig
            .api(
                Method::GET,
                &format!("/api/v1/jobs/{}/planned-triggers", job.0),
                None,
            )
            .await;
        assert_eq!(
            list["items"][1]["addressList"],
            json!([node.address()]),
            "{engine:?}"
        );
        assert_eq!(list["items"][1]["executorParam"], json!("planned"), "{engine:?}");
        let cancel = format!("/api/v1/planned-triggers/{}", cancelled.0);
        assert_eq!(rig.call(Method::DELETE, &cancel, None).await.0, 204, "{engine:?}");
        assert_eq!(rig.call(Method::DELETE, &cancel, None).await.0, 404, "{engine:?}");
        assert_eq!(listed(&rig, job).await, [planned.0], "{engine:?}");

        let rows = rig
            .logs_when(job, "ran the planned trigger", |rows| {
                rows.iter().any(|row| {
                    row.trigger.executor_param.as_deref() == Some("planned") && row.handle.code != 0
                })
            })
            .await;
        let fired: Vec<&JobLog> = rows.iter().filter(|row| row.id != past.id).collect();
        assert_eq!(fired.len(), 1, "{engine:?}: {fired:#?}");
        check_planned_row(engine, fired[0], "planned", planned_at);
        assert_eq!(
            fired[0].trigger.executor_address.as_deref(),
            Some(node.address().as_str()),
            "{engine:?}"
        );
        let call = node.call_for(fired[0].id).await;
        assert!(
            call.at_ms >= planned_at,
            "{engine:?}: ran at {} before {planned_at}",
            call.at_ms
        );
        assert_eq!(call.param, "planned", "{engine:?}");
        assert!(listed(&rig, job).await.is_empty(), "{engine:?}");
        let fired_path = format!("/api/v1/planned-triggers/{}", planned.0);
        assert_eq!(
            rig.call(Method::DELETE, &fired_path, None).await.0,
            404,
            "{engine:?}"
        );

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_trigger_claimed_at_shutdown_fires_once_after_the_restart() {
    on_every_engine(|engine| async move {
        let database = TestDatabase::create(engine).await;
        let mut config = admin_config(database.url());
        // A window of 5 s claims the trigger well before its time, leaving room to shut down in between.
        config.schedule_pre_read = Duration::from_secs(5);
        let mut rig = Rig::start_on(engine, config).await;
        rig._database = Some(database);
        let node = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[node.address()]).await;
        let job = rig.job(group, "record", json!({})).await;

        let planned_at = now_ms() + 8_000;
        let planned = plan(&rig, job, planned_at, json!({"executorParam": "restart"})).await;
        // Claimed by this admin's scheduler: the row is gone from the table.
        let claimed = wait_until(WAIT, || async {
            rig.store().planned_trigger(planned).await.unwrap().is_none()
        })
        .await;
        assert!(
            claimed,
            "{engine:?}: the scheduler never claimed the planned trigger"
        );
        assert!(rig.logs(job).await.is_empty(), "{engine:?}: fired early");

        // While no admin runs: one whose time passes meanwhile, and one whose job is deleted meanwhile
        // (as an upstream admin sharing the database would, without touching the new table).
        let orphan_job = JobId(job.0 + 1_000);
        rig.restart(|store| async move {
            assert!(
                now_ms() < planned_at,
                "{engine:?}: the shutdown took until the planned time"
            );
            let back = store.planned_trigger(planned).await.unwrap();
            assert_eq!(
                back.map(|trigger| (trigger.trigger_time, trigger.executor_param)),
                Some((planned_at, Some("restart".to_owned()))),
                "{engine:?}: the shutdown did not hand the trigger back"
            );
            for (job_id, param) in [(job, "late"), (orphan_job, "orphan")] {
                let trigger = NewPlannedTrigger {
                    job_id,
                    trigger_time: now_ms() - 3_600_000,
                    executor_param: Some(param.to_owned()),
                    address_list: Vec::new(),
                    created_by: "e2e".to_owned(),
                };
                store.insert_planned_trigger(&trigger, Utc::now()).await.unwrap();
            }
        })
        .await;

        // The late one fires at once, the orphan is dropped, the handed-back one fires once at its time;
        // a later one proves nothing else is coming.
        let sentinel_at = planned_at + 1_000;
        plan(&rig, job, sentinel_at, json!({"executorParam": "sentinel"})).await;
        let rows = rig
            .logs_when(job, "ran the sentinel", |rows| {
                rows.iter().any(|row| {
                    row.trigger.executor_param.as_deref() == Some("sentinel") && row.handle.code != 0
                })
            })
            .await;
        let params: Vec<_> = rows
            .iter()
            .map(|row| row.trigger.executor_param.clone())
            .collect();
        assert_eq!(
            params,
            [
                Some("late".to_owned()),
                Some("restart".to_owned()),
                Some("sentinel".to_owned())
            ],
            "{engine:?}"
        );
        check_planned_row(engine, &rows[0], "late", 0);
        assert!(
            node.call_for(rows[0].id).await.at_ms < planned_at,
            "{engine:?}: the late one waited"
        );
        check_planned_row(engine, &rows[1], "restart", planned_at);
        let call = node.call_for(rows[1].id).await;
        assert!(
            call.at_ms >= planned_at,
            "{engine:?}: ran at {} before {planned_at}",
            call.at_ms
        );
        assert!(
            rig.store().planned_triggers(orphan_job).await.unwrap().is_empty(),
            "{engine:?}"
        );
        assert!(rig.logs(orphan_job).await.is_empty(), "{engine:?}");

        node.stop().await;
        rig.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_on_one_database_fire_each_planned_trigger_once() {
    on_every_engine(|engine| async move {
        // Several processes on one SQLite file are covered by the scheduler's own tests.
        if engine == Engine::Sqlite {
            return;
        }
        let database = TestDatabase::create(engine).await;
        let first = Rig::start_on(engine, admin_config(database.url())).await;
        let second = Rig::start_on(engine, admin_config(database.url())).await;
        let node = Node::start(APP, &first.url()).await;
        let group = first.group(APP).await;
        first.addresses_become(group, &[node.address()]).await;
        second.addresses_become(group, &[node.address()]).await;
        let job = first.job(group, "record", json!({})).await;

        // Planned through either admin, two of them for the same millisecond.
        let start = now_ms() + 2_000;
        let mut expected = BTreeSet::new();
        for index in 0..6_i64 {
            let rig = if index % 2 == 0 { &first } else { &second };
            let param = format!("p{index}");
            plan(
                rig,
                job,
                start + (index / 2) * 300,
                json!({"executorParam": param}),
            )
            .await;
            expected.insert(param);
        }
        let last_at = start + 2_000;
        plan(&second, job, last_at, json!({"executorParam": "last"})).await;
        expected.insert("last".to_owned());

        let rows = first
            .logs_when(job, "ran the last planned trigger", |rows| {
                rows.iter()
                    .any(|row| row.trigger.executor_param.as_deref() == Some("last") && row.handle.code != 0)
            })
            .await;
        let params: Vec<String> = rows
            .iter()
            .map(|row| row.trigger.executor_param.clone().unwrap())
            .collect();
        assert_eq!(params.len(), expected.len(), "{engine:?}: {params:?}");
        assert_eq!(
            params.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{engine:?}"
        );
        assert!(first.store().planned_triggers(job).await.unwrap().is_empty());

        node.stop().await;
        first.shutdown().await;
        second.shutdown().await;
        drop(database);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_trigger_whose_executor_is_gone_is_recorded_as_failed() {
    on_every_engine(|engine| async move {
        let rig = Rig::start(engine).await;
        let staying = Node::start(APP, &rig.url()).await;
        let leaving = Node::start(APP, &rig.url()).await;
        let group = rig.group(APP).await;
        rig.addresses_become(group, &[staying.address(), leaving.address()])
            .await;
        let job = rig.job(group, "record", json!({})).await;

        let planned_at = now_ms() + 8_000;
        plan(
            &rig,
            job,
            planned_at,
            json!({"executorParam": "gone", "addressList": [leaving.address()]}),
        )
        .await;
        let gone = leaving.address();
        leaving.stop().await;
        rig.addresses_become(group, &[staying.address()]).await;
        assert!(
            Utc::now() < DateTime::from_timestamp_millis(planned_at).unwrap() - TimeDelta::milliseconds(100),
            "{engine:?}: the executor left too late for this scenario"
        );

        let rows = rig
            .logs_when(job, "recorded the planned trigger", |rows| {
                rows.iter().any(|row| row.trigger.code != 0)
            })
            .await;
        assert_eq!(rows.len(), 1, "{engine:?}: {rows:#?}");
        let row = &rows[0];
        assert_eq!(row.trigger.code, 500, "{engine:?}: {row:?}");
        assert_eq!(row.trigger.executor_address, None, "{engine:?}");
        assert_eq!(row.trigger.executor_param.as_deref(), Some("gone"), "{engine:?}");
        assert!(
            row.trigger
                .msg
                .as_deref()
                .unwrap()
                .contains("address list is empty"),
            "{engine:?}: {row:?}"
        );
        // Neither the one that left nor the one still there ran it.
        assert!(
            staying.calls().is_empty(),
            "{engine:?}: routed over the group instead"
        );
        assert!(!gone.is_empty());

        staying.stop().await;
        rig.shutdown().await;
    })
    .await;
}
