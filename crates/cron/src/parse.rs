//! Turning the text of an expression into a [`Schedule`]: the value sets of each field plus the day-of-week
//! modifiers. The grammar is the reference's, including its lenient corners (see the crate docs); nothing
//! here knows about calendars or time zones.

use crate::error::{CronError, Field, Problem};

/// Marker the reference stores for `?` (no specific value) in day-of-month or day-of-week.
pub(crate) const NO_SPEC: i64 = 98;
/// Marker the reference stores, besides the values themselves, for a bare `*`.
pub(crate) const ALL_SPEC: i64 = 99;
/// Day-of-month value standing for `L-30`; `L` itself is [`LAST_DAY`], and `L-n` is `LAST_DAY - n`.
pub(crate) const LAST_DAY_OFFSET_START: i64 = 32;
/// Day-of-month value standing for `L`.
pub(crate) const LAST_DAY: i64 = LAST_DAY_OFFSET_START + MAX_LAST_DAY_OFFSET;
const MAX_LAST_DAY_OFFSET: i64 = 30;
/// The reference never looks past this year.
pub(crate) const LAST_YEAR: i64 = 2999;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A small ordered set of field values (0–127), the markers above included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ValueSet(u128);

impl ValueSet {
    pub(crate) fn insert(&mut self, value: i64) {
        if (0..128).contains(&value) {
            self.0 |= 1u128 << value;
        }
    }

    pub(crate) fn contains(self, value: i64) -> bool {
        (0..128).contains(&value) && self.0 & (1u128 << value) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The smallest member not below `from`.
    pub(crate) fn ceiling(self, from: i64) -> Option<i64> {
        let from = from.max(0);
        if from >= 128 {
            return None;
        }
        let rest = self.0 >> from;
        (rest != 0).then(|| from + i64::from(rest.trailing_zeros()))
    }

    /// The smallest member in `from..to`.
    pub(crate) fn first_in(self, from: i64, to: i64) -> Option<i64> {
        self.ceiling(from).filter(|value| *value < to)
    }

    pub(crate) fn first(self) -> Option<i64> {
        self.ceiling(0)
    }

    pub(crate) fn last(self) -> Option<i64> {
        (self.0 != 0).then(|| 127 - i64::from(self.0.leading_zeros()))
    }
}

/// The set of years, 0 to [`LAST_YEAR`]. Larger years can never be reached, so they are not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YearSet(Box<[u64; YEAR_WORDS]>);

const YEAR_WORDS: usize = (LAST_YEAR as usize) / 64 + 1;

impl Default for YearSet {
    fn default() -> Self {
        Self(Box::new([0; YEAR_WORDS]))
    }
}

impl YearSet {
    fn insert(&mut self, year: i64) {
        if (0..=LAST_YEAR).contains(&year) {
            let year = year as usize;
            self.0[year / 64] |= 1u64 << (year % 64);
        }
    }

    /// The smallest member not below `from`.
    pub(crate) fn ceiling(&self, from: i64) -> Option<i64> {
        let from = from.max(0);
        if from > LAST_YEAR {
            return None;
        }
        let from = from as usize;
        let mut word = from / 64;
        let mut bits = self.0[word] >> (from % 64) << (from % 64);
        loop {
            if bits != 0 {
                return Some((word * 64) as i64 + i64::from(bits.trailing_zeros()));
            }
            word += 1;
            bits = *self.0.get(word)?;
        }
    }
}

/// Everything the search needs to know about an expression.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Schedule {
    pub(crate) seconds: ValueSet,
    pub(crate) minutes: ValueSet,
    pub(crate) hours: ValueSet,
    /// Plain days plus `L`/`L-n` encoded from [`LAST_DAY_OFFSET_START`] up.
    pub(crate) days_of_month: ValueSet,
    /// Days given with `W`, encoded like `days_of_month`.
    pub(crate) nearest_weekdays: ValueSet,
    pub(crate) months: ValueSet,
    /// 1 = Sunday … 7 = Saturday.
    pub(crate) days_of_week: ValueSet,
    pub(crate) years: YearSet,
    /// `nL` in day-of-week: the last such weekday of the month.
    pub(crate) last_day_of_week: bool,
    /// `n#m` in day-of-week: m, or 0 when absent.
    pub(crate) nth_day_of_week: i64,
}

/// Parses `expression` the way the reference does (upper-cased, fields split on spaces and tabs, items on
/// commas).
pub(crate) fn parse(expression: &str) -> Result<Schedule, CronError> {
    let upper = expression.to_uppercase();
    let fields: Vec<&str> = upper
        .split([' ', '\t'])
        .filter(|field| !field.is_empty())
        .collect();
    if fields.len() < 6 || fields.len() > 7 {
        return Err(CronError::FieldCount { found: fields.len() });
    }
    let mut schedule = Schedule::default();
    for (field, text) in Field::ALL.into_iter().zip(&fields) {
        // Java's `String.trim` drops every control character at either end, not only whitespace.
        let text = text.trim_matches(|c: char| c <= ' ');
        check_whole_field(field, text)?;
        for item in text.split(',').filter(|item| !item.is_empty()) {
            let chars: Vec<char> = item.chars().collect();
            schedule
                .store(field, &chars)
                .map_err(|problem| CronError::Field {
                    field,
                    token: item.to_owned(),
                    problem,
                })?;
        }
    }
    if fields.len() == 6 {
        schedule
            .add_range(Field::Year, ALL_SPEC, -1, 0)
            .map_err(|problem| CronError::Field {
                field: Field::Year,
                token: "*".to_owned(),
                problem,
            })?;
    }
    let day_of_month_free = schedule.days_of_month.contains(NO_SPEC);
    let day_of_week_free = schedule.days_of_week.contains(NO_SPEC);
    if day_of_month_free == day_of_week_free {
        return Err(CronError::DayConflict {
            day_of_month: fields[3].to_owned(),
            day_of_week: fields[5].to_owned(),
        });
    }
    Ok(schedule)
}

/// Rules the reference applies to the day-of-week field as a whole before looking at its items.
fn check_whole_field(field: Field, text: &str) -> Result<(), CronError> {
    if field != Field::DayOfWeek {
        return Ok(());
    }
    let problem = if text.contains('L') && text.chars().count() > 1 && text.contains(',') {
        Problem::LastInList
    } else if text.matches('#').count() > 1 {
        Problem::NthTwice
    } else {
        return Ok(());
    };
    Err(CronError::Field {
        field,
        token: text.to_owned(),
        problem,
    })
}

/// `L`, `LW`, `L-n` and `L-nW` (n possibly empty) are day-of-month forms, not names.
fn is_last_day_form(item: &[char]) -> bool {
    match item {
        ['L'] | ['L', 'W'] => true,
        ['L', '-', rest @ ..] => {
            let digits = rest.strip_suffix(&['W']).unwrap_or(rest);
            digits.iter().all(char::is_ascii_digit)
        }
        _ => false,
    }
}

impl Schedule {
    /// Stores one comma-separated item of `field`.
    fn store(&mut self, field: Field, item: &[char]) -> Result<(), Problem> {
        let Some(&first) = item.first() else {
            return Ok(());
        };
        if first.is_ascii_uppercase() && !is_last_day_form(item) {
            return self.store_name(field, item);
        }
        match first {
            '?' => self.store_no_spec(field, item),
            '*' | '/' => self.store_every(field, item),
            'L' => self.store_last(field, item),
            '0'..='9' => {
                let value = digit(first)?;
                if item.len() == 1 {
                    return self.add_range(field, value, -1, -1);
                }
                let (value, position) = if item[1].is_ascii_digit() {
                    read_number(value, item, 1)?
                } else {
                    (value, 1)
                };
                self.store_after_number(field, item, value, position)
            }
            other => Err(Problem::UnexpectedChar(other)),
        }
    }

    /// `JAN`, `MON-FRI`, `FRI#2`, `FRIL`: only the first three letters of each name count, and anything the
    /// reference does not look at after them is ignored (so `TUE/2` means Tuesday).
    fn store_name(&mut self, field: Field, item: &[char]) -> Result<(), Problem> {
        let name = item.get(0..3).ok_or(Problem::Truncated)?;
        let (start, end) = match field {
            Field::Month => {
                let start = lookup(&MONTHS, name).ok_or(Problem::UnknownName)? + 1;
                let end = if item.get(3) == Some(&'-') {
                    let name = item.get(4..7).ok_or(Problem::Truncated)?;
                    lookup(&MONTHS, name).ok_or(Problem::UnknownName)? + 1
                } else {
                    -1
                };
                (start, end)
            }
            Field::DayOfWeek => {
                let start = lookup(&WEEKDAYS, name).ok_or(Problem::UnknownName)? + 1;
                let mut end = -1;
                match item.get(3) {
                    Some('-') => {
                        let name = item.get(4..7).ok_or(Problem::Truncated)?;
                        end = lookup(&WEEKDAYS, name).ok_or(Problem::UnknownName)? + 1;
                    }
                    Some('#') => self.nth_day_of_week = nth(&item[4..])?,
                    Some('L') => self.last_day_of_week = true,
                    _ => {}
                }
                (start, end)
            }
            _ => return Err(Problem::NameNotAllowed),
        };
        let step = if end == -1 { 0 } else { 1 };
        self.add_range(field, start, end, step)
    }

    fn store_no_spec(&mut self, field: Field, item: &[char]) -> Result<(), Problem> {
        // The reference tolerates exactly one character after `?` (so `??` passes).
        if item.len() > 2 {
            return Err(Problem::NoSpecTrailing);
        }
        if !matches!(field, Field::DayOfMonth | Field::DayOfWeek) {
            return Err(Problem::NoSpecNotAllowed);
        }
        if field == Field::DayOfWeek && self.days_of_month.last() == Some(NO_SPEC) {
            return Err(Problem::NoSpecTwice);
        }
        self.add_range(field, NO_SPEC, -1, 0)
    }

    /// `*`, `*/n` and `/n`.
    fn store_every(&mut self, field: Field, item: &[char]) -> Result<(), Problem> {
        if item == ['*'] {
            return self.add_range(field, ALL_SPEC, -1, 0);
        }
        if item[0] == '/' && matches!(item.get(1), None | Some(' ' | '\t')) {
            return Err(Problem::MissingStep);
        }
        let position = usize::from(item[0] == '*');
        let step = if item.get(position) == Some(&'/') {
            let rest = item.get(position + 1..).unwrap_or(&[]);
            if rest.is_empty() {
                return Err(Problem::MissingStep);
            }
            let step = java_int(rest)?;
            check_step(field, step)?;
            step
        } else {
            1
        };
        self.add_range(field, ALL_SPEC, -1, step)
    }

    /// `L`, `LW`, `L-n`, `L-nW`.
    fn store_last(&mut self, field: Field, item: &[char]) -> Result<(), Problem> {
        match field {
            Field::Seconds | Field::Minutes | Field::Hours => Err(Problem::LastNotAllowed),
            // A bare `L` in day-of-week means Saturday (the last day of the week); the reference ignores
            // whatever follows it.
            Field::DayOfWeek => self.add_range(field, 7, 7, 0),
            Field::DayOfMonth => {
                let mut day = LAST_DAY;
                let mut position = 1;
                if item.get(1) == Some(&'-') {
                    let (offset, next) = read_number(0, item, 2)?;
                    if offset > MAX_LAST_DAY_OFFSET {
                        return Err(Problem::LastOffsetTooLarge);
                    }
                    day -= offset;
                    position = next;
                }
                if item.get(position) == Some(&'W') {
                    self.nearest_weekdays.insert(day);
                } else {
                    self.days_of_month.insert(day);
                }
                Ok(())
            }
            // The reference accepts `L` in the month and year fields and stores nothing for it.
            Field::Month | Field::Year => Ok(()),
        }
    }

    /// What may follow a leading number: `nL`, `nW`, `n#m`, `a-b`, `a-b/s`, `n/s`, or nothing the
    /// reference looks at.
    fn store_after_number(
        &mut self,
        field: Field,
        item: &[char],
        value: i64,
        position: usize,
    ) -> Result<(), Problem> {
        let Some(&next) = item.get(position) else {
            return self.add_range(field, value, -1, -1);
        };
        match next {
            'L' => {
                if field != Field::DayOfWeek {
                    return Err(Problem::LastNotAllowed);
                }
                if !(1..=7).contains(&value) {
                    return Err(Problem::OutOfRange { min: 1, max: 7 });
                }
                self.last_day_of_week = true;
                self.days_of_week.insert(value);
                Ok(())
            }
            'W' => {
                if field != Field::DayOfMonth {
                    return Err(Problem::WeekdayNotAllowed);
                }
                if value > 31 {
                    return Err(Problem::WeekdayOutOfRange);
                }
                self.nearest_weekdays.insert(value);
                Ok(())
            }
            '#' => {
                if field != Field::DayOfWeek {
                    return Err(Problem::NthNotAllowed);
                }
                self.nth_day_of_week = nth(&item[position + 1..])?;
                // The reference does not range-check the weekday before `#`; values past the set's width
                // behave like any other impossible weekday.
                self.days_of_week.insert(value.min(127));
                Ok(())
            }
            '-' => {
                let mut position = position + 1;
                let first = digit(*item.get(position).ok_or(Problem::Truncated)?)?;
                position += 1;
                if position >= item.len() {
                    return self.add_range(field, value, first, 1);
                }
                let (end, next) = if item[position].is_ascii_digit() {
                    read_number(first, item, position)?
                } else {
                    (first, position)
                };
                position = next;
                if item.get(position) != Some(&'/') {
                    return self.add_range(field, value, end, 1);
                }
                position += 1;
                let first = digit(*item.get(position).ok_or(Problem::Truncated)?)?;
                position += 1;
                // Unlike `n/s`, the reference does not range-check the step of `a-b/s`.
                let step = match item.get(position) {
                    Some(c) if c.is_ascii_digit() => read_number(first, item, position)?.0,
                    _ => first,
                };
                self.add_range(field, value, end, step)
            }
            '/' => {
                if matches!(item.get(position + 1), None | Some(' ' | '\t')) {
                    return Err(Problem::MissingStep);
                }
                let first = digit(item[position + 1])?;
                let step = match item.get(position + 2) {
                    None => first,
                    Some(c) if c.is_ascii_digit() => read_number(first, item, position + 2)?.0,
                    Some(&c) => return Err(Problem::UnexpectedChar(c)),
                };
                check_step(field, step)?;
                self.add_range(field, value, -1, step)
            }
            _ => self.add_range(field, value, -1, 0),
        }
    }

    /// Adds `start`, or `start..=end` every `step`, to the field's set, with the reference's range checks,
    /// defaults (`-1` = from the field's minimum or to its maximum) and wrap-around for descending ranges.
    pub(crate) fn add_range(&mut self, field: Field, start: i64, end: i64, step: i64) -> Result<(), Problem> {
        let (min, max) = bounds(field);
        let marker =
            start == ALL_SPEC || (start == NO_SPEC && matches!(field, Field::DayOfMonth | Field::DayOfWeek));
        let out_of_range = match field {
            // The reference lets 0 through as the end of a day-of-week range and never checks years.
            Field::DayOfWeek => start == 0 || start > max || end > max,
            Field::Year => false,
            _ => start < min || start > max || end > max,
        };
        if out_of_range && !marker {
            return Err(Problem::OutOfRange {
                min: min as u32,
                max: max as u32,
            });
        }
        if (step == 0 || step == -1) && start != ALL_SPEC {
            self.set_mut(field)
                .insert_value(if start == -1 { NO_SPEC } else { start });
            return Ok(());
        }
        let mut step = step;
        if start == ALL_SPEC && step <= 0 {
            step = 1;
            self.set_mut(field).insert_value(ALL_SPEC);
        }
        let from = if start == -1 || start == ALL_SPEC {
            min
        } else {
            start
        };
        let mut to = if end == -1 { max } else { end };
        let mut wrap = None;
        if to < from {
            let modulus = match field {
                Field::Seconds | Field::Minutes => 60,
                Field::Hours => 24,
                Field::DayOfMonth => 31,
                Field::Month => 12,
                Field::DayOfWeek => 7,
                Field::Year => return Err(Problem::DescendingYears),
            };
            to += modulus;
            wrap = Some(modulus);
        }
        // Years past the last reachable one need not be stored.
        let to = to.min(LAST_YEAR);
        let one_based = matches!(field, Field::Month | Field::DayOfWeek | Field::DayOfMonth);
        let mut set = self.set_mut(field);
        let mut value = from;
        while value <= to {
            let stored = match wrap {
                None => value,
                Some(modulus) => match value % modulus {
                    0 if one_based => modulus,
                    rest => rest,
                },
            };
            set.insert_value(stored);
            value += step;
        }
        Ok(())
    }

    fn set_mut(&mut self, field: Field) -> SetMut<'_> {
        match field {
            Field::Seconds => SetMut::Small(&mut self.seconds),
            Field::Minutes => SetMut::Small(&mut self.minutes),
            Field::Hours => SetMut::Small(&mut self.hours),
            Field::DayOfMonth => SetMut::Small(&mut self.days_of_month),
            Field::Month => SetMut::Small(&mut self.months),
            Field::DayOfWeek => SetMut::Small(&mut self.days_of_week),
            Field::Year => SetMut::Years(&mut self.years),
        }
    }
}

enum SetMut<'a> {
    Small(&'a mut ValueSet),
    Years(&'a mut YearSet),
}

impl SetMut<'_> {
    fn insert_value(&mut self, value: i64) {
        match self {
            Self::Small(set) => set.insert(value),
            Self::Years(set) => set.insert(value),
        }
    }
}

fn lookup(names: &[&str], name: &[char]) -> Option<i64> {
    names
        .iter()
        .position(|candidate| candidate.chars().eq(name.iter().copied()))
        .map(|index| index as i64)
}

fn digit(c: char) -> Result<i64, Problem> {
    c.to_digit(10).map(i64::from).ok_or(Problem::BadNumber)
}

/// Reads the digits from `position` on, appended to the decimal digits of `prefix` (the reference's way of
/// continuing a number it has started). Returns the value and the position after it; like the reference, a
/// number that runs to the end reports one past the end.
fn read_number(prefix: i64, item: &[char], position: usize) -> Result<(i64, usize), Problem> {
    if position >= item.len() {
        return Err(Problem::Truncated);
    }
    let digits = item[position..].iter().take_while(|c| c.is_ascii_digit()).count();
    let text: String = prefix
        .to_string()
        .chars()
        .chain(item[position..position + digits].iter().copied())
        .collect();
    let value = text.parse::<i32>().map_err(|_| Problem::BadNumber)?;
    let end = position + digits;
    Ok((i64::from(value), if end < item.len() { end } else { end + 1 }))
}

/// Java's `Integer.parseInt`: an optional sign, then decimal digits, within 32 bits.
fn java_int(text: &[char]) -> Result<i64, Problem> {
    let digits = match text {
        ['+' | '-', rest @ ..] => rest,
        _ => text,
    };
    if digits.is_empty() || !digits.iter().all(char::is_ascii_digit) {
        return Err(Problem::BadNumber);
    }
    let text: String = text.iter().collect();
    text.parse::<i32>().map(i64::from).map_err(|_| Problem::BadNumber)
}

fn nth(text: &[char]) -> Result<i64, Problem> {
    match java_int(text) {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => Err(Problem::NthOutOfRange),
    }
}

/// The smallest and largest value of a field (for years: where `*` starts and the last reachable year).
fn bounds(field: Field) -> (i64, i64) {
    match field {
        Field::Seconds | Field::Minutes => (0, 59),
        Field::Hours => (0, 23),
        Field::DayOfMonth => (1, 31),
        Field::Month => (1, 12),
        Field::DayOfWeek => (1, 7),
        Field::Year => (1970, LAST_YEAR),
    }
}

/// The reference limits the step of `n/s` and `*/s` to the field's largest value; years have no limit.
fn check_step(field: Field, step: i64) -> Result<(), Problem> {
    let (_, max) = bounds(field);
    if field != Field::Year && step > max {
        return Err(Problem::StepTooLarge { max: max as u32 });
    }
    Ok(())
}
