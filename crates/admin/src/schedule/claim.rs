//! The scheduler's decision for one due job in one pass: which fires it claims inside the look-ahead
//! window, whether it misfired, and the schedule written back. A pure function of the job, its zone and
//! the pass's clock, so every rule is tested without sleeping.
//!
//! Rules (upstream's §2 cases, with every fire of the window claimed at once instead of one per pass):
//! * more than the misfire threshold late: `FIRE_ONCE_NOW` fires one `Misfire` trigger now,
//!   `DO_NOTHING` (and any unknown strategy) skips; both continue from now;
//! * late by at most the threshold: the stored fire goes out at once (as a `Cron` trigger planned for its
//!   stored time), and the cadence continues from now;
//! * otherwise the stored fire time is the first fire;
//!
//! then every further fire up to the window's end is claimed, and the first fire after it becomes the
//! stored next time. A schedule that cannot be evaluated (NONE, an unknown type, a bad expression) or
//! that has no further fire time stops the job (status 0, last = next = 0), as upstream does.
//!
//! Planned triggers due inside the window are claimed whole (see [`planned_lateness`]): each fires once
//! at its instant, or at once when that has passed.

use chrono_tz::Tz;
use xjob_protocol::JobId;

use crate::model::{Job, MisfireStrategy, TriggerStatus};
use crate::schedule::FireTimeError;
use crate::schedule::next::Plan;
use crate::store::ScheduleUpdate;
use crate::trigger::TriggerType;

/// One claimed fire, waiting in the timer until its planned millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fire {
    /// The job.
    pub(crate) job_id: JobId,
    /// When it fires (Unix ms).
    pub(crate) planned: i64,
    /// `Cron`, or `Misfire` for a fire-once-now compensation.
    pub(crate) trigger_type: TriggerType,
    /// The job's last fire time before this fire: what `trigger_last_time` returns to if this fire is
    /// handed back unfired.
    pub(crate) previous: i64,
    /// The next time the claiming pass stored; a hand-back only applies while the row still holds it.
    pub(crate) claimed_next: i64,
}

/// What a pass does with one due job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The fires claimed, in planned order.
    pub(crate) fires: Vec<Fire>,
    /// The schedule written back.
    pub(crate) update: ScheduleUpdate,
    /// Something worth a warning.
    pub(crate) note: Option<ClaimNote>,
}

/// Why a claim deserves a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClaimNote {
    /// The job was more than the threshold late; `compensated` when one misfire trigger was fired.
    Misfired {
        /// How late the stored fire time was (ms).
        late_ms: i64,
        /// Whether a `Misfire` trigger was planned.
        compensated: bool,
    },
    /// The schedule cannot be evaluated; the job is stopped without firing.
    Invalid(FireTimeError),
    /// The schedule has no fire time after the claimed ones; the job is stopped.
    Exhausted,
}

/// The clock of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PassClock {
    /// Now (Unix ms), taken after the cluster lock was obtained.
    pub(crate) now: i64,
    /// The window's end: fires up to and including this instant are claimed.
    pub(crate) horizon: i64,
    /// How late (ms) a job may be and still fire as planned.
    pub(crate) misfire_threshold: i64,
}

/// Decides the fires and the new schedule of `job`, which the pass read as due (`trigger_next_time <=
/// clock.horizon`). `admin_zone` applies when the job has no zone of its own.
pub(crate) fn claim(job: &Job, admin_zone: Tz, clock: PassClock) -> Claim {
    let plan = match Plan::new(&job.settings.schedule) {
        Ok(plan) => plan,
        Err(error) => {
            return Claim {
                fires: Vec::new(),
                update: stopped(job.id),
                note: Some(ClaimNote::Invalid(error)),
            };
        }
    };
    let zone = job.settings.time_zone.unwrap_or(admin_zone);
    let stored = job.state.next_time;
    let mut fires = Vec::new();
    let mut last = job.state.last_time;
    let mut note = None;
    let push = |fires: &mut Vec<Fire>, last: &mut i64, planned: i64, trigger_type: TriggerType| {
        fires.push(Fire {
            job_id: job.id,
            planned,
            trigger_type,
            previous: *last,
            claimed_next: 0,
        });
        *last = planned;
    };

    let late_ms = clock.now.saturating_sub(stored);
    let mut cursor = if late_ms > clock.misfire_threshold {
        let compensated = job.settings.misfire_strategy.known() == Some(MisfireStrategy::FireOnceNow);
        if compensated {
            push(&mut fires, &mut last, clock.now, TriggerType::Misfire);
        }
        // Upstream's refresh records the skipped time as the last one, whether or not it compensated.
        last = stored;
        note = Some(ClaimNote::Misfired { late_ms, compensated });
        plan.next(zone, clock.now)
    } else if late_ms >= 0 {
        push(&mut fires, &mut last, stored, TriggerType::Cron);
        plan.next(zone, clock.now)
    } else {
        Some(stored)
    };

    // Fire times strictly increase by at least a second (cron and fixed rate work in whole seconds), so
    // this loop runs at most once per second of the window.
    while let Some(planned) = cursor.filter(|planned| *planned <= clock.horizon) {
        push(&mut fires, &mut last, planned, TriggerType::Cron);
        cursor = plan.next(zone, planned);
    }

    let update = match cursor {
        Some(next_time) => ScheduleUpdate {
            id: job.id,
            last_time: last,
            next_time,
            status: TriggerStatus::Running,
        },
        None => {
            note = note.or(Some(ClaimNote::Exhausted));
            stopped(job.id)
        }
    };
    for fire in &mut fires {
        fire.claimed_next = update.next_time;
    }
    Claim { fires, update, note }
}

/// How much later than its instant a claimed planned trigger was found, when that is beyond the misfire
/// threshold (the admin was down, or the lock was held long). Unlike a scheduled fire, which the misfire
/// strategy may skip, a planned trigger is a one-off somebody asked for: it still fires once, at once;
/// the lateness is only worth a warning.
pub(crate) fn planned_lateness(trigger_time: i64, clock: PassClock) -> Option<i64> {
    let late_ms = clock.now.saturating_sub(trigger_time);
    (late_ms > clock.misfire_threshold).then_some(late_ms)
}

fn stopped(id: JobId) -> ScheduleUpdate {
    ScheduleUpdate {
        id,
        last_time: 0,
        next_time: 0,
        status: TriggerStatus::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use xjob_protocol::{GlueType, Lenient};

    use super::*;
    use crate::model::{Glue, JobGroupId, JobSettings, RetryPolicy, Schedule, ScheduleState};

    const THRESHOLD: i64 = 5_000;
    const WINDOW: i64 = 5_000;

    fn ms(h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(2026, 3, 2, h, mi, s)
            .unwrap()
            .timestamp_millis()
    }

    fn job(schedule: Schedule, misfire: MisfireStrategy, last: i64, next: i64) -> Job {
        Job {
            id: JobId(7),
            group: JobGroupId(1),
            settings: JobSettings {
                name: "j".into(),
                author: None,
                alarm_email: None,
                schedule,
                misfire_strategy: Lenient::Known(misfire),
                route_strategy: None,
                handler: Some("h".into()),
                param: None,
                block_strategy: None,
                timeout_seconds: 0,
                retry: RetryPolicy::default(),
                child_job_id: None,
                time_zone: None,
            },
            glue: Glue {
                glue_type: Lenient::Known(GlueType::Bean),
                source: None,
                remark: None,
                update_time: None,
            },
            state: ScheduleState {
                status: TriggerStatus::Running,
                last_time: last,
                next_time: next,
            },
            add_time: None,
            update_time: None,
        }
    }

    /// Claims `job` at `now` and compares the planned fires (time and type), the written
    /// `(status, last, next)` and the note.
    fn check(
        job: &Job,
        now: i64,
        fires: &[(i64, TriggerType)],
        update: (TriggerStatus, i64, i64),
        note: Option<ClaimNote>,
    ) {
        let clock = PassClock {
            now,
            horizon: now + WINDOW,
            misfire_threshold: THRESHOLD,
        };
        let claim = claim(job, Tz::UTC, clock);
        let planned: Vec<_> = claim
            .fires
            .iter()
            .map(|fire| (fire.planned, fire.trigger_type))
            .collect();
        assert_eq!(planned, fires, "fires of {:?} at {now}", job.settings.schedule);
        assert_eq!(
            (
                claim.update.status,
                claim.update.last_time,
                claim.update.next_time
            ),
            update,
            "update"
        );
        assert_eq!(claim.note, note, "note");
        assert!(
            claim
                .fires
                .iter()
                .all(|fire| fire.claimed_next == claim.update.next_time)
        );
    }

    use TriggerStatus::{Running, Stopped};
    use TriggerType::{Cron, Misfire};

    #[test]
    fn every_fire_inside_the_window_is_claimed() {
        let every_two = Schedule::cron("*/2 * * * * ?");
        let now = ms(10, 0, 0) + 300;
        check(
            &job(every_two.clone(), MisfireStrategy::DoNothing, 1, ms(10, 0, 2)),
            now,
            &[(ms(10, 0, 2), Cron), (ms(10, 0, 4), Cron)],
            (Running, ms(10, 0, 4), ms(10, 0, 6)),
            None,
        );
        // A fire exactly at the window's end belongs to this pass.
        check(
            &job(every_two, MisfireStrategy::DoNothing, 1, ms(10, 0, 2)),
            ms(10, 0, 0),
            &[(ms(10, 0, 2), Cron), (ms(10, 0, 4), Cron)],
            (Running, ms(10, 0, 4), ms(10, 0, 6)),
            None,
        );
        let fix_rate = Schedule::fix_rate(3).unwrap();
        check(
            &job(fix_rate, MisfireStrategy::DoNothing, 0, ms(10, 0, 1)),
            ms(10, 0, 0),
            &[(ms(10, 0, 1), Cron), (ms(10, 0, 4), Cron)],
            (Running, ms(10, 0, 4), ms(10, 0, 7)),
            None,
        );
    }

    #[test]
    fn a_late_fire_within_the_threshold_goes_out_at_once_and_the_cadence_restarts_from_now() {
        let every_ten = Schedule::cron("*/10 * * * * ?");
        check(
            &job(every_ten, MisfireStrategy::DoNothing, 0, ms(10, 0, 0)),
            ms(10, 0, 5),
            &[(ms(10, 0, 0), Cron), (ms(10, 0, 10), Cron)],
            (Running, ms(10, 0, 10), ms(10, 0, 20)),
            None,
        );
        // Exactly due counts as late-but-in-time (upstream's `now >= next`).
        let hourly = Schedule::cron("0 0 * * * ?");
        check(
            &job(hourly, MisfireStrategy::DoNothing, 0, ms(10, 0, 0)),
            ms(10, 0, 0),
            &[(ms(10, 0, 0), Cron)],
            (Running, ms(10, 0, 0), ms(11, 0, 0)),
            None,
        );
    }

    #[test]
    fn misfire_strategies() {
        let hourly = Schedule::cron("0 0 * * * ?");
        let now = ms(10, 0, 6);
        check(
            &job(hourly.clone(), MisfireStrategy::DoNothing, 5, ms(10, 0, 0)),
            now,
            &[],
            (Running, ms(10, 0, 0), ms(11, 0, 0)),
            Some(ClaimNote::Misfired {
                late_ms: 6_000,
                compensated: false,
            }),
        );
        check(
            &job(hourly.clone(), MisfireStrategy::FireOnceNow, 5, ms(10, 0, 0)),
            now,
            &[(now, Misfire)],
            (Running, ms(10, 0, 0), ms(11, 0, 0)),
            Some(ClaimNote::Misfired {
                late_ms: 6_000,
                compensated: true,
            }),
        );
        // An unknown strategy acts as DO_NOTHING; the regular fire right after now is still claimed.
        let mut unknown = job(
            Schedule::cron("*/5 * * * * ?"),
            MisfireStrategy::DoNothing,
            0,
            ms(9, 0, 0),
        );
        unknown.settings.misfire_strategy = Lenient::Unknown("SOMETIMES".into());
        check(
            &unknown,
            ms(10, 0, 1),
            &[(ms(10, 0, 5), Cron)],
            (Running, ms(10, 0, 5), ms(10, 0, 10)),
            Some(ClaimNote::Misfired {
                late_ms: ms(10, 0, 1) - ms(9, 0, 0),
                compensated: false,
            }),
        );
    }

    #[test]
    fn the_job_zone_decides_cron_fields() {
        let nine_am = Schedule::cron("0 0 9 * * ?");
        let mut tokyo = job(nine_am, MisfireStrategy::DoNothing, 0, ms(0, 0, 0));
        tokyo.settings.time_zone = Some(Tz::Asia__Tokyo);
        // 09:00 in Tokyo is 00:00 UTC: the next one is a day later, not 09:00 UTC.
        check(
            &tokyo,
            ms(0, 0, 0) - 1_000,
            &[(ms(0, 0, 0), Cron)],
            (Running, ms(0, 0, 0), ms(0, 0, 0) + 86_400_000),
            None,
        );
    }

    #[test]
    fn a_planned_trigger_is_late_only_beyond_the_threshold() {
        fn check(trigger_time: i64, expected: Option<i64>) {
            let clock = PassClock {
                now: ms(10, 0, 0),
                horizon: ms(10, 0, 0) + WINDOW,
                misfire_threshold: THRESHOLD,
            };
            assert_eq!(planned_lateness(trigger_time, clock), expected, "{trigger_time}");
        }
        check(ms(10, 0, 3), None);
        check(ms(10, 0, 0), None);
        check(ms(10, 0, 0) - THRESHOLD, None);
        check(ms(10, 0, 0) - THRESHOLD - 1, Some(THRESHOLD + 1));
        check(ms(9, 0, 0), Some(3_600_000));
    }

    #[test]
    fn unusable_or_exhausted_schedules_stop_the_job() {
        check(
            &job(Schedule::none(), MisfireStrategy::DoNothing, 0, ms(10, 0, 1)),
            ms(10, 0, 0),
            &[],
            (Stopped, 0, 0),
            Some(ClaimNote::Invalid(FireTimeError::NeverScheduled)),
        );
        let broken = job(
            Schedule::cron("61 * * * * ?"),
            MisfireStrategy::DoNothing,
            0,
            ms(10, 0, 1),
        );
        let claim = claim(
            &broken,
            Tz::UTC,
            PassClock {
                now: ms(10, 0, 0),
                horizon: ms(10, 0, 5),
                misfire_threshold: THRESHOLD,
            },
        );
        assert!(
            matches!(claim.note, Some(ClaimNote::Invalid(FireTimeError::Cron(_)))),
            "{:?}",
            claim.note
        );
        assert_eq!(claim.update.status, Stopped);
        // The last fire of a finite expression still goes out; then the job stops.
        let once = Schedule::cron("3 0 10 2 3 ? 2026");
        check(
            &job(once, MisfireStrategy::DoNothing, 0, ms(10, 0, 3)),
            ms(10, 0, 0),
            &[(ms(10, 0, 3), Cron)],
            (Stopped, 0, 0),
            Some(ClaimNote::Exhausted),
        );
    }
}
