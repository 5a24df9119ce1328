//! Daily trigger-log aggregates for the dashboard (`xxl_job_log_report`).

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{LogCounts, LogReportId};

/// A stored report row for one calendar day of the admin's time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogReport {
    /// Row id.
    pub id: LogReportId,
    /// The day (stored as that day's 00:00:00).
    pub trigger_day: NaiveDate,
    /// The counts of the day's logs when last recomputed.
    pub counts: LogCounts,
    /// Last recomputation.
    pub update_time: Option<DateTime<Utc>>,
}
