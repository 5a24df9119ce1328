//! Conversion between instants and the local, second-precision wall-clock values stored in DATETIME
//! columns (see the module documentation of [`crate::store`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The stored form of an instant: wall-clock time in `zone`, truncated to whole seconds.
pub(crate) fn to_db(zone: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    let local = instant.with_timezone(&zone).naive_local();
    local.with_nanosecond(0).unwrap_or(local)
}

/// The instant a stored wall-clock time stands for. An ambiguous time (the repeated hour when clocks
/// go back) is the earlier instant; a time that does not exist (skipped when clocks go forward) is read
/// with the offset in force just before the gap.
pub(crate) fn from_db(zone: Tz, stored: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&stored).earliest() {
        Some(local) => local.with_timezone(&Utc),
        None => {
            // Gaps are at most a few hours and never closer than a day to the previous transition.
            let before = stored - chrono::TimeDelta::hours(24);
            let offset = zone.offset_from_utc_datetime(&before).fix();
            DateTime::from_naive_utc_and_offset(stored - offset, Utc)
        }
    }
}

pub(crate) fn from_db_opt(zone: Tz, stored: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    stored.map(|stored| from_db(zone, stored))
}

/// Midnight starting `day`, as stored.
pub(crate) fn day_start(day: NaiveDate) -> NaiveDateTime {
    day.and_time(chrono::NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_zone() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let instant =
            Utc.with_ymd_and_hms(2026, 6, 19, 2, 0, 0).unwrap() + chrono::TimeDelta::milliseconds(999);
        let stored = to_db(zone, instant);
        assert_eq!(stored.to_string(), "2026-06-19 10:00:00");
        assert_eq!(
            from_db(zone, stored),
            Utc.with_ymd_and_hms(2026, 6, 19, 2, 0, 0).unwrap()
        );
    }

    #[test]
    fn daylight_saving_edges() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        // 02:30 on 29 March 2026 does not exist in Berlin; it is read with the winter offset (+1).
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            from_db(zone, gap),
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap()
        );
        // 02:30 on 25 October 2026 happens twice; the first one (+2) is taken.
        let fold = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            from_db(zone, fold),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
        );
    }
}
