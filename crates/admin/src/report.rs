//! The log report and retention monitor (upstream's log report thread). Once a minute, on the minute, it
//! recounts the trigger logs of the last three calendar days of the admin's zone into `xxl_job_log_report`,
//! and once a day it deletes the logs older than the retention period (in batches, by the store). Older report
//! rows are never recomputed, so deleting old logs leaves the dashboard's history alone.
//!
//! The decisions (which days, which cut-off, whether a cleanup is due) are functions of `now`; the loop only
//! sleeps, calls them and the store, and logs failures without stopping.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Tz;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Upstream's period of the report thread.
pub const PERIOD: Duration = Duration::from_secs(60);

/// Days recounted on every run: today and the two days before.
pub const REPORT_DAYS: usize = 3;

/// Settings of the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// Days of logs to keep; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Time between runs, aligned to multiples of it since the Unix epoch ([`PERIOD`] in production).
    pub period: Duration,
}

/// The running monitor; [`ReportMonitor::shutdown`] stops it.
#[derive(Debug)]
pub struct ReportMonitor {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Starts the monitor on the current runtime; its first run is immediate.
pub fn start(store: Store, options: ReportOptions) -> ReportMonitor {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(store, options, stop.clone()));
    ReportMonitor { stop, task }
}

impl ReportMonitor {
    /// Stops the loop after the statement in progress, if any, and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the log report monitor failed");
        }
    }
}

/// The calendar days of `zone` to recount at `now`, newest first.
pub fn report_days(now: DateTime<Utc>, zone: Tz) -> [NaiveDate; REPORT_DAYS] {
    let today = now.with_timezone(&zone).date_naive();
    std::array::from_fn(|back| today - TimeDelta::days(back as i64))
}

/// The instant at or before which logs are deleted: today's midnight in `zone` minus `days` days. A midnight
/// that does not exist (a clock change at 00:00) is read one hour later.
pub fn retention_cutoff(now: DateTime<Utc>, zone: Tz, days: u32) -> DateTime<Utc> {
    let day = now.with_timezone(&zone).date_naive() - TimeDelta::days(i64::from(days));
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + TimeDelta::hours(1)))
                .earliest()
        })
        .map_or(now - TimeDelta::days(i64::from(days) + 1), |local| {
            local.with_timezone(&Utc)
        })
}

/// Whether a cleanup is due: never done in this process, or more than a day ago (upstream's rule).
pub fn cleanup_due(last_cleanup: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_cleanup.is_none_or(|last| now - last > TimeDelta::days(1))
}

/// Time from `now_ms` to the next multiple of `period` since the epoch (a whole period when exactly on one).
pub fn until_next_tick(now_ms: i64, period: Duration) -> Duration {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let wait = period_ms - now_ms.rem_euclid(period_ms);
    Duration::from_millis(u64::try_from(wait).unwrap_or(0))
}

async fn run(store: Store, options: ReportOptions, stop: CancellationToken) {
    let mut last_cleanup = None;
    loop {
        let now = Utc::now();
        tokio::select! {
            () = stop.cancelled() => return,
            () = run_once(&store, options, now, &mut last_cleanup) => {}
        }
        let wait = until_next_tick(Utc::now().timestamp_millis(), options.period);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn run_once(
    store: &Store,
    options: ReportOptions,
    now: DateTime<Utc>,
    last_cleanup: &mut Option<DateTime<Utc>>,
) {
    for day in report_days(now, store.time_zone()) {
        if let Err(error) = store.refresh_report(day, now).await {
            tracing::warn!(%day, %error, "refreshing the log report failed");
        }
    }
    let Some(days) = options.retention_days else {
        return;
    };
    if !cleanup_due(*last_cleanup, now) {
        return;
    }
    let cutoff = retention_cutoff(now, store.time_zone(), days);
    match store.delete_logs_before(cutoff).await {
        Ok(deleted) => {
            *last_cleanup = Some(now);
            tracing::info!(deleted, retention_days = days, "old trigger logs deleted");
        }
        // Tried again on the next run rather than a day later.
        Err(error) => tracing::warn!(%error, "deleting old trigger logs failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn report_days_are_the_admin_zones_calendar_days() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        // 20:30 UTC on 1 March is already 2 March in Shanghai.
        assert_eq!(
            report_days(at("2026-03-01T20:30:00Z"), shanghai),
            [date("2026-03-02"), date("2026-03-01"), date("2026-02-28")]
        );
        assert_eq!(
            report_days(at("2026-03-01T20:30:00Z"), Tz::UTC),
            [date("2026-03-01"), date("2026-02-28"), date("2026-02-27")]
        );
    }

    #[test]
    fn the_cutoff_is_a_local_midnight() {
        let check = |now: &str, zone: &str, days, expected: &str| {
            let zone: Tz = zone.parse().unwrap();
            assert_eq!(
                retention_cutoff(at(now), zone, days),
                at(expected),
                "{now} {zone} {days}"
            );
        };
        check("2026-06-19T10:00:00Z", "UTC", 3, "2026-06-16T00:00:00Z");
        check(
            "2026-06-19T02:00:00Z",
            "Asia/Shanghai",
            30,
            "2026-05-19T16:00:00Z",
        );
        check("2026-06-18T23:00:00Z", "Asia/Shanghai", 3, "2026-06-15T16:00:00Z");
        // Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026: that midnight never happened.
        check(
            "2026-09-09T12:00:00Z",
            "America/Santiago",
            3,
            "2026-09-06T04:00:00Z",
        );
    }

    #[test]
    fn cleanup_runs_first_and_then_daily() {
        let now = at("2026-06-19T10:00:00Z");
        assert!(cleanup_due(None, now));
        assert!(!cleanup_due(Some(now - TimeDelta::hours(23)), now));
        assert!(!cleanup_due(Some(now - TimeDelta::days(1)), now));
        assert!(cleanup_due(
            Some(now - TimeDelta::days(1) - TimeDelta::seconds(1)),
            now
        ));
    }

    #[test]
    fn ticks_align_to_the_period() {
        let minute = Duration::from_secs(60);
        assert_eq!(until_next_tick(0, minute), minute);
        assert_eq!(until_next_tick(59_999, minute), Duration::from_millis(1));
        assert_eq!(
            until_next_tick(1_700_000_030_000, minute),
            Duration::from_secs(10)
        );
        assert_eq!(until_next_tick(5, Duration::ZERO), Duration::from_millis(1));
    }
}
