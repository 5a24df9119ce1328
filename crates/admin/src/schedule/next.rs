//! Fire-time arithmetic for the three schedule types.
//!
//! CRON: the first instant strictly after `from` matching the expression, evaluated in the job's zone (the
//! admin's zone when the job has none). FIX_RATE: `from + interval`, rounded up to the next whole second when
//! the sum has a millisecond part, as upstream's current releases do. NONE: never.

use chrono_tz::Tz;
use xjob_cron::{CronError, CronExpr};

use crate::model::{InvalidSchedule, JobSettings, Schedule, ScheduleType};

/// How far ahead of "now" a started or rescheduled job's first fire is searched, so it cannot land inside
/// a pre-read window the scheduler has already processed (upstream's +5 s).
pub const START_DELAY_MS: i64 = 5_000;

/// Why a schedule has no fire time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FireTimeError {
    /// NONE: the job only fires when triggered.
    #[error("the schedule type NONE never fires by itself")]
    NeverScheduled,
    /// A schedule type this release does not know (an upstream value such as FIX_DELAY).
    #[error("unknown schedule type `{0}`")]
    UnknownType(String),
    /// The cron expression does not parse.
    #[error("invalid cron expression: {0}")]
    Cron(#[from] CronError),
    /// The cron schedule has no configuration.
    #[error("the cron schedule has no expression")]
    MissingCron,
    /// The fixed-rate interval is not a whole number of seconds >= 1.
    #[error(transparent)]
    FixRate(#[from] InvalidSchedule),
}

/// The first fire time strictly after `from_ms` (Unix ms), or `Ok(None)` when a cron expression has no
/// further match.
pub fn next_fire_after(schedule: &Schedule, zone: Tz, from_ms: i64) -> Result<Option<i64>, FireTimeError> {
    Ok(Plan::new(schedule)?.next(zone, from_ms))
}

/// The first fire time of a job being started or rescheduled at `now_ms`: searched from
/// `now_ms + START_DELAY_MS`, in the job's zone or `admin_zone`.
pub fn first_fire_after(
    settings: &JobSettings,
    admin_zone: Tz,
    now_ms: i64,
) -> Result<Option<i64>, FireTimeError> {
    next_fire_after(
        &settings.schedule,
        settings.time_zone.unwrap_or(admin_zone),
        now_ms.saturating_add(START_DELAY_MS),
    )
}

/// Up to `count` consecutive fire times after `from_ms`.
pub fn fire_times(
    schedule: &Schedule,
    zone: Tz,
    from_ms: i64,
    count: usize,
) -> Result<Vec<i64>, FireTimeError> {
    let plan = Plan::new(schedule)?;
    let mut times = Vec::with_capacity(count.min(1024));
    let mut from = from_ms;
    while times.len() < count {
        match plan.next(zone, from) {
            Some(next) => {
                times.push(next);
                from = next;
            }
            None => break,
        }
    }
    Ok(times)
}

/// A schedule checked once and evaluated many times (the scheduler parses each job's cron expression once
/// per pass, however many fires it plans).
pub(crate) enum Plan {
    Cron(CronExpr),
    FixRate(i64),
}

impl Plan {
    pub(crate) fn new(schedule: &Schedule) -> Result<Plan, FireTimeError> {
        match schedule.schedule_type.known() {
            Some(ScheduleType::None) => Err(FireTimeError::NeverScheduled),
            Some(ScheduleType::Cron) => {
                let expression = schedule.conf.as_deref().map(str::trim).unwrap_or_default();
                if expression.is_empty() {
                    return Err(FireTimeError::MissingCron);
                }
                Ok(Plan::Cron(CronExpr::parse(expression)?))
            }
            Some(ScheduleType::FixRate) => Ok(Plan::FixRate(i64::from(schedule.fix_rate_seconds()?) * 1000)),
            None => Err(FireTimeError::UnknownType(schedule.schedule_type.to_string())),
        }
    }

    pub(crate) fn next(&self, zone: Tz, from_ms: i64) -> Option<i64> {
        match self {
            Plan::Cron(expr) => expr.next_after(from_ms, zone),
            Plan::FixRate(interval) => {
                let next = from_ms.checked_add(*interval)?;
                Some(match next.rem_euclid(1000) {
                    0 => next,
                    part => next - part + 1000,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn cron_is_evaluated_in_the_given_zone() {
        let daily_nine = Schedule::cron("0 0 9 * * ?");
        let from = ms(2026, 1, 10, 0, 0, 0);
        assert_eq!(
            next_fire_after(&daily_nine, Tz::UTC, from),
            Ok(Some(ms(2026, 1, 10, 9, 0, 0)))
        );
        // 09:00 in Tokyo is 00:00 UTC, so the next one is the following day.
        assert_eq!(
            next_fire_after(&daily_nine, Tz::Asia__Tokyo, from),
            Ok(Some(ms(2026, 1, 11, 0, 0, 0)))
        );
    }

    #[test]
    fn fix_rate_rounds_up_to_whole_seconds() {
        let every_ten = Schedule::fix_rate(10).unwrap();
        assert_eq!(next_fire_after(&every_ten, Tz::UTC, 1_000), Ok(Some(11_000)));
        assert_eq!(next_fire_after(&every_ten, Tz::UTC, 1_001), Ok(Some(12_000)));
        assert_eq!(
            fire_times(&every_ten, Tz::UTC, 0, 3),
            Ok(vec![10_000, 20_000, 30_000])
        );
    }

    #[test]
    fn none_unknown_and_bad_configurations_are_errors() {
        assert_eq!(
            next_fire_after(&Schedule::none(), Tz::UTC, 0),
            Err(FireTimeError::NeverScheduled)
        );
        assert!(matches!(
            next_fire_after(&Schedule::cron("61 * * * * ?"), Tz::UTC, 0),
            Err(FireTimeError::Cron(_))
        ));
        assert_eq!(
            next_fire_after(&Schedule::cron("  "), Tz::UTC, 0),
            Err(FireTimeError::MissingCron)
        );
        let mut unknown = Schedule::none();
        unknown.schedule_type = xjob_protocol::Lenient::parse("FIX_DELAY");
        assert_eq!(
            next_fire_after(&unknown, Tz::UTC, 0),
            Err(FireTimeError::UnknownType("FIX_DELAY".into()))
        );
    }

    #[test]
    fn a_cron_without_future_matches_ends_the_list() {
        let once = Schedule::cron("0 0 0 1 1 ? 2030");
        assert_eq!(
            fire_times(&once, Tz::UTC, ms(2026, 1, 1, 0, 0, 0), 5),
            Ok(vec![ms(2030, 1, 1, 0, 0, 0)])
        );
    }
}
