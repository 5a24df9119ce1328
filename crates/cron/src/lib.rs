//! Quartz-dialect cron expressions, evaluated exactly as the reference scheduler (XXL-JOB's admin, whose
//! evaluator is Quartz's `CronExpression`) evaluates them: parse once into a [`CronExpr`], then ask for
//! [`CronExpr::next_after`] an instant in any IANA time zone, or iterate with [`CronExpr::fire_times`].
//! Pure functions over `chrono` and `chrono-tz`: no clock reads, no I/O, no async runtime.
//!
//! ```
//! use xjob_cron::CronExpr;
//!
//! // 10:15 on the last Friday of every month (day-of-week 6 = Friday, 1 = Sunday).
//! let expr: CronExpr = "0 15 10 ? * 6L".parse()?;
//! // 2023-11-14T22:13:20Z; the answer is 2023-11-24T10:15:00+08:00.
//! let next = expr.next_after(1_700_000_000_000, chrono_tz::Asia::Shanghai);
//! assert_eq!(next, Some(1_700_792_100_000));
//! # Ok::<(), xjob_cron::CronError>(())
//! ```
//!
//! # The dialect
//!
//! Six or seven fields separated by spaces or tabs: seconds, minutes, hours, day-of-month, month,
//! day-of-week, and an optional year. Exactly one of day-of-month and day-of-week is `?`. Items are
//! separated by commas; each is a number, a range `a-b` (wrapping when `b < a`, as in `22-2` or `NOV-FEB`),
//! a step `a/s`, `a-b/s`, `*/s`, or `*`. Months take `JAN`–`DEC`, weekdays `SUN`–`SAT` (any letter case),
//! and weekdays count from 1 = Sunday to 7 = Saturday. Day-of-month takes `L` (last day), `L-n`, `nW`
//! (nearest weekday within the month) and `LW`; day-of-week takes `nL` (last such weekday of the month) and
//! `n#m` (the m-th such weekday; months without one are skipped).
//!
//! The reference's lenient corners are kept on purpose, because an expression that the reference accepts
//! must schedule the same way here: trailing characters it does not read are ignored (`TUE/2` is Tuesday,
//! `15W/2` is `15W`), an empty item between commas is skipped (a field of only `,` matches nothing, so the
//! expression never fires), `L` alone in day-of-week is Saturday, and a step of 0 means the start value only.
//!
//! # Time zones and daylight saving
//!
//! Fire times are wall-clock times in the zone. The search moves a lenient wall clock the way the
//! reference's `GregorianCalendar` does: a wall time that occurs twice resolves to its later occurrence, a
//! wall time that a spring-forward gap skips moves past the gap by the gap's length, and the search
//! continues from there exactly as the reference's would.
//!
//! # Deliberate differences from the reference
//!
//! - The reference stops looking 100 years after the year it is running in; this crate stops 100 years after
//!   the year of the starting instant (for [`CronExpr::fire_times`], of the first one), which is the same thing for a scheduler asking about "now" and keeps
//!   the functions pure. Open-ended year steps such as `2030/5` are therefore not cut at that year at parse
//!   time either.
//! - For `nW` the reference compares a candidate with the start using the milliseconds of the moment it
//!   happens to run at; this crate takes those milliseconds as 0, so answers are reproducible (and agree
//!   with the reference's usual answer).
//! - `chrono-tz` lists daylight-saving transitions up to the year 2099 and keeps the last offset after that,
//!   while the reference keeps applying each zone's rule; fire times after 2099 in zones with daylight saving
//!   can therefore differ by the daylight offset.
//! - Where the reference throws at evaluation time (a field that is empty, such as `,`), this crate returns
//!   `None`.
//!
//! # Why not an existing crate
//!
//! The `cron`, `croner` and `saffron` crates implement their own dialects: Unix day-of-week numbering or no
//! `L`/`W`/`#`, stricter parsing that rejects expressions the reference accepts (`TUE/2`, `7/0`, `L-99` in
//! day-of-week), and daylight-saving handling that differs from the reference's calendar arithmetic. A
//! scheduler that must fire when the reference would fire needs the reference's semantics, so this crate
//! reproduces them and proves it against the shared conformance records.
#![warn(missing_docs)]

mod calendar;
mod error;
mod parse;
mod search;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;

pub use crate::error::{CronError, Field, Problem};
use crate::parse::Schedule;

/// A parsed cron expression. Cheap to clone and share across threads; [`Display`](fmt::Display) prints the
/// expression as it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    schedule: Schedule,
}

impl CronExpr {
    /// Parses an expression, rejecting what the reference rejects.
    ///
    /// # Errors
    /// [`CronError`] naming the field and the token at fault.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        Ok(Self {
            source: expression.to_owned(),
            schedule: parse::parse(expression)?,
        })
    }

    /// The expression as it was given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after_ms` (epoch milliseconds), as epoch milliseconds, evaluated
    /// in `zone`. Like the reference, the search starts at the whole second after `after_ms`, so results are
    /// always whole seconds. `None` when the expression never fires again (its years have passed, its date
    /// never exists, or nothing matches within 100 years of `after_ms`).
    #[must_use]
    pub fn next_after(&self, after_ms: i64, zone: Tz) -> Option<i64> {
        search::next_after(&self.schedule, after_ms, zone, None)
    }

    /// The fire times after `after_ms`, each searched from the previous one. The iterator ends when no
    /// fire time is left within 100 years of `after_ms` (the horizon stays that of the first instant, as the
    /// reference's stays that of the year it runs in).
    #[must_use]
    pub fn fire_times(&self, after_ms: i64, zone: Tz) -> FireTimes<'_> {
        let last_year = search::horizon(after_ms, zone);
        FireTimes {
            expr: self,
            zone,
            last_year,
            cursor: last_year.map(|_| after_ms),
        }
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(expression: &str) -> Result<Self, Self::Err> {
        Self::parse(expression)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Iterator over successive fire times (epoch milliseconds), from [`CronExpr::fire_times`].
#[derive(Debug, Clone)]
pub struct FireTimes<'a> {
    expr: &'a CronExpr,
    zone: Tz,
    last_year: Option<i64>,
    cursor: Option<i64>,
}

impl Iterator for FireTimes<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let next = search::next_after(&self.expr.schedule, self.cursor?, self.zone, self.last_year);
        self.cursor = next;
        next
    }
}

impl std::iter::FusedIterator for FireTimes<'_> {}
