//! The fail-retry monitor over real trigger failures: retries with the remaining count, honours the
//! retry interval and its backoff, retries one broadcast shard, and marks each examined log.

use std::sync::Arc;

use chrono::TimeDelta;
use xjob_admin::model::{
    AlarmStatus, JobId, JobLog, LogHandle, LogId, NewJobLog, RetryPolicy, RouteStrategy,
};
use xjob_admin::store::Store;
use xjob_admin::trigger::retry::{FailAlarm, PassSummary, RetryMonitor, RetryOptions};
use xjob_test_support::wait_until;

use crate::support::each_store;
use crate::trigger_rig::{Rig, TestExecutor, WAIT};

/// The ids of a job's logs, ascending.
async fn logs_of(store: &Store, job: xjob_admin::model::JobId) -> Vec<JobLog> {
    let filter = xjob_admin::store::LogFilter {
        job_id: Some(job),
        ..Default::default()
    };
    let mut logs = store
        .logs_page(&filter, xjob_admin::store::Page::first(100))
        .await
        .unwrap()
        .rows;
    logs.sort_by_key(|log| log.id);
    logs
}

async fn settled_logs(rig: &Rig, job: xjob_admin::model::JobId, count: usize) -> Vec<JobLog> {
    assert!(
        wait_until(WAIT, || async {
            let logs = logs_of(&rig.store, job).await;
            logs.len() == count && logs.iter().all(|log| log.trigger.code != 0)
        })
        .await,
        "expected {count} settled logs"
    );
    logs_of(&rig.store, job).await
}

const RETRY_MARK: &str = ">>>>>>>>>>>Fail retry trigger<<<<<<<<<<<";

#[tokio::test]
async fn failed_triggers_are_retried_until_the_count_runs_out() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executor = TestExecutor::start(None).await;
        let group = rig.group(&[executor.address()]).await;
        let retry = RetryPolicy {
            count: 2,
            interval_seconds: None,
            backoff: false,
        };
        let job = rig.job_with(group, RouteStrategy::First, "nope", retry).await;
        let mut request =
            xjob_admin::trigger::TriggerRequest::new(job, xjob_admin::trigger::TriggerType::Manual);
        request.executor_param = Some("x=1".into());
        rig.trigger(request).await;
        let options = RetryOptions::default();
        let no_alarms: Vec<Arc<dyn FailAlarm>> = Vec::new();
        for (pass, remaining) in [(1, 2), (2, 1), (3, 0)] {
            let logs = settled_logs(&rig, job, pass).await;
            let newest = logs.last().unwrap();
            assert_eq!(newest.trigger.code, 500);
            assert_eq!(newest.trigger.executor_fail_retry_count, remaining, "pass {pass}");
            assert_eq!(newest.trigger.executor_param.as_deref(), Some("x=1"));
            if pass > 1 {
                assert!(
                    newest
                        .trigger
                        .msg
                        .as_deref()
                        .unwrap()
                        .starts_with("Trigger type：Fail retry trigger")
                );
            }
            let now = newest.trigger_time.unwrap() + TimeDelta::seconds(1);
            let summary = RetryMonitor::pass(&store, &rig.queue, &no_alarms, options, now)
                .await
                .unwrap();
            assert_eq!(
                summary,
                PassSummary {
                    handled: 1,
                    retried: u32::from(remaining > 0),
                    waiting: 0
                },
                "pass {pass}"
            );
        }
        let logs = settled_logs(&rig, job, 3).await;
        for (index, log) in logs.iter().enumerate() {
            assert_eq!(log.alarm_status, AlarmStatus::Sent, "log {index}");
            let retried = log
                .trigger
                .msg
                .as_deref()
                .unwrap()
                .ends_with(&format!("{RETRY_MARK} </span><br>"));
            assert_eq!(retried, index < 2, "log {index}");
        }
        // Nothing is left to examine.
        let now = logs[2].trigger_time.unwrap() + TimeDelta::seconds(1);
        let summary = RetryMonitor::pass(&store, &rig.queue, &no_alarms, options, now)
            .await
            .unwrap();
        assert_eq!(summary, PassSummary::default());
        rig.shutdown().await;
        executor.stop().await;
    })
    .await;
}

#[tokio::test]
async fn retries_wait_for_the_interval_with_backoff() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executor = TestExecutor::start(None).await;
        let group = rig.group(&[executor.address()]).await;
        let retry = RetryPolicy {
            count: 2,
            interval_seconds: Some(30),
            backoff: true,
        };
        let job = rig.job_with(group, RouteStrategy::First, "nope", retry).await;
        rig.manual(job).await;
        let options = RetryOptions::default();
        let alarms: Vec<Arc<dyn FailAlarm>> = Vec::new();
        // Attempt 1 waits 30 s, attempt 2 waits 60 s, from the failed trigger.
        for (pass, delay) in [(1, 30), (2, 60)] {
            let logs = settled_logs(&rig, job, pass).await;
            let failed = logs.last().unwrap();
            let failed_at = failed.trigger_time.unwrap();
            let early = failed_at + TimeDelta::seconds(delay - 1);
            let summary = RetryMonitor::pass(&store, &rig.queue, &alarms, options, early)
                .await
                .unwrap();
            assert_eq!(
                summary,
                PassSummary {
                    handled: 0,
                    retried: 0,
                    waiting: 1
                },
                "pass {pass}"
            );
            let unclaimed = store.log(failed.id).await.unwrap().unwrap();
            assert_eq!(
                unclaimed.alarm_status,
                AlarmStatus::Default,
                "still claimable later"
            );
            let due = failed_at + TimeDelta::seconds(delay);
            let summary = RetryMonitor::pass(&store, &rig.queue, &alarms, options, due)
                .await
                .unwrap();
            assert_eq!(
                summary,
                PassSummary {
                    handled: 1,
                    retried: 1,
                    waiting: 0
                },
                "pass {pass}"
            );
        }
        settled_logs(&rig, job, 3).await;
        rig.shutdown().await;
        executor.stop().await;
    })
    .await;
}

/// An alarm channel that always fails.
struct Broken;

impl FailAlarm for Broken {
    fn alarm<'a>(
        &'a self,
        _job: &'a xjob_admin::model::Job,
        _log: &'a JobLog,
    ) -> xjob_admin::trigger::retry::AlarmFuture<'a> {
        Box::pin(async { false })
    }
}

#[tokio::test]
async fn a_failed_broadcast_shard_is_retried_alone_and_alarm_outcomes_are_recorded() {
    each_store(|store, _| async move {
        let rig = Rig::start(&store);
        let executors = [TestExecutor::start(None).await, TestExecutor::start(None).await];
        let addresses: Vec<String> = executors.iter().map(TestExecutor::address).collect();
        let group = rig.group(&addresses).await;
        let retry = RetryPolicy {
            count: 1,
            interval_seconds: None,
            backoff: false,
        };
        let job = rig
            .job_with(group, RouteStrategy::ShardingBroadcast, "record", retry)
            .await;
        let ids = rig.manual(job).await;
        let logs = settled_logs(&rig, job, 2).await;
        // Shard 1's execution failed (as its callback would record).
        let failed = LogHandle {
            time: Some(logs[1].trigger_time.unwrap() + TimeDelta::seconds(2)),
            code: 500,
            msg: Some("boom".into()),
        };
        assert!(store.complete_log(ids[1], &failed).await.unwrap());
        let broken: Vec<Arc<dyn FailAlarm>> = vec![Arc::new(Broken)];
        let now = logs[1].trigger_time.unwrap() + TimeDelta::seconds(3);
        let summary = RetryMonitor::pass(&store, &rig.queue, &broken, RetryOptions::default(), now)
            .await
            .unwrap();
        assert_eq!(
            summary,
            PassSummary {
                handled: 1,
                retried: 1,
                waiting: 0
            }
        );
        let logs = settled_logs(&rig, job, 3).await;
        assert_eq!(logs[1].alarm_status, AlarmStatus::Failed);
        assert_eq!(logs[0].alarm_status, AlarmStatus::Default);
        let retried = &logs[2];
        assert_eq!(retried.trigger.executor_sharding_param.as_deref(), Some("1/2"));
        assert_eq!(
            retried.trigger.executor_address.as_deref(),
            Some(addresses[1].as_str())
        );
        assert_eq!(retried.trigger.executor_fail_retry_count, 0);
        assert_eq!(executors[1].call_for(retried.id).await.shard, (1, 2));

        // A failed log of a job deleted since is not retried and needs no alarm.
        let orphan = store
            .insert_log(&NewJobLog {
                job_group: group,
                job_id: JobId(99_999),
                trigger_time: now,
            })
            .await
            .unwrap();
        let mut trigger = retried.trigger.clone();
        trigger.code = 500;
        trigger.executor_fail_retry_count = 1;
        assert!(store.update_log_trigger(orphan, &trigger).await.unwrap());
        let summary = RetryMonitor::pass(&store, &rig.queue, &broken, RetryOptions::default(), now)
            .await
            .unwrap();
        assert_eq!(
            summary,
            PassSummary {
                handled: 1,
                retried: 0,
                waiting: 0
            }
        );
        let log = store.log(orphan).await.unwrap().unwrap();
        assert_eq!(log.alarm_status, AlarmStatus::NotNeeded);
        assert_eq!(store.log(LogId(orphan.0 + 1)).await.unwrap(), None);
        rig.shutdown().await;
        for executor in executors {
            executor.stop().await;
        }
    })
    .await;
}
