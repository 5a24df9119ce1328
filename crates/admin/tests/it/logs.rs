//! Trigger logs: batch creation, the trigger/result/alarm steps, pages, clearing, monitors, reports.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeDelta};
use xjob_admin::model::{
    AlarmStatus, ClearType, JobGroupId, JobId, LogCounts, LogHandle, LogId, LogStatus, LogTrigger, NewJobLog,
};
use xjob_admin::store::{LogFilter, Page, Store};

use crate::support::{each_store, now};

fn new_log(job_id: i32, seconds_ago: i64) -> NewJobLog {
    NewJobLog {
        job_group: JobGroupId(if job_id % 2 == 0 { 2 } else { 1 }),
        job_id: JobId(job_id),
        trigger_time: now() - TimeDelta::seconds(seconds_ago),
    }
}

fn accepted(address: &str) -> LogTrigger {
    LogTrigger {
        executor_address: Some(address.into()),
        executor_handler: Some("demoJobHandler".into()),
        executor_param: Some("p".into()),
        executor_sharding_param: Some("0/2".into()),
        executor_fail_retry_count: 1,
        code: 200,
        msg: Some("Trigger type：Cron<br>…".into()),
    }
}

fn handled(code: i32, message: &str) -> LogHandle {
    LogHandle {
        time: Some(now() + TimeDelta::seconds(3)),
        code,
        msg: Some(message.into()),
    }
}

#[tokio::test]
async fn batch_insert_returns_ids_in_order() {
    each_store(|store, _| async move {
        let logs: Vec<NewJobLog> = (0..2500)
            .map(|index| new_log(1 + index % 7, i64::from(index)))
            .collect();
        let ids = store.insert_logs(&logs).await.unwrap();
        assert_eq!(ids.len(), 2500);
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids ascend");
        for (index, id) in ids.iter().enumerate().step_by(499) {
            let log = store.log(*id).await.unwrap().unwrap();
            assert_eq!(log.job_id, logs[index].job_id, "row {index}");
            assert_eq!(log.trigger_time, Some(logs[index].trigger_time), "row {index}");
            assert_eq!((log.trigger.code, log.handle.code), (0, 0));
            assert_eq!(log.alarm_status, AlarmStatus::Default);
        }
        // Sub-second trigger times are stored truncated to the second.
        let precise = NewJobLog {
            trigger_time: now() + TimeDelta::milliseconds(999),
            ..new_log(1, 0)
        };
        let id = store.insert_log(&precise).await.unwrap();
        assert!(id > ids[2499]);
        assert_eq!(store.log(id).await.unwrap().unwrap().trigger_time, Some(now()));
        assert!(store.insert_logs(&[]).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn trigger_result_and_alarm_steps() {
    each_store(|store, _| async move {
        let id = store.insert_log(&new_log(1, 0)).await.unwrap();
        assert!(
            store
                .update_log_trigger(id, &accepted("http://a:9999/"))
                .await
                .unwrap()
        );
        let log = store.log(id).await.unwrap().unwrap();
        assert_eq!(log.trigger, accepted("http://a:9999/"));

        // The first result wins; a repeated callback changes nothing.
        assert!(store.complete_log(id, &handled(500, "boom")).await.unwrap());
        assert!(
            !store
                .complete_log(id, &handled(200, "late success"))
                .await
                .unwrap()
        );
        let log = store.log(id).await.unwrap().unwrap();
        assert_eq!(log.handle, handled(500, "boom"));
        assert!(log.is_failed());

        assert_eq!(store.failed_log_ids(10).await.unwrap(), [id]);
        assert!(
            store
                .claim_alarm(id, AlarmStatus::Default, AlarmStatus::Locked)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_alarm(id, AlarmStatus::Default, AlarmStatus::Locked)
                .await
                .unwrap()
        );
        assert!(store.failed_log_ids(10).await.unwrap().is_empty());
        assert!(
            store
                .claim_alarm(id, AlarmStatus::Locked, AlarmStatus::Sent)
                .await
                .unwrap()
        );
        assert_eq!(
            store.log(id).await.unwrap().unwrap().alarm_status,
            AlarmStatus::Sent
        );
        assert!(
            store
                .log(xjob_admin::model::LogId(id.0 + 100))
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

/// Six logs of jobs 1 (group 1) and 2 (group 2) in every state; returns their ids.
async fn seed_states(store: &Store) -> Vec<xjob_admin::model::LogId> {
    let ids = store
        .insert_logs(&[
            new_log(1, 600),
            new_log(1, 500),
            new_log(2, 400),
            new_log(2, 300),
            new_log(1, 200),
            new_log(2, 100),
        ])
        .await
        .unwrap();
    // 0: success; 1: execution failed; 2: trigger failed; 3: running; 4: in progress (code 0); 5: timeout.
    store
        .update_log_trigger(ids[0], &accepted("http://a:9999/"))
        .await
        .unwrap();
    store.complete_log(ids[0], &handled(200, "ok")).await.unwrap();
    store
        .update_log_trigger(ids[1], &accepted("http://a:9999/"))
        .await
        .unwrap();
    store.complete_log(ids[1], &handled(500, "failed")).await.unwrap();
    store
        .update_log_trigger(
            ids[2],
            &LogTrigger {
                code: 500,
                ..LogTrigger::default()
            },
        )
        .await
        .unwrap();
    store
        .update_log_trigger(ids[3], &accepted("http://gone:9999/"))
        .await
        .unwrap();
    store
        .update_log_trigger(ids[5], &accepted("http://a:9999/"))
        .await
        .unwrap();
    store
        .complete_log(ids[5], &handled(502, "timeout"))
        .await
        .unwrap();
    ids
}

#[tokio::test]
async fn pages_filter_by_group_job_time_and_status() {
    each_store(|store, _| async move {
        let ids = seed_states(&store).await;
        let page = |filter: LogFilter| {
            let store = store.clone();
            async move {
                let page = store.logs_page(&filter, Page::first(100)).await.unwrap();
                assert_eq!(page.total as usize, page.rows.len());
                page.rows.into_iter().map(|log| log.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            page(LogFilter::default()).await,
            ids.iter().rev().copied().collect::<Vec<_>>()
        );
        let status = |status| LogFilter {
            status,
            ..LogFilter::default()
        };
        assert_eq!(page(status(LogStatus::Success)).await, [ids[0]]);
        assert_eq!(page(status(LogStatus::Failed)).await, [ids[5], ids[2], ids[1]]);
        assert_eq!(page(status(LogStatus::Running)).await, [ids[3]]);
        let group = LogFilter {
            job_group: Some(JobGroupId(2)),
            ..LogFilter::default()
        };
        assert_eq!(page(group).await, [ids[5], ids[3], ids[2]]);
        let job_and_time = LogFilter {
            job_id: Some(JobId(1)),
            trigger_from: Some(now() - TimeDelta::seconds(500)),
            trigger_to: Some(now() - TimeDelta::seconds(200)),
            ..LogFilter::default()
        };
        assert_eq!(page(job_and_time).await, [ids[4], ids[1]]);
        let second = store
            .logs_page(&LogFilter::default(), Page { offset: 2, limit: 2 })
            .await
            .unwrap();
        assert_eq!(second.total, 6);
        assert_eq!(
            second.rows.iter().map(|log| log.id).collect::<Vec<_>>(),
            [ids[3], ids[2]]
        );

        // The fail monitor sees the three failures, by id.
        assert_eq!(store.failed_log_ids(2).await.unwrap(), [ids[1], ids[2]]);
        assert_eq!(store.failed_log_ids(10).await.unwrap(), [ids[1], ids[2], ids[5]]);
    })
    .await;
}

#[tokio::test]
async fn lost_results_are_those_without_registration() {
    each_store(|store, _| async move {
        let ids = seed_states(&store).await;
        store
            .upsert_registry("EXECUTOR", "app", "http://a:9999/", now())
            .await
            .unwrap();
        let running_alive = store.insert_log(&new_log(1, 900)).await.unwrap();
        store
            .update_log_trigger(running_alive, &accepted("http://a:9999/"))
            .await
            .unwrap();
        // Only the log on an unregistered address counts, and only once it is old enough.
        assert_eq!(store.lost_log_ids(now()).await.unwrap(), [ids[3]]);
        assert!(
            store
                .lost_log_ids(now() - TimeDelta::seconds(301))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn clear_types_and_retention() {
    each_store(|store, _| async move {
        // Job 1: logs 10, 40 and 100 days old; job 3: one 400 days old; job 2 (group 2): 5 recent.
        let day = 24 * 3600;
        let mut logs = vec![
            new_log(1, 10 * day),
            new_log(1, 40 * day),
            new_log(1, 100 * day),
            new_log(3, 400 * day),
        ];
        logs.extend((0..5).map(|index| new_log(2, index)));
        let ids = store.insert_logs(&logs).await.unwrap();
        let remaining = |store: Store| async move {
            let page = store
                .logs_page(&LogFilter::default(), Page::first(100))
                .await
                .unwrap();
            page.rows.into_iter().map(|log| log.id).collect::<BTreeSet<_>>()
        };

        // Type 1 (older than a month) for job 1 only.
        let one_month = ClearType::from_code(1).unwrap();
        assert_eq!(
            store
                .clear_logs(None, Some(JobId(1)), one_month, now())
                .await
                .unwrap(),
            2
        );
        assert!(!remaining(store.clone()).await.contains(&ids[1]));
        assert!(remaining(store.clone()).await.contains(&ids[3]));

        // Type 5 (keep the newest 1000) deletes nothing; keeping 2 of group 2 deletes its 3 oldest.
        assert_eq!(
            store
                .clear_logs(Some(JobGroupId(2)), None, ClearType::from_code(5).unwrap(), now())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .clear_logs(Some(JobGroupId(2)), None, ClearType::KeepNewest(2), now())
                .await
                .unwrap(),
            3
        );
        let left = remaining(store.clone()).await;
        assert!(left.contains(&ids[4]) && left.contains(&ids[5]) && !left.contains(&ids[6]));

        // Retention: everything triggered 365 days ago or earlier.
        assert_eq!(
            store
                .delete_logs_before(now() - TimeDelta::seconds(365 * day))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            remaining(store.clone()).await,
            BTreeSet::from([ids[0], ids[4], ids[5]])
        );

        // Type 9 for job 2 clears it; the rest stays.
        assert_eq!(
            store
                .clear_logs(None, Some(JobId(2)), ClearType::All, now())
                .await
                .unwrap(),
            2
        );
        assert_eq!(remaining(store.clone()).await, BTreeSet::from([ids[0]]));
    })
    .await;
}

#[tokio::test]
async fn clearing_more_than_one_batch() {
    each_store(|store, _| async move {
        let logs: Vec<NewJobLog> = (0..2300).map(|index| new_log(1, i64::from(index))).collect();
        let ids = store.insert_logs(&logs).await.unwrap();
        assert_eq!(
            store
                .clear_logs(None, None, ClearType::KeepNewest(1000), now())
                .await
                .unwrap(),
            1300
        );
        let page = store
            .logs_page(&LogFilter::default(), Page::first(1))
            .await
            .unwrap();
        assert_eq!(page.total, 1000);
        // The newest by trigger time are the first inserted (smallest "seconds ago").
        assert_eq!(page.rows[0].id, ids[999]);
    })
    .await;
}

#[tokio::test]
async fn daily_reports() {
    each_store(|store, _| async move {
        seed_states(&store).await;
        // A log of the previous day in the admin's zone (Shanghai: now is 10:00, so 11 hours ago).
        let yesterday_log = store.insert_log(&new_log(1, 11 * 3600)).await.unwrap();
        store
            .update_log_trigger(yesterday_log, &accepted("http://a:9999/"))
            .await
            .unwrap();
        store
            .complete_log(yesterday_log, &handled(200, "ok"))
            .await
            .unwrap();

        let today = NaiveDate::from_ymd_opt(2026, 6, 19).unwrap();
        let yesterday = today.pred_opt().unwrap();
        let counts = store.refresh_report(today, now()).await.unwrap();
        assert_eq!(
            counts,
            LogCounts {
                running: 2,
                success: 1,
                failed: 3
            }
        );
        assert_eq!(
            store.refresh_report(yesterday, now()).await.unwrap(),
            LogCounts {
                running: 0,
                success: 1,
                failed: 0
            }
        );
        // Recomputing overwrites the same row.
        store
            .complete_log(xjob_admin::model::LogId(yesterday_log.0), &handled(200, "x"))
            .await
            .unwrap();
        let later = now() + TimeDelta::seconds(60);
        assert_eq!(store.refresh_report(today, later).await.unwrap().total(), 6);

        let reports = store.reports(yesterday, today).await.unwrap();
        assert_eq!(
            reports
                .iter()
                .map(|report| report.trigger_day)
                .collect::<Vec<_>>(),
            [yesterday, today]
        );
        assert_eq!(
            reports[1].counts,
            LogCounts {
                running: 2,
                success: 1,
                failed: 3
            }
        );
        assert_eq!(reports[1].update_time, Some(later));
        assert!(
            store
                .reports(today.succ_opt().unwrap(), today.succ_opt().unwrap())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.report_totals().await.unwrap(),
            LogCounts {
                running: 2,
                success: 2,
                failed: 3
            }
        );
        let direct = store
            .log_counts(now() - TimeDelta::seconds(700), now())
            .await
            .unwrap();
        assert_eq!(direct.total(), 6);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_results_and_claims_have_one_winner() {
    each_store(|store, _| async move {
        let id = store.insert_log(&new_log(1, 0)).await.unwrap();
        store
            .update_log_trigger(id, &accepted("http://a:9999/"))
            .await
            .unwrap();
        // Eight callbacks for one log race; exactly one result is recorded.
        let callbacks: Vec<_> = (0..8)
            .map(|attempt| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .complete_log(id, &handled(500, &format!("attempt {attempt}")))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for (attempt, callback) in callbacks.into_iter().enumerate() {
            if callback.await.unwrap() {
                winners.push(attempt);
            }
        }
        assert_eq!(winners.len(), 1);
        let stored = store.log(id).await.unwrap().unwrap();
        assert_eq!(stored.handle.msg, Some(format!("attempt {}", winners[0])));
        // Eight monitors race for the alarm of the failed log; exactly one claims it.
        let claims: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_alarm(id, AlarmStatus::Default, AlarmStatus::Locked)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += usize::from(claim.await.unwrap());
        }
        assert_eq!(claimed, 1);
    })
    .await;
}

#[tokio::test]
async fn trigger_results_of_a_batch_larger_than_one_statement() {
    each_store(|store, _| async move {
        let ids = store
            .insert_logs(&(0..300).map(|index| new_log(1, index)).collect::<Vec<_>>())
            .await
            .unwrap();
        let updates: Vec<(LogId, LogTrigger)> = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                let mut trigger = accepted(&format!("http://e{index}:9999/"));
                trigger.code = if index % 3 == 0 { 500 } else { 200 };
                trigger.executor_param = (index % 2 == 0).then(|| format!("p{index}"));
                (*id, trigger)
            })
            .collect();
        assert_eq!(store.update_log_triggers(&updates).await.unwrap(), 300);
        for (id, trigger) in &updates {
            assert_eq!(&store.log(*id).await.unwrap().unwrap().trigger, trigger, "{id:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn batched_trigger_results_and_paged_failed_ids() {
    each_store(|store, _| async move {
        let ids = store
            .insert_logs(&(0..5).map(|index| new_log(1, index)).collect::<Vec<_>>())
            .await
            .unwrap();
        let mut failed = accepted("http://b:9999/");
        failed.code = 500;
        let updates: Vec<(LogId, LogTrigger)> = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                (
                    *id,
                    if index % 2 == 0 {
                        failed.clone()
                    } else {
                        accepted("http://a:9999/")
                    },
                )
            })
            .chain([(LogId(ids[4].0 + 100), failed.clone())])
            .collect();
        assert_eq!(
            store.update_log_triggers(&updates).await.unwrap(),
            5,
            "the missing row is not counted"
        );
        assert_eq!(store.update_log_triggers(&[]).await.unwrap(), 0);
        for (index, id) in ids.iter().enumerate() {
            let log = store.log(*id).await.unwrap().unwrap();
            assert_eq!(log.trigger, updates[index].1, "row {index}");
        }
        assert_eq!(
            store.failed_log_ids_from(LogId(0), 10).await.unwrap(),
            [ids[0], ids[2], ids[4]]
        );
        assert_eq!(store.failed_log_ids_from(ids[1], 1).await.unwrap(), [ids[2]]);
        assert_eq!(
            store.failed_log_ids_from(LogId(ids[4].0 + 1), 10).await.unwrap(),
            []
        );
        // Three rows make a statement of four on SQLite, the last row repeated: it counts once.
        let again: Vec<(LogId, LogTrigger)> = ids[..3]
            .iter()
            .map(|id| (*id, accepted("http://c:9999/")))
            .collect();
        assert_eq!(store.update_log_triggers(&again).await.unwrap(), 3);
        for (id, trigger) in &again {
            assert_eq!(&store.log(*id).await.unwrap().unwrap().trigger, trigger);
        }
    })
    .await;
}
