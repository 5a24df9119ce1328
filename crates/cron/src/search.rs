//! The next fire time after an instant. The search walks the fields from seconds up to years on a
//! [`Calendar`]; whenever a field has to move, it resets the smaller fields and starts over, exactly as the
//! reference does, so that its answers near month ends, daylight-saving changes and impossible dates agree
//! with the reference's. Parsing lives in `parse`, the lenient wall clock in `calendar`.

use chrono_tz::Tz;

use crate::calendar::{Calendar, days_in_month};
use crate::parse::{LAST_DAY, LAST_DAY_OFFSET_START, LAST_YEAR, NO_SPEC, Schedule, ValueSet};

/// The reference gives up this many years after the current one; a pure function has no "current", so the
/// year of the starting instant stands in for it.
const HORIZON_YEARS: i64 = 100;

/// Each round of the search moves the calendar forward by at least one field step and a century holds well
/// under this many month, day and hour steps; the bound only guards against a cycle nobody has found.
const MAX_ROUNDS: u32 = 1_000_000;

const SATURDAY: i64 = 7;
const SUNDAY: i64 = 1;

/// Outcome of one field's step: either the field already matches, or the calendar was moved and the
/// search starts over from the seconds.
enum Step<T> {
    Keep(T),
    Moved,
}

/// The first fire time strictly after `after` (epoch milliseconds), or `None` when there is none up to
/// `last_year` (or up to 100 years after `after` when `last_year` is `None`) or the expression cannot fire
/// at all.
pub(crate) fn next_after(schedule: &Schedule, after: i64, zone: Tz, last_year: Option<i64>) -> Option<i64> {
    // The reference works in whole seconds: it adds one second and then drops the milliseconds.
    let start = after.checked_add(1_000)?;
    let mut calendar = Calendar::at(zone, start)?;
    calendar.set_milli(0);
    let last_year = match last_year {
        Some(last_year) => last_year,
        None => calendar.year()?.saturating_add(HORIZON_YEARS),
    };
    let search = Search {
        schedule,
        start,
        last_year,
    };
    for _ in 0..MAX_ROUNDS {
        if calendar.year()? > LAST_YEAR {
            return None;
        }
        match search.round(&mut calendar)? {
            Step::Keep(()) => return calendar.instant(),
            Step::Moved => {}
        }
    }
    None
}

/// The last year a search starting after `after` looks at.
pub(crate) fn horizon(after: i64, zone: Tz) -> Option<i64> {
    let mut calendar = Calendar::at(zone, after.checked_add(1_000)?)?;
    Some(calendar.year()?.saturating_add(HORIZON_YEARS))
}

struct Search<'a> {
    schedule: &'a Schedule,
    /// The starting instant, one second after the caller's.
    start: i64,
    last_year: i64,
}

impl Search<'_> {
    /// One pass from seconds to years. `None` means the search is over without a result.
    fn round(&self, calendar: &mut Calendar) -> Option<Step<()>> {
        let Step::Keep((second, minute)) = self.second_and_minute(calendar)? else {
            return Some(Step::Moved);
        };
        let Step::Keep(hour) = self.hour(calendar)? else {
            return Some(Step::Moved);
        };
        let Step::Keep(day) = self.day(calendar, [hour, minute, second])? else {
            return Some(Step::Moved);
        };
        calendar.set_day(day);
        let Step::Keep(()) = self.month(calendar)? else {
            return Some(Step::Moved);
        };
        self.year(calendar)
    }

    /// Returns the matching second and minute.
    fn second_and_minute(&self, calendar: &mut Calendar) -> Option<Step<(i64, i64)>> {
        let schedule = self.schedule;
        let second = calendar.second()?;
        let mut minute = calendar.minute()?;
        let second = match schedule.seconds.ceiling(second) {
            Some(second) => second,
            None => {
                minute += 1;
                calendar.set_minute(minute);
                schedule.seconds.first()?
            }
        };
        calendar.set_second(second);

        let minute = calendar.minute()?;
        let mut hour = calendar.hour()?;
        let (next, same) = match schedule.minutes.ceiling(minute) {
            Some(next) => (next, next == minute),
            None => {
                hour += 1;
                (schedule.minutes.first()?, false)
            }
        };
        if !same {
            calendar.set_second(0);
            calendar.set_minute(next);
            set_hour(calendar, hour)?;
            return Some(Step::Moved);
        }
        calendar.set_minute(next);
        Some(Step::Keep((second, next)))
    }

    /// Returns the matching hour.
    fn hour(&self, calendar: &mut Calendar) -> Option<Step<i64>> {
        let hours = self.schedule.hours;
        let hour = calendar.hour()?;
        let mut day = calendar.day()?;
        let (next, same) = match hours.ceiling(hour) {
            Some(next) => (next, next == hour),
            None => {
                day += 1;
                (hours.first()?, false)
            }
        };
        if !same {
            calendar.set_second(0);
            calendar.set_minute(0);
            calendar.set_day(day);
            set_hour(calendar, next)?;
            return Some(Step::Moved);
        }
        calendar.set_hour(next);
        Some(Step::Keep(next))
    }

    /// Picks the day of the month; `Keep` carries the day to set. `time` is the hour, minute and second
    /// chosen so far (which the calendar may show differently inside a daylight-saving gap).
    fn day(&self, calendar: &mut Calendar, time: [i64; 3]) -> Option<Step<i64>> {
        let schedule = self.schedule;
        let by_month_day = !schedule.days_of_month.contains(NO_SPEC);
        let by_week_day = !schedule.days_of_week.contains(NO_SPEC);
        match (by_month_day, by_week_day) {
            (true, false) => self.day_of_month(calendar, time),
            (false, true) if schedule.last_day_of_week => self.last_weekday_of_month(calendar),
            (false, true) if schedule.nth_day_of_week != 0 => self.nth_weekday_of_month(calendar),
            (false, true) => self.day_of_week(calendar),
            // The parser accepts only expressions with exactly one of the two set to `?`.
            _ => None,
        }
    }

    fn day_of_month(&self, calendar: &mut Calendar, time: [i64; 3]) -> Option<Step<i64>> {
        let schedule = self.schedule;
        let today = calendar.day()?;
        let month = calendar.month()?;
        let year = calendar.year()?;
        let plain = smallest_day(today, month, year, schedule.days_of_month);
        let mut day = -1;
        if let Some(nominal) = smallest_day(today, month, year, schedule.nearest_weekdays) {
            day = self.nearest_weekday(calendar, nominal, month, year, time)?;
        }
        let mut target_month = month;
        let mut advance = false;
        match plain {
            Some(plain) if day == -1 || plain < day => {
                day = plain;
                advance = true;
            }
            Some(_) => {}
            None if day == -1 => {
                day = 1;
                target_month += 1;
                advance = true;
            }
            None => {}
        }
        if advance && (day != today || target_month != month) {
            calendar.clear_time();
            calendar.set_day(day);
            calendar.set_month0(target_month - 1);
            return Some(Step::Moved);
        }
        Some(Step::Keep(day))
    }

    /// The weekday nearest to `nominal` within its month, or -1 when that day (at the time of day chosen so
    /// far) lies before the start of the search.
    fn nearest_weekday(
        &self,
        calendar: &Calendar,
        nominal: i64,
        month: i64,
        year: i64,
        time: [i64; 3],
    ) -> Option<i64> {
        let weekday = calendar.at_date(year, month, nominal).day_of_week()?;
        let last = days_in_month(month, year);
        let day = match weekday {
            SATURDAY if nominal == 1 => nominal + 2,
            SATURDAY => nominal - 1,
            SUNDAY if nominal == last => nominal - 2,
            SUNDAY => nominal + 1,
            _ => nominal,
        };
        let mut candidate = calendar.at_date(year, month, day);
        let [hour, minute, second] = time;
        candidate.set_hour(hour);
        candidate.set_minute(minute);
        candidate.set_second(second);
        // The reference builds this candidate on a calendar that carries the milliseconds of the moment it
        // runs at and compares it with the start, milliseconds included. Taking those milliseconds as 0
        // keeps the answer reproducible: a candidate in the starting second is then too early whenever the
        // start has milliseconds, which is what the reference answers almost always.
        if candidate.instant()? < self.start {
            return Some(-1);
        }
        Some(day)
    }

    fn last_weekday_of_month(&self, calendar: &mut Calendar) -> Option<Step<i64>> {
        let wanted = self.schedule.days_of_week.first()?;
        let mut day = calendar.day()?;
        let month = calendar.month()?;
        let mut ahead = days_until(calendar.day_of_week()?, wanted);
        let last = days_in_month(month, calendar.year()?);
        if day + ahead > last {
            return Some(move_to_month_start(calendar, month));
        }
        while day + ahead + 7 <= last {
            ahead += 7;
        }
        day += ahead;
        if ahead > 0 {
            return Some(move_to_day(calendar, day, month));
        }
        Some(Step::Keep(day))
    }

    fn nth_weekday_of_month(&self, calendar: &mut Calendar) -> Option<Step<i64>> {
        let wanted = self.schedule.days_of_week.first()?;
        let mut day = calendar.day()?;
        let month = calendar.month()?;
        let ahead = days_until(calendar.day_of_week()?, wanted);
        let shifted = ahead > 0;
        day += ahead;
        let week_of_month = (day + 6) / 7;
        let weeks_ahead = (self.schedule.nth_day_of_week - week_of_month) * 7;
        day += weeks_ahead;
        if weeks_ahead < 0 || day > days_in_month(month, calendar.year()?) {
            return Some(move_to_month_start(calendar, month));
        }
        if weeks_ahead > 0 || shifted {
            return Some(move_to_day(calendar, day, month));
        }
        Some(Step::Keep(day))
    }

    fn day_of_week(&self, calendar: &mut Calendar) -> Option<Step<i64>> {
        let days_of_week = self.schedule.days_of_week;
        let today = calendar.day_of_week()?;
        let wanted = match days_of_week.ceiling(today) {
            Some(wanted) => wanted,
            None => days_of_week.first()?,
        };
        let ahead = days_until(today, wanted);
        let day = calendar.day()?;
        let month = calendar.month()?;
        if day + ahead > days_in_month(month, calendar.year()?) {
            return Some(move_to_month_start(calendar, month));
        }
        if ahead > 0 {
            return Some(move_to_day(calendar, day + ahead, month));
        }
        Some(Step::Keep(day))
    }

    fn month(&self, calendar: &mut Calendar) -> Option<Step<()>> {
        let months = self.schedule.months;
        let month = calendar.month()?;
        let mut year = calendar.year()?;
        if year > self.last_year {
            return None;
        }
        let (next, same) = match months.ceiling(month) {
            Some(next) => (next, next == month),
            None => {
                year += 1;
                (months.first()?, false)
            }
        };
        if !same {
            calendar.clear_time();
            calendar.set_day(1);
            calendar.set_month0(next - 1);
            calendar.set_year(year);
            return Some(Step::Moved);
        }
        calendar.set_month0(next - 1);
        Some(Step::Keep(()))
    }

    fn year(&self, calendar: &mut Calendar) -> Option<Step<()>> {
        let year = calendar.year()?;
        let next = self.schedule.years.ceiling(year)?;
        if next != year {
            calendar.clear_time();
            calendar.set_day(1);
            calendar.set_month0(0);
            calendar.set_year(next);
            return Some(Step::Moved);
        }
        calendar.set_year(next);
        Some(Step::Keep(()))
    }
}

/// Sets the hour; when the wall clock skips that hour, the reference asks for the next one instead.
fn set_hour(calendar: &mut Calendar, hour: i64) -> Option<()> {
    calendar.set_hour(hour);
    if calendar.hour()? != hour && hour != 24 {
        calendar.set_hour(hour + 1);
    }
    Some(())
}

/// Midnight on the first of the month after `month` (1-based).
fn move_to_month_start(calendar: &mut Calendar, month: i64) -> Step<i64> {
    calendar.clear_time();
    calendar.set_day(1);
    calendar.set_month0(month);
    Step::Moved
}

/// Midnight on `day` of `month` (1-based).
fn move_to_day(calendar: &mut Calendar, day: i64, month: i64) -> Step<i64> {
    calendar.clear_time();
    calendar.set_day(day);
    calendar.set_month0(month - 1);
    Step::Moved
}

/// Days from weekday `today` forward to weekday `wanted` (both 1 = Sunday), 0 when equal.
fn days_until(today: i64, wanted: i64) -> i64 {
    if today < wanted {
        wanted - today
    } else if today > wanted {
        wanted + 7 - today
    } else {
        0
    }
}

/// The first day on or after `day` in `set` (plain days and `L`/`L-n` forms) within the month, resolving
/// `L-n` against the month's length.
fn smallest_day(day: i64, month: i64, year: i64, set: ValueSet) -> Option<i64> {
    if set.is_empty() {
        return None;
    }
    let last = days_in_month(month, year);
    // `L-n` is stored as LAST_DAY - n; the first such entry not before today is the earliest of them.
    let from_end = set
        .ceiling(LAST_DAY - (last - day))
        .map(|encoded| encoded - LAST_DAY_OFFSET_START + 1);
    if let Some(plain) = set.first_in(day, LAST_DAY_OFFSET_START)
        && plain <= last
        && from_end.is_none_or(|from_end| plain < from_end)
    {
        return Some(plain);
    }
    from_end.map(|from_end| from_end + last - LAST_DAY_OFFSET_START + 1)
}
