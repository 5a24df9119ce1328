//! The log report and retention monitor against real databases: today's report rows appear on its first
//! run, old logs go only when retention is on, and recent logs stay.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use xjob_admin::model::{JobGroupId, JobId, LogCounts, LogHandle, NewJobLog};
use xjob_admin::report::{self, ReportOptions, report_days};
use xjob_test_support::wait_until;

use crate::support::each_store;

#[tokio::test]
async fn reports_recent_days_and_deletes_logs_past_retention() {
    each_store(|store, _| async move {
        let now = Utc::now();
        let log = |days_ago: i64| NewJobLog {
            job_group: JobGroupId(1),
            job_id: JobId(1),
            trigger_time: now - TimeDelta::days(days_ago),
        };
        let ids = store
            .insert_logs(&[log(0), log(1), log(25), log(40)])
            .await
            .unwrap();
        let done = LogHandle {
            time: Some(now),
            code: 200,
            msg: None,
        };
        assert!(store.complete_log(ids[1], &done).await.unwrap());
        let [today, yesterday, before] = report_days(now, store.time_zone());

        // Retention off: reports appear, nothing is deleted.
        let monitor = report::start(
            store.clone(),
            ReportOptions {
                retention_days: None,
                period: report::PERIOD,
            },
        );
        let reported = wait_until(Duration::from_secs(20), || async {
            store.reports(before, today).await.unwrap().len() == 3
        });
        assert!(reported.await, "no report rows for the last three days");
        monitor.shutdown().await;
        let rows = store.reports(before, today).await.unwrap();
        let counts: Vec<_> = rows.iter().map(|row| (row.trigger_day, row.counts)).collect();
        let running = LogCounts {
            running: 1,
            success: 0,
            failed: 0,
        };
        let succeeded = LogCounts {
            running: 0,
            success: 1,
            failed: 0,
        };
        assert_eq!(
            counts,
            [
                (before, LogCounts::default()),
                (yesterday, succeeded),
                (today, running)
            ]
        );
        assert!(store.log(ids[3]).await.unwrap().is_some(), "retention is off");

        // Retention of 30 days: the 40-day-old log goes, the others stay.
        let monitor = report::start(
            store.clone(),
            ReportOptions {
                retention_days: Some(30),
                period: report::PERIOD,
            },
        );
        let deleted = wait_until(Duration::from_secs(20), || async {
            store.log(ids[3]).await.unwrap().is_none()
        });
        assert!(deleted.await, "the old log was not deleted");
        monitor.shutdown().await;
        for id in &ids[..3] {
            assert!(store.log(*id).await.unwrap().is_some(), "log {id:?} is recent");
        }
    })
    .await;
}
