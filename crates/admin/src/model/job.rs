//! Job definitions (`xxl_job_info`): what to run, when, where and how to react to failure, plus the
//! scheduler's state (status and last/next fire time in epoch milliseconds).

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use xjob_protocol::{BlockStrategy, GlueType, JobId, Lenient};

use crate::model::{JobGroupId, MisfireStrategy, RouteStrategy, ScheduleType, TriggerStatus};

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Job id.
    pub id: JobId,
    /// Owning executor group.
    pub group: JobGroupId,
    /// The editable settings.
    pub settings: JobSettings,
    /// The code to run.
    pub glue: Glue,
    /// The scheduler's state.
    pub state: ScheduleState,
    /// Creation time.
    pub add_time: Option<DateTime<Utc>>,
    /// Last edit.
    pub update_time: Option<DateTime<Utc>>,
}

/// What a job edit writes: everything except the GLUE code and the scheduler's state.
///
/// Enum-valued fields are [`Lenient`] because upstream stores plain strings and interprets unknown ones
/// late (an unknown misfire strategy acts as `DO_NOTHING`, an unknown route strategy fails the trigger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSettings {
    /// Job name (`name`; `job_desc` in databases older than upstream 3.5).
    pub name: String,
    /// Owner.
    pub author: Option<String>,
    /// Comma-separated alarm recipients.
    pub alarm_email: Option<String>,
    /// Schedule type and configuration.
    pub schedule: Schedule,
    /// Misfire strategy.
    pub misfire_strategy: Lenient<MisfireStrategy>,
    /// Route strategy (a nullable column upstream).
    pub route_strategy: Option<Lenient<RouteStrategy>>,
    /// Handler name, stored trimmed; empty for GLUE jobs.
    pub handler: Option<String>,
    /// Job parameter.
    pub param: Option<String>,
    /// Block strategy (a nullable column upstream).
    pub block_strategy: Option<Lenient<BlockStrategy>>,
    /// Execution timeout in seconds; 0 means none.
    pub timeout_seconds: i32,
    /// Fail-retry count, interval and backoff.
    pub retry: RetryPolicy,
    /// Comma-separated child job ids as stored (see [`JobSettings::child_jobs`]).
    pub child_job_id: Option<String>,
    /// The IANA zone cron expressions are evaluated in; `None` means the admin's zone, as upstream.
    pub time_zone: Option<Tz>,
}

/// Schedule type plus its configuration string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The type.
    pub schedule_type: Lenient<ScheduleType>,
    /// A cron expression for `CRON`, whole seconds for `FIX_RATE`, ignored for `NONE`.
    pub conf: Option<String>,
}

/// A schedule whose configuration does not fit its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchedule {
    /// `FIX_RATE` needs an integer number of seconds of at least 1.
    #[error("fixed-rate interval must be a whole number of seconds >= 1, got `{0}`")]
    FixRate(String),
    /// The schedule is not `FIX_RATE`.
    #[error("not a fixed-rate schedule")]
    NotFixRate,
}

/// How failures are retried.
///
/// `count` is upstream's `executor_fail_retry_count`; the interval and backoff are additions of this
/// product (nullable columns, so an upstream row means "retry on the next monitor pass").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a failure.
    pub count: i32,
    /// Seconds to wait before a retry; `None` retries at the monitor's next pass.
    pub interval_seconds: Option<u32>,
    /// Double the interval for each further attempt.
    pub backoff: bool,
}

/// The code a job runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glue {
    /// `BEAN` or a `GLUE_*` type; fixed after creation.
    pub glue_type: Lenient<GlueType>,
    /// Current source of a GLUE job.
    pub source: Option<String>,
    /// Remark of the current source.
    pub remark: Option<String>,
    /// When the source last changed; executors compare it to detect new code.
    pub update_time: Option<DateTime<Utc>>,
}

/// The scheduler's view of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleState {
    /// Whether the job is scheduled.
    pub status: TriggerStatus,
    /// Previous scheduled fire time, epoch ms (0 when stopped or never fired).
    pub last_time: i64,
    /// Next scheduled fire time, epoch ms (0 when stopped).
    pub next_time: i64,
}

/// One token of a job's child list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildJob<'a> {
    /// A positive numeric id.
    Id(JobId),
    /// Anything else, kept for the trigger's "Job ID is illegal" report.
    Invalid(&'a str),
}

impl Schedule {
    /// A schedule that never fires by itself.
    pub fn none() -> Self {
        Schedule {
            schedule_type: Lenient::Known(ScheduleType::None),
            conf: None,
        }
    }

    /// A cron schedule; the expression is checked by the cron parser, not here.
    pub fn cron(expression: impl Into<String>) -> Self {
        Schedule {
            schedule_type: Lenient::Known(ScheduleType::Cron),
            conf: Some(expression.into()),
        }
    }

    /// A fixed-rate schedule of `seconds` (at least 1).
    pub fn fix_rate(seconds: u32) -> Result<Self, InvalidSchedule> {
        if seconds == 0 {
            return Err(InvalidSchedule::FixRate(seconds.to_string()));
        }
        Ok(Schedule {
            schedule_type: Lenient::Known(ScheduleType::FixRate),
            conf: Some(seconds.to_string()),
        })
    }

    /// The interval of a `FIX_RATE` schedule.
    pub fn fix_rate_seconds(&self) -> Result<u32, InvalidSchedule> {
        if self.schedule_type.known() != Some(ScheduleType::FixRate) {
            return Err(InvalidSchedule::NotFixRate);
        }
        let conf = self.conf.as_deref().unwrap_or_default();
        match conf.trim().parse::<u32>() {
            Ok(seconds) if seconds >= 1 => Ok(seconds),
            _ => Err(InvalidSchedule::FixRate(conf.to_owned())),
        }
    }
}

impl RetryPolicy {
    /// The longest wait between attempts, whatever the backoff computes.
    pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

    /// How long to wait before retry number `attempt` (1 for the first retry); `None` when no interval
    /// is configured.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let base = u64::from(self.interval_seconds?);
        let factor = if self.backoff {
            1u64.checked_shl(attempt.saturating_sub(1)).unwrap_or(u64::MAX)
        } else {
            1
        };
        let seconds = base.saturating_mul(factor);
        Some(Duration::from_secs(seconds).min(Self::MAX_DELAY))
    }
}

impl ScheduleState {
    /// A stopped job: status 0, last = next = 0.
    pub const STOPPED: ScheduleState = ScheduleState {
        status: TriggerStatus::Stopped,
        last_time: 0,
        next_time: 0,
    };

    /// A job just started with its first fire time.
    pub fn started(next_time: i64) -> Self {
        ScheduleState {
            status: TriggerStatus::Running,
            last_time: 0,
            next_time,
        }
    }
}

impl JobSettings {
    /// The child list split on `,` with blank tokens dropped, each token classified as upstream's
    /// trigger does.
    pub fn child_jobs(&self) -> Vec<ChildJob<'_>> {
        self.child_job_id
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(|token| match token.parse::<i32>() {
                Ok(id) if id > 0 && token.bytes().all(|byte| byte.is_ascii_digit()) => {
                    ChildJob::Id(JobId(id))
                }
                _ => ChildJob::Invalid(token),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_rate_interval() {
        fn check(conf: Option<&str>, expected: Result<u32, InvalidSchedule>) {
            let schedule = Schedule {
                schedule_type: Lenient::Known(ScheduleType::FixRate),
                conf: conf.map(str::to_owned),
            };
            assert_eq!(schedule.fix_rate_seconds(), expected, "{conf:?}");
        }
        check(Some("10"), Ok(10));
        check(Some(" 3 "), Ok(3));
        check(Some("0"), Err(InvalidSchedule::FixRate("0".into())));
        check(Some("abc"), Err(InvalidSchedule::FixRate("abc".into())));
        check(None, Err(InvalidSchedule::FixRate(String::new())));
        assert_eq!(
            Schedule::cron("0 * * * * ?").fix_rate_seconds(),
            Err(InvalidSchedule::NotFixRate)
        );
        assert!(Schedule::fix_rate(0).is_err());
    }

    #[test]
    fn retry_delays() {
        let none = RetryPolicy {
            count: 3,
            interval_seconds: None,
            backoff: true,
        };
        assert_eq!(none.delay(1), None);
        let flat = RetryPolicy {
            count: 3,
            interval_seconds: Some(5),
            backoff: false,
        };
        assert_eq!(flat.delay(3), Some(Duration::from_secs(5)));
        let backoff = RetryPolicy {
            count: 3,
            interval_seconds: Some(5),
            backoff: true,
        };
        assert_eq!(backoff.delay(1), Some(Duration::from_secs(5)));
        assert_eq!(backoff.delay(3), Some(Duration::from_secs(20)));
        assert_eq!(backoff.delay(200), Some(RetryPolicy::MAX_DELAY));
    }

    #[test]
    fn child_tokens() {
        let settings = |children: &str| JobSettings {
            name: "n".into(),
            author: None,
            alarm_email: None,
            schedule: Schedule::none(),
            misfire_strategy: Lenient::Known(MisfireStrategy::DoNothing),
            route_strategy: None,
            handler: None,
            param: None,
            block_strategy: None,
            timeout_seconds: 0,
            retry: RetryPolicy::default(),
            child_job_id: Some(children.to_owned()),
            time_zone: None,
        };
        assert_eq!(
            settings("3, x,,0,+4,12").child_jobs(),
            [
                ChildJob::Id(JobId(3)),
                ChildJob::Invalid("x"),
                ChildJob::Invalid("0"),
                ChildJob::Invalid("+4"),
                ChildJob::Id(JobId(12))
            ]
        );
        assert_eq!(settings("").child_jobs(), []);
    }
}
