//! Table-driven unit tests of the public API: one case per feature of the dialect and per daylight-saving
//! situation, with fire times taken from the reference evaluator, and one case per kind of rejection.

use chrono::DateTime;
use chrono_tz::Tz;

use crate::{CronError, CronExpr, Field, Problem};

/// Evaluates `expr` in `zone` after the ISO-8601 instant `after` and compares the fire times, as ISO-8601
/// in the zone, with `expected`. An empty `expected` asks for one fire time and expects none.
fn check(expr: &str, zone: &str, after: &str, expected: &[&str]) {
    let zone: Tz = zone.parse().unwrap();
    let after = DateTime::parse_from_rfc3339(after).unwrap().timestamp_millis();
    let expr = CronExpr::parse(expr).unwrap();
    let actual: Vec<String> = expr
        .fire_times(after, zone)
        .take(expected.len().max(1))
        .map(|ms| {
            DateTime::from_timestamp_millis(ms)
                .unwrap()
                .with_timezone(&zone)
                .to_rfc3339()
        })
        .collect();
    assert_eq!(actual, expected, "{expr} in {zone}");
}

#[test]
fn features_and_daylight_saving_follow_the_reference() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "0 0 12 * * ?",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &["2024-01-01T12:00:00+00:00", "2024-01-02T12:00:00+00:00"],
        ),
        (
            "*/20 * * * * ?",
            "UTC",
            "2024-01-01T10:00:05+00:00",
            &[
                "2024-01-01T10:00:20+00:00",
                "2024-01-01T10:00:40+00:00",
                "2024-01-01T10:01:00+00:00",
            ],
        ),
        (
            "0 0 9-10 ? * MON-FRI",
            "Asia/Shanghai",
            "2024-03-08T09:30:00+08:00",
            &[
                "2024-03-08T10:00:00+08:00",
                "2024-03-11T09:00:00+08:00",
                "2024-03-11T10:00:00+08:00",
            ],
        ),
        (
            "0 0 9 ? * Mon,Wed,Fri",
            "Asia/Shanghai",
            "2024-03-08T09:30:00+08:00",
            &[
                "2024-03-11T09:00:00+08:00",
                "2024-03-13T09:00:00+08:00",
                "2024-03-15T09:00:00+08:00",
            ],
        ),
        (
            "0 0 0 1 NOV-FEB ?",
            "UTC",
            "2024-02-15T00:00:00+00:00",
            &[
                "2024-11-01T00:00:00+00:00",
                "2024-12-01T00:00:00+00:00",
                "2025-01-01T00:00:00+00:00",
            ],
        ),
        (
            "0 0 22-2 * * ?",
            "UTC",
            "2024-01-01T21:00:00+00:00",
            &[
                "2024-01-01T22:00:00+00:00",
                "2024-01-01T23:00:00+00:00",
                "2024-01-02T00:00:00+00:00",
                "2024-01-02T01:00:00+00:00",
                "2024-01-02T02:00:00+00:00",
                "2024-01-02T22:00:00+00:00",
            ],
        ),
        (
            "0 0 0 L * ?",
            "UTC",
            "2024-02-10T00:00:00+00:00",
            &[
                "2024-02-29T00:00:00+00:00",
                "2024-03-31T00:00:00+00:00",
                "2024-04-30T00:00:00+00:00",
            ],
        ),
        (
            "0 0 0 L-3 * ?",
            "UTC",
            "2024-02-10T00:00:00+00:00",
            &[
                "2024-02-26T00:00:00+00:00",
                "2024-03-28T00:00:00+00:00",
                "2024-04-27T00:00:00+00:00",
            ],
        ),
        (
            "0 0 0 LW * ?",
            "UTC",
            "2024-03-01T00:00:00+00:00",
            &[
                "2024-03-29T00:00:00+00:00",
                "2024-04-30T00:00:00+00:00",
                "2024-05-31T00:00:00+00:00",
            ],
        ),
        (
            "0 0 0 15W * ?",
            "UTC",
            "2024-05-01T00:00:00+00:00",
            &[
                "2024-05-15T00:00:00+00:00",
                "2024-06-14T00:00:00+00:00",
                "2024-07-15T00:00:00+00:00",
            ],
        ),
        (
            "0 0 0 1W * ?",
            "UTC",
            "2024-05-15T00:00:00+00:00",
            &["2024-06-03T00:00:00+00:00", "2024-07-01T00:00:00+00:00"],
        ),
        (
            "0 0 10 ? * 6L",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &[
                "2024-01-26T10:00:00+00:00",
                "2024-02-23T10:00:00+00:00",
                "2024-03-29T10:00:00+00:00",
            ],
        ),
        (
            "0 0 10 ? * 2#1",
            "UTC",
            "2024-01-01T12:00:00+00:00",
            &[
                "2024-02-05T10:00:00+00:00",
                "2024-03-04T10:00:00+00:00",
                "2024-04-01T10:00:00+00:00",
            ],
        ),
        (
            "0 0 10 ? * 5#5",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &[
                "2024-02-29T10:00:00+00:00",
                "2024-05-30T10:00:00+00:00",
                "2024-08-29T10:00:00+00:00",
            ],
        ),
        (
            "0 0 0 1 1 ? 2030/5",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &[
                "2030-01-01T00:00:00+00:00",
                "2035-01-01T00:00:00+00:00",
                "2040-01-01T00:00:00+00:00",
            ],
        ),
        ("0 0 0 31 2 ?", "UTC", "2024-01-01T00:00:00+00:00", &[]),
        (
            "0 0 0 1 1 ? 2025",
            "UTC",
            "2024-06-01T00:00:00+00:00",
            &["2025-01-01T00:00:00+00:00"],
        ),
        (
            "0 0 9 ? * TUE/2",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &["2024-01-02T09:00:00+00:00", "2024-01-09T09:00:00+00:00"],
        ),
        (
            "7/0 0 0 * * ?",
            "UTC",
            "2024-01-01T00:00:00+00:00",
            &["2024-01-01T00:00:07+00:00", "2024-01-02T00:00:07+00:00"],
        ),
        (
            "0 30 2 * * ?",
            "America/New_York",
            "2024-03-09T12:00:00-05:00",
            &["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"],
        ),
        (
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-02T12:00:00-04:00",
            &["2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
        ),
        (
            "0 0 * * * ?",
            "America/New_York",
            "2024-11-03T00:30:00-04:00",
            &[
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T02:00:00-05:00",
                "2024-11-03T03:00:00-05:00",
            ],
        ),
        (
            "0 */30 * * * ?",
            "America/New_York",
            "2024-03-10T01:00:00-05:00",
            &[
                "2024-03-10T01:30:00-05:00",
                "2024-03-10T03:00:00-04:00",
                "2024-03-10T03:30:00-04:00",
            ],
        ),
        (
            "0 0 0 * * ?",
            "Asia/Shanghai",
            "2024-01-01T00:00:00+08:00",
            &["2024-01-02T00:00:00+08:00"],
        ),
    ];
    for (expr, zone, after, expected) in cases {
        check(expr, zone, after, expected);
    }
}

#[test]
fn next_after_is_strictly_after_and_rounds_to_whole_seconds() {
    let expr = CronExpr::parse("*/20 * * * * ?").unwrap();
    let utc = chrono_tz::UTC;
    // 10:00:19.999 → 10:00:20; 10:00:20.000 → 10:00:40; 10:00:20.500 → 10:00:40.
    assert_eq!(expr.next_after(1_704_103_219_999, utc), Some(1_704_103_220_000));
    assert_eq!(expr.next_after(1_704_103_220_000, utc), Some(1_704_103_240_000));
    assert_eq!(expr.next_after(1_704_103_220_500, utc), Some(1_704_103_240_000));
    // Instants outside the calendar's range give no answer instead of a panic.
    assert_eq!(expr.next_after(i64::MAX, utc), None);
    assert_eq!(expr.next_after(i64::MIN, utc), None);
}

#[test]
fn display_and_accessors_keep_the_original_text() {
    let expr: CronExpr = "0 0 9 ? * mon-fri".parse().unwrap();
    assert_eq!(expr.to_string(), "0 0 9 ? * mon-fri");
    assert_eq!(expr.as_str(), "0 0 9 ? * mon-fri");
    let copy = expr.clone();
    assert_eq!(copy, expr);
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&expr);
}

#[test]
fn expressions_that_cannot_fire_give_none() {
    let utc = chrono_tz::UTC;
    let after = 1_704_067_200_000; // 2024-01-01T00:00:00Z
    for expr in [
        "0 0 0 30 2 ?",
        "0 0 0 1 1 ? 2020",
        "10-20 5,35 , ? */3 MON-FRI",
        "0 0 0 ? L-99 2 *",
    ] {
        let parsed = CronExpr::parse(expr).unwrap();
        assert_eq!(parsed.next_after(after, utc), None, "{expr}");
        assert_eq!(parsed.fire_times(after, utc).count(), 0, "{expr}");
    }
}

fn token_error(field: Field, token: &str, problem: Problem) -> CronError {
    CronError::Field {
        field,
        token: token.to_owned(),
        problem,
    }
}

#[test]
fn rejections_name_the_field_and_token() {
    let cases = [
        ("0 0 0 * *", CronError::FieldCount { found: 5 }),
        ("0 0 0 * * ? 2025 x", CronError::FieldCount { found: 8 }),
        ("", CronError::FieldCount { found: 0 }),
        (
            "60 * * * * ?",
            token_error(Field::Seconds, "60", Problem::OutOfRange { min: 0, max: 59 }),
        ),
        (
            "0 0-60 * * * ?",
            token_error(Field::Minutes, "0-60", Problem::OutOfRange { min: 0, max: 59 }),
        ),
        (
            "0 0 24 * * ?",
            token_error(Field::Hours, "24", Problem::OutOfRange { min: 0, max: 23 }),
        ),
        (
            "0 0 0 32 * ?",
            token_error(Field::DayOfMonth, "32", Problem::OutOfRange { min: 1, max: 31 }),
        ),
        (
            "0 0 0 * 13 ?",
            token_error(Field::Month, "13", Problem::OutOfRange { min: 1, max: 12 }),
        ),
        (
            "0 0 0 ? * 8",
            token_error(Field::DayOfWeek, "8", Problem::OutOfRange { min: 1, max: 7 }),
        ),
        (
            "0 0 0 ? * 0",
            token_error(Field::DayOfWeek, "0", Problem::OutOfRange { min: 1, max: 7 }),
        ),
        (
            "0 0 0 * ABC ?",
            token_error(Field::Month, "ABC", Problem::UnknownName),
        ),
        (
            "0 0 0 ? * MON-FOO",
            token_error(Field::DayOfWeek, "MON-FOO", Problem::UnknownName),
        ),
        (
            "ABC 0 0 * * ?",
            token_error(Field::Seconds, "ABC", Problem::NameNotAllowed),
        ),
        (
            "0 0 0 W * ?",
            token_error(Field::DayOfMonth, "W", Problem::Truncated),
        ),
        (
            "0 0 1- * * ?",
            token_error(Field::Hours, "1-", Problem::Truncated),
        ),
        (
            "*/ * * * * ?",
            token_error(Field::Seconds, "*/", Problem::MissingStep),
        ),
        (
            "0 / * * * ?",
            token_error(Field::Minutes, "/", Problem::MissingStep),
        ),
        (
            "*/60 * * * * ?",
            token_error(Field::Seconds, "*/60", Problem::StepTooLarge { max: 59 }),
        ),
        (
            "0 # * * * ?",
            token_error(Field::Minutes, "#", Problem::UnexpectedChar('#')),
        ),
        (
            "0 5/x * * * ?",
            token_error(Field::Minutes, "5/X", Problem::BadNumber),
        ),
        (
            "0 5/1x * * * ?",
            token_error(Field::Minutes, "5/1X", Problem::UnexpectedChar('X')),
        ),
        (
            "? * * * * ?",
            token_error(Field::Seconds, "?", Problem::NoSpecNotAllowed),
        ),
        (
            "0 0 0 ??? * ?",
            token_error(Field::DayOfMonth, "???", Problem::NoSpecTrailing),
        ),
        (
            "0 0 L * * ?",
            token_error(Field::Hours, "L", Problem::LastNotAllowed),
        ),
        (
            "0 0 0 5L * ?",
            token_error(Field::DayOfMonth, "5L", Problem::LastNotAllowed),
        ),
        (
            "0 0 0 L-31 * ?",
            token_error(Field::DayOfMonth, "L-31", Problem::LastOffsetTooLarge),
        ),
        (
            "0 0 0 ? * 1L,2",
            token_error(Field::DayOfWeek, "1L,2", Problem::LastInList),
        ),
        (
            "0 0 0 ? * 8L",
            token_error(Field::DayOfWeek, "8L", Problem::OutOfRange { min: 1, max: 7 }),
        ),
        (
            "0 0 5W * * ?",
            token_error(Field::Hours, "5W", Problem::WeekdayNotAllowed),
        ),
        (
            "0 0 0 32W * ?",
            token_error(Field::DayOfMonth, "32W", Problem::WeekdayOutOfRange),
        ),
        (
            "0 0 0 1#1 * ?",
            token_error(Field::DayOfMonth, "1#1", Problem::NthNotAllowed),
        ),
        (
            "0 0 0 ? * 2#6",
            token_error(Field::DayOfWeek, "2#6", Problem::NthOutOfRange),
        ),
        (
            "0 0 0 ? * 2#1,3#2",
            token_error(Field::DayOfWeek, "2#1,3#2", Problem::NthTwice),
        ),
        (
            "0 0 0 1 1 ? 2030-2020",
            token_error(Field::Year, "2030-2020", Problem::DescendingYears),
        ),
        (
            "0 0 0 1 1 ? 99999999999",
            token_error(Field::Year, "99999999999", Problem::BadNumber),
        ),
        (
            "0 0 0 1 * MON",
            CronError::DayConflict {
                day_of_month: "1".to_owned(),
                day_of_week: "MON".to_owned(),
            },
        ),
        (
            "0 0 0 ? * ?",
            token_error(Field::DayOfWeek, "?", Problem::NoSpecTwice),
        ),
    ];
    for (expr, expected) in cases {
        assert_eq!(CronExpr::parse(expr), Err(expected), "{expr}");
    }
}

#[test]
fn error_messages_name_field_and_token() {
    let error = CronExpr::parse("0 0 61 * * ?").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid hours `61`: values must be between 0 and 23"
    );
    assert_eq!(error.field(), Some(Field::Hours));
    let error = CronExpr::parse("0 0 0 1 * 2").unwrap_err();
    assert_eq!(
        error.to_string(),
        "day-of-month `1` and day-of-week `2`: exactly one of the two must be `?`"
    );
    assert_eq!(error.field(), None);
}

#[test]
fn lenient_forms_the_reference_accepts_are_accepted() {
    for expr in [
        "0,,5 * * * * ?",
        "0 0/0 * * * ?",
        "0 0 0 15W/2 * ?",
        "0 0 0 ? * 6L-2",
        "0 0 0 ? * 9#1",
        "0 0 0 ? * MON#2",
        "0 0 0 ? * 2#1,3",
        "0/15 0 0 1-15 FEB ?? 2027",
        "5 0 23 ? 2 MON ,",
        "0 0 0 L-W * ?",
        "0\t0\t0 * * ?",
        "0 0 0 ? * MONDAY",
    ] {
        assert!(CronExpr::parse(expr).is_ok(), "{expr}");
    }
}

/// Quartz stores `*` as the number 99 (and `?` as 98) in the same sets as real values and exempts that number
/// from its range check, so a literal `99` in any field means "every value", as `*` does. Existing
/// expressions may rely on it; the parser keeps the reference's reading instead of rejecting them.
#[test]
fn the_reference_reads_a_literal_99_as_every_value() {
    let zone: Tz = "UTC".parse().unwrap();
    let after = 1_735_689_599_000;
    for (quirk, plain) in [
        ("99 * * * * ?", "* * * * * ?"),
        ("0 99 * * * ?", "0 * * * * ?"),
        ("0 0 99 * * ?", "0 0 * * * ?"),
    ] {
        let quirk_times: Vec<i64> = CronExpr::parse(quirk)
            .unwrap()
            .fire_times(after, zone)
            .take(5)
            .collect();
        let plain_times: Vec<i64> = CronExpr::parse(plain)
            .unwrap()
            .fire_times(after, zone)
            .take(5)
            .collect();
        assert_eq!(quirk_times, plain_times, "{quirk}");
    }
    assert!(
        CronExpr::parse("98 * * * * ?").is_err(),
        "only the `*` marker is exempt"
    );
}
