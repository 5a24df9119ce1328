//! Why an expression was rejected: [`CronError`] names the field and the token at fault, [`Problem`] says
//! what is wrong with that token. Nothing here parses; the parser builds these values.

use std::fmt;

/// A rejected cron expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression does not have 6 or 7 whitespace-separated fields.
    #[error(
        "expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), found {found}"
    )]
    FieldCount {
        /// How many fields the expression has.
        found: usize,
    },
    /// One token of one field is malformed or out of range.
    #[error("invalid {field} `{token}`: {problem}")]
    Field {
        /// The field the token belongs to.
        field: Field,
        /// The offending token: one comma-separated item, or the whole field for field-wide rules.
        token: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// Day-of-month and day-of-week are both given, or both `?`: exactly one of them must be `?`.
    #[error(
        "day-of-month `{day_of_month}` and day-of-week `{day_of_week}`: exactly one of the two must be `?`"
    )]
    DayConflict {
        /// The day-of-month field as written.
        day_of_month: String,
        /// The day-of-week field as written.
        day_of_week: String,
    },
}

impl CronError {
    /// The field at fault, when the error concerns a single field.
    #[must_use]
    pub fn field(&self) -> Option<Field> {
        match self {
            Self::Field { field, .. } => Some(*field),
            Self::FieldCount { .. } | Self::DayConflict { .. } => None,
        }
    }
}

/// The seven positions of a Quartz cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Seconds, 0–59.
    Seconds,
    /// Minutes, 0–59.
    Minutes,
    /// Hours, 0–23.
    Hours,
    /// Day of the month, 1–31, with `L`, `L-n`, `nW`, `LW` and `?`.
    DayOfMonth,
    /// Month, 1–12 or `JAN`–`DEC`.
    Month,
    /// Day of the week, 1–7 with 1 = Sunday or `SUN`–`SAT`, with `nL`, `n#m` and `?`.
    DayOfWeek,
    /// The optional year.
    Year,
}

impl Field {
    /// Every field in expression order.
    pub const ALL: [Self; 7] = [
        Self::Seconds,
        Self::Minutes,
        Self::Hours,
        Self::DayOfMonth,
        Self::Month,
        Self::DayOfWeek,
        Self::Year,
    ];

    /// The field's name as used in error messages (`day-of-month`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Minutes => "minutes",
            Self::Hours => "hours",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
            Self::Year => "year",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A number lies outside the field's range.
    #[error("values must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A step after `/` is larger than the field allows.
    #[error("the step must be at most {max}")]
    StepTooLarge {
        /// Largest allowed step.
        max: u32,
    },
    /// A three-letter name that is not a month or weekday name.
    #[error("unknown name")]
    UnknownName,
    /// Names are only allowed in the month and day-of-week fields.
    #[error("names are only allowed in the month and day-of-week fields")]
    NameNotAllowed,
    /// The token ends where more characters are required (`1-`, `L-`, `AB`).
    #[error("the token ends too early")]
    Truncated,
    /// A number was expected but is missing or malformed (or does not fit 32 bits).
    #[error("a number is expected here")]
    BadNumber,
    /// A character that cannot start or continue a token here.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// `/` without a number after it.
    #[error("`/` must be followed by a number")]
    MissingStep,
    /// `?` outside day-of-month and day-of-week.
    #[error("`?` is only allowed in the day-of-month and day-of-week fields")]
    NoSpecNotAllowed,
    /// `?` followed by more characters.
    #[error("`?` must stand alone")]
    NoSpecTrailing,
    /// `?` in day-of-week when day-of-month is already `?`.
    #[error("`?` may be given for day-of-month or day-of-week, not both")]
    NoSpecTwice,
    /// `L` outside day-of-month and day-of-week, or after a number outside day-of-week.
    #[error("`L` is not allowed here")]
    LastNotAllowed,
    /// `L-n` with n above 30.
    #[error("the offset from the last day must be at most 30")]
    LastOffsetTooLarge,
    /// `L` combined with other days in a day-of-week list.
    #[error("`L` cannot be combined with other days of the week")]
    LastInList,
    /// `W` outside day-of-month.
    #[error("`W` is only allowed in the day-of-month field")]
    WeekdayNotAllowed,
    /// `nW` with n above 31.
    #[error("`W` needs a day of at most 31")]
    WeekdayOutOfRange,
    /// `#` outside day-of-week.
    #[error("`#` is only allowed in the day-of-week field")]
    NthNotAllowed,
    /// `#` not followed by a number from 1 to 5.
    #[error("`#` must be followed by a number from 1 to 5")]
    NthOutOfRange,
    /// More than one `#` in the day-of-week field.
    #[error("only one `#` is allowed in the day-of-week field")]
    NthTwice,
    /// A year range whose end is before its start.
    #[error("a year range must not end before it starts")]
    DescendingYears,
}
