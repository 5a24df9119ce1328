//! Trigger logs (`xxl_job_log`): one row per trigger, shard and retry, written in three steps (created,
//! trigger result, execution result), plus the status filters and clear types the console uses.

use chrono::{DateTime, Months, TimeDelta, Utc};
use xjob_protocol::{JobId, LogId};

use crate::model::{AlarmStatus, JobGroupId};

/// A stored log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLog {
    /// Log id (the executor's log file name).
    pub id: LogId,
    /// Group of the job at trigger time.
    pub job_group: JobGroupId,
    /// The job.
    pub job_id: JobId,
    /// Trigger step result.
    pub trigger: LogTrigger,
    /// Trigger time, whole seconds.
    pub trigger_time: Option<DateTime<Utc>>,
    /// Execution step result; `code` 0 while none arrived.
    pub handle: LogHandle,
    /// Retry/alarm progress.
    pub alarm_status: AlarmStatus,
}

/// What the first step inserts: the row exists and reads as "in progress" from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewJobLog {
    /// Group of the job.
    pub job_group: JobGroupId,
    /// The job.
    pub job_id: JobId,
    /// Trigger time; stored truncated to whole seconds.
    pub trigger_time: DateTime<Utc>,
}

/// The trigger step's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogTrigger {
    /// Address the trigger went to; `None` when routing failed.
    pub executor_address: Option<String>,
    /// Handler at trigger time.
    pub executor_handler: Option<String>,
    /// Parameter actually sent.
    pub executor_param: Option<String>,
    /// `index/total` for broadcast shards.
    pub executor_sharding_param: Option<String>,
    /// Retries remaining for this attempt.
    pub executor_fail_retry_count: i32,
    /// 0 while in progress, 200 accepted, 500 failed.
    pub code: i32,
    /// The HTML trigger report.
    pub msg: Option<String>,
}

/// The execution step's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogHandle {
    /// When the result was recorded.
    pub time: Option<DateTime<Utc>>,
    /// 0 no result yet, 200 success, 500 failure, 502 timeout, or what an executor sent.
    pub code: i32,
    /// Execution message.
    pub msg: Option<String>,
}

/// The console's status filter (`logStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogStatus {
    /// No filter (−1).
    #[default]
    All,
    /// `handle_code = 200` (1).
    Success,
    /// A failed trigger or a failed execution (2).
    Failed,
    /// Triggered and waiting for its result (3).
    Running,
}

/// The console's "clear log" choices (`type` 1–9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearType {
    /// 1–4: logs triggered at or before now minus that many months.
    OlderThanMonths(u32),
    /// 5–8: all but the newest N logs (by trigger time).
    KeepNewest(u32),
    /// 9: every matching log.
    All,
}

/// Running, successful and failed log counts over some range, as the daily report defines them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCounts {
    /// `trigger_code` in {0, 200} and `handle_code = 0`.
    pub running: i64,
    /// `handle_code = 200`.
    pub success: i64,
    /// Everything else.
    pub failed: i64,
}

impl LogStatus {
    /// The filter for the console's `logStatus` value; anything unknown means no filter, as upstream.
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => LogStatus::Success,
            2 => LogStatus::Failed,
            3 => LogStatus::Running,
            _ => LogStatus::All,
        }
    }
}

impl ClearType {
    /// The clear type for upstream's `type` parameter; `None` is "Clean type is illegal".
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => ClearType::OlderThanMonths(1),
            2 => ClearType::OlderThanMonths(3),
            3 => ClearType::OlderThanMonths(6),
            4 => ClearType::OlderThanMonths(12),
            5 => ClearType::KeepNewest(1_000),
            6 => ClearType::KeepNewest(10_000),
            7 => ClearType::KeepNewest(30_000),
            8 => ClearType::KeepNewest(100_000),
            9 => ClearType::All,
            _ => return None,
        })
    }

    /// For the time-based types, the newest trigger time that is cleared. Months are calendar months
    /// counted back from `now`; when that day does not exist (31 March minus one month) the last day
    /// of the month is used.
    pub fn cutoff(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ClearType::OlderThanMonths(months) => Some(
                now.checked_sub_months(Months::new(months))
                    .unwrap_or(now - TimeDelta::days(i64::from(months) * 31)),
            ),
            ClearType::KeepNewest(_) | ClearType::All => None,
        }
    }
}

impl LogCounts {
    /// All logs counted.
    pub fn total(&self) -> i64 {
        self.running + self.success + self.failed
    }
}

impl JobLog {
    /// Whether the fail monitor treats the log as failed: a failed trigger, or a finished execution
    /// with any code other than 200.
    pub fn is_failed(&self) -> bool {
        let running = matches!(self.trigger.code, 0 | 200) && self.handle.code == 0;
        !(running || self.handle.code == 200)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn clear_types() {
        assert_eq!(ClearType::from_code(0), None);
        assert_eq!(ClearType::from_code(10), None);
        assert_eq!(ClearType::from_code(2), Some(ClearType::OlderThanMonths(3)));
        assert_eq!(ClearType::from_code(8), Some(ClearType::KeepNewest(100_000)));
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        assert_eq!(
            ClearType::OlderThanMonths(1).cutoff(now),
            Some(Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap())
        );
        assert_eq!(ClearType::All.cutoff(now), None);
    }

    #[test]
    fn log_status_codes() {
        assert_eq!(LogStatus::from_code(-1), LogStatus::All);
        assert_eq!(LogStatus::from_code(3), LogStatus::Running);
        assert_eq!(LogStatus::from_code(7), LogStatus::All);
    }
}
