//! A wall clock in one time zone that behaves like the reference's lenient Gregorian calendar: fields can be
//! set out of range (minute 60, day 32, month 13) and are carried over when the instant is next needed, and
//! wall times that a daylight-saving change skips or repeats resolve the way the reference resolves them.
//! Only the search uses it; nothing here knows about cron fields.

use chrono::{DateTime, LocalResult, Offset, TimeZone};
use chrono_tz::Tz;

const MILLIS_PER_SECOND: i64 = 1_000;
const MILLIS_PER_MINUTE: i64 = 60 * MILLIS_PER_SECOND;
const MILLIS_PER_HOUR: i64 = 60 * MILLIS_PER_MINUTE;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

/// Distance between the probes that establish a [`Span`]. Larger than any difference between two offsets
/// of one zone (26 hours), so a wall time read inside a span's interior cannot have a second reading.
const PROBE_STEP: i64 = 36 * MILLIS_PER_HOUR;

/// A stretch of UTC instants over which the zone's offset is known not to change, so that most instants
/// and wall times near the last one resolve without a time zone lookup.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First instant of the stretch.
    start: i64,
    /// Last instant of the stretch.
    end: i64,
    offset: i64,
}

/// Wall-clock fields; any of them may be out of range until the next [`Calendar::resolve`].
#[derive(Debug, Clone, Copy)]
struct Fields {
    year: i64,
    /// 0-based, as in the reference, so that "next month" can be written as the current 1-based month.
    month0: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

/// A settable wall clock over an instant.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    zone: Tz,
    fields: Fields,
    instant: i64,
    day_of_week: i64,
    dirty: bool,
    span: Option<Span>,
}

impl Calendar {
    /// The calendar at `instant` (epoch milliseconds), or `None` outside chrono's range.
    pub(crate) fn at(zone: Tz, instant: i64) -> Option<Self> {
        let mut calendar = Self {
            zone,
            fields: Fields {
                year: 1970,
                month0: 0,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                milli: 0,
            },
            instant,
            day_of_week: 5,
            dirty: false,
            span: None,
        };
        calendar.load(instant)?;
        Some(calendar)
    }

    /// A calendar in the same zone at midnight of the given date (month 1-based), resolved like a calendar
    /// whose fields were all set to it.
    pub(crate) fn at_date(&self, year: i64, month: i64, day: i64) -> Self {
        let mut calendar = self.clone();
        calendar.fields = Fields {
            year,
            month0: month - 1,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            milli: 0,
        };
        calendar.dirty = true;
        calendar
    }

    pub(crate) fn set_year(&mut self, year: i64) {
        self.fields.year = year;
        self.dirty = true;
    }

    /// Sets the month, 0-based; 12 means January of the next year.
    pub(crate) fn set_month0(&mut self, month0: i64) {
        self.fields.month0 = month0;
        self.dirty = true;
    }

    pub(crate) fn set_day(&mut self, day: i64) {
        self.fields.day = day;
        self.dirty = true;
    }

    pub(crate) fn set_hour(&mut self, hour: i64) {
        self.fields.hour = hour;
        self.dirty = true;
    }

    pub(crate) fn set_minute(&mut self, minute: i64) {
        self.fields.minute = minute;
        self.dirty = true;
    }

    pub(crate) fn set_second(&mut self, second: i64) {
        self.fields.second = second;
        self.dirty = true;
    }

    pub(crate) fn set_milli(&mut self, milli: i64) {
        self.fields.milli = milli;
        self.dirty = true;
    }

    /// Sets hour, minute and second to midnight.
    pub(crate) fn clear_time(&mut self) {
        self.set_second(0);
        self.set_minute(0);
        self.set_hour(0);
    }

    pub(crate) fn year(&mut self) -> Option<i64> {
        Some(self.resolved()?.year)
    }

    /// The month, 1-based.
    pub(crate) fn month(&mut self) -> Option<i64> {
        Some(self.resolved()?.month0 + 1)
    }

    pub(crate) fn day(&mut self) -> Option<i64> {
        Some(self.resolved()?.day)
    }

    pub(crate) fn hour(&mut self) -> Option<i64> {
        Some(self.resolved()?.hour)
    }

    pub(crate) fn minute(&mut self) -> Option<i64> {
        Some(self.resolved()?.minute)
    }

    pub(crate) fn second(&mut self) -> Option<i64> {
        Some(self.resolved()?.second)
    }

    /// 1 = Sunday … 7 = Saturday.
    pub(crate) fn day_of_week(&mut self) -> Option<i64> {
        self.resolved()?;
        Some(self.day_of_week)
    }

    /// The instant, epoch milliseconds.
    pub(crate) fn instant(&mut self) -> Option<i64> {
        self.resolved()?;
        Some(self.instant)
    }

    fn resolved(&mut self) -> Option<Fields> {
        if self.dirty {
            self.resolve()?;
        }
        Some(self.fields)
    }

    /// Carries out-of-range fields over, finds the instant of the resulting wall time and reloads the
    /// fields from it.
    ///
    /// A wall time that occurs twice (clocks going back) resolves to its later occurrence, because the
    /// reference takes the offset in force after the transition. A wall time that never occurs (clocks going
    /// forward) resolves with the offset before the transition, so it lands after the gap by the gap's
    /// length.
    fn resolve(&mut self) -> Option<()> {
        let fields = self.fields;
        let year = fields.year.checked_add(fields.month0.div_euclid(12))?;
        let month = fields.month0.rem_euclid(12) + 1;
        let days = days_from_civil(year, month, 1).checked_add(fields.day - 1)?;
        let wall = days
            .checked_mul(MILLIS_PER_DAY)?
            .checked_add(fields.hour.checked_mul(MILLIS_PER_HOUR)?)?
            .checked_add(fields.minute.checked_mul(MILLIS_PER_MINUTE)?)?
            .checked_add(fields.second.checked_mul(MILLIS_PER_SECOND)?)?
            .checked_add(fields.milli)?;
        let instant = wall.checked_sub(self.offset_for_wall(wall)?)?;
        self.load(instant)
    }

    /// The offset (milliseconds east of UTC) that the reference applies to the wall time `wall`.
    fn offset_for_wall(&self, wall: i64) -> Option<i64> {
        if let Some(span) = self.span {
            let reading = wall - span.offset;
            if reading >= span.start + PROBE_STEP && reading <= span.end - PROBE_STEP {
                return Some(span.offset);
            }
        }
        let local = DateTime::from_timestamp_millis(wall)?.naive_utc();
        let offset_of =
            |offset: &<Tz as TimeZone>::Offset| i64::from(offset.fix().local_minus_utc()) * MILLIS_PER_SECOND;
        match self.zone.offset_from_local_datetime(&local) {
            LocalResult::Single(offset) => Some(offset_of(&offset)),
            LocalResult::Ambiguous(first, second) => Some(offset_of(&first).min(offset_of(&second))),
            LocalResult::None => {
                // Looking the offset up at `wall` read with one of the two offsets around the gap yields
                // the other one, so two lookups find both.
                let first = self.offset_at(wall - self.offset_at(wall)?)?;
                let second = self.offset_at(wall - first)?;
                Some(first.min(second))
            }
        }
    }

    /// The offset at `instant`; also records a [`Span`] around it when the offset is the same 36 and 72
    /// hours either side. A change and its exact reversal between two probes would go unnoticed; no zone has
    /// two transitions less than 36 hours apart that cancel out.
    fn probe(&mut self, instant: i64) -> Option<i64> {
        let offset = self.offset_at(instant)?;
        let mut steady = true;
        for step in [-2, -1, 1, 2] {
            let probe = instant.checked_add(step * PROBE_STEP)?;
            if self.offset_at(probe)? != offset {
                steady = false;
                break;
            }
        }
        self.span = steady.then(|| Span {
            start: instant - 2 * PROBE_STEP,
            end: instant + 2 * PROBE_STEP,
            offset,
        });
        Some(offset)
    }

    /// Total offset in milliseconds at `instant`.
    fn offset_at(&self, instant: i64) -> Option<i64> {
        let utc = DateTime::from_timestamp_millis(instant)?.naive_utc();
        let offset = self.zone.offset_from_utc_datetime(&utc);
        Some(i64::from(offset.fix().local_minus_utc()) * MILLIS_PER_SECOND)
    }

    fn load(&mut self, instant: i64) -> Option<()> {
        let offset = match self.span {
            Some(span) if span.start <= instant && instant <= span.end => span.offset,
            _ => self.probe(instant)?,
        };
        let wall = instant.checked_add(offset)?;
        let days = wall.div_euclid(MILLIS_PER_DAY);
        let time = wall.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        self.fields = Fields {
            year,
            month0: month - 1,
            day,
            hour: time / MILLIS_PER_HOUR,
            minute: time % MILLIS_PER_HOUR / MILLIS_PER_MINUTE,
            second: time % MILLIS_PER_MINUTE / MILLIS_PER_SECOND,
            milli: time % MILLIS_PER_SECOND,
        };
        // 1970-01-01 was a Thursday (5 when Sunday is 1).
        self.day_of_week = (days + 4).rem_euclid(7) + 1;
        self.instant = instant;
        self.dirty = false;
        Some(())
    }
}

/// Days in `month` (1-based) of `year`, Gregorian.
pub(crate) fn days_in_month(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Checks the civil conversions against chrono, which the rest of the crate trusts for offsets.
#[cfg(test)]
pub(crate) fn civil_matches_chrono(days: i64) -> bool {
    let (year, month, day) = civil_from_days(days);
    let Some(date) = chrono::NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32) else {
        return false;
    };
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a valid date");
    (date - epoch).num_days() == days && days_from_civil(year, month, day) == days
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;
    use chrono_tz::Tz;

    use crate::calendar::{Calendar, civil_matches_chrono, days_in_month};

    #[test]
    fn civil_conversions_agree_with_chrono() {
        for days in (-800_000..800_000).step_by(97) {
            assert!(civil_matches_chrono(days), "day {days}");
        }
    }

    #[test]
    fn month_lengths() {
        let cases = [
            (2, 2024, 29),
            (2, 2023, 28),
            (2, 1900, 28),
            (2, 2000, 29),
            (4, 2023, 30),
            (12, 2023, 31),
        ];
        for (month, year, days) in cases {
            assert_eq!(days_in_month(month, year), days, "{year}-{month}");
        }
    }

    /// Sets the wall time and returns the resolved instant.
    fn resolve(zone: Tz, fields: [i64; 6]) -> i64 {
        let [year, month, day, hour, minute, second] = fields;
        let mut calendar = Calendar::at(zone, 0).unwrap().at_date(year, month, day);
        calendar.set_hour(hour);
        calendar.set_minute(minute);
        calendar.set_second(second);
        calendar.instant().unwrap()
    }

    #[test]
    fn out_of_range_fields_carry_over() {
        let utc = chrono_tz::UTC;
        // 2023-12-31 24:60:60 is 2024-01-01 01:01:00.
        assert_eq!(resolve(utc, [2023, 12, 31, 24, 60, 60]), 1_704_070_860_000);
        // Month 13 of 2023 is January 2024; day 32 of January is February 1st.
        assert_eq!(resolve(utc, [2023, 13, 32, 0, 0, 0]), 1_706_745_600_000);
    }

    #[test]
    fn daylight_saving_wall_times_resolve_like_the_reference() {
        let cases = [
            // 02:30 on 2024-03-10 does not exist in New York: read with EST, it is 03:30 EDT.
            ([2024, 3, 10, 2, 30, 0], 1_710_055_800_000),
            // 01:30 on 2024-11-03 happens twice: the later one (EST) wins.
            ([2024, 11, 3, 1, 30, 0], 1_730_615_400_000),
            // The same far in the future, past the last transition year some tz databases list.
            ([2040, 3, 11, 2, 30, 0], 2_215_063_800_000),
            // An ordinary time.
            ([2024, 7, 1, 12, 0, 0], 1_719_849_600_000),
        ];
        for (fields, expected) in cases {
            assert_eq!(resolve(New_York, fields), expected, "{fields:?}");
        }
    }
}
