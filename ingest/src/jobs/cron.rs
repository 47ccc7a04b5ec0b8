//! Five-field cron expressions, in UTC: minute (0-59), hour (0-23), day of
//! month (1-31), month (1-12), day of week (0-7, 0 and 7 are Sunday). Each
//! field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a
//! comma-separated list of those. As in cron, when both day fields are
//! restricted a day matching either one fires. Names (`MON`, `JAN`) and
//! the `L`, `W` and `#` extensions are not supported.

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

/// Steps (a minute, or a jump to the next hour, day or month) looked at
/// before an expression is declared never to fire.
const MAX_STEPS: usize = 100_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A parsed expression: each field as a bit set of the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day of month and day of week are both restricted.
    either_day: bool,
}

impl Cron {
    /// Parses `text`; the error names the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!("expected 5 fields, got {}", fields.len()));
        };
        let weekdays = field("day of week", weekday, 0, 7)?;
        // 7 is Sunday, like 0.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        let cron = Self {
            minutes: field("minute", minute, 0, 59)?,
            hours: field("hour", hour, 0, 23)?,
            days: field("day of month", day, 1, 31)?,
            months: field("month", month, 1, 12)?,
            weekdays,
            either_day: *day != "*" && *weekday != "*",
        };
        if cron.next_after(0).is_none() {
            return Err("the expression never fires".into());
        }
        Ok(cron)
    }

    /// The first minute after `now_ms` (Unix epoch milliseconds) the
    /// expression matches, or `None` when none does within a few years.
    pub fn next_after(&self, now_ms: i64) -> Option<i64> {
        let mut t = (now_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        for _ in 0..MAX_STEPS {
            let at = DateTime::from_timestamp_millis(t)?;
            if !has(self.months, at.month()) {
                t = first_of_next_month(at.year(), at.month())?;
            } else if !self.day_matches(at.day(), at.weekday().num_days_from_sunday()) {
                t = (t.div_euclid(DAY_MS) + 1) * DAY_MS;
            } else if !has(self.hours, at.hour()) {
                t = (t.div_euclid(HOUR_MS) + 1) * HOUR_MS;
            } else if !has(self.minutes, at.minute()) {
                t += MINUTE_MS;
            } else {
                return Some(t);
            }
        }
        None
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let (by_date, by_weekday) = (has(self.days, day), has(self.weekdays, weekday));
        if self.either_day {
            by_date || by_weekday
        } else {
            by_date && by_weekday
        }
    }
}

fn has(set: u64, value: u32) -> bool {
    value < 64 && set & (1u64 << value) != 0
}

/// Midnight UTC on the first day of the month after `year`-`month`.
fn first_of_next_month(year: i32, month: u32) -> Option<i64> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Some(
        NaiveDate::from_ymd_opt(y, m, 1)?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp_millis(),
    )
}

/// The values field `name` (`text`, within `min..=max`) allows, as bits.
fn field(name: &str, text: &str, min: u32, max: u32) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let bad =
            || format!("{name} '{part}' is not a value from {min} to {max}, a range or a step");
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().map_err(|_| bad())?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(bad());
        }
        let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
        let (from, to) = match range.split_once('-') {
            _ if range == "*" => (min, max),
            Some((a, b)) => (number(a)?, number(b)?),
            // `a/n`: from a to the end.
            None if part.contains('/') => (number(range)?, max),
            None => {
                let v = number(range)?;
                (v, v)
            }
        };
        if from < min || to > max || from > to {
            return Err(bad());
        }
        for v in (from..=to).step_by(step as usize) {
            set |= 1u64 << v;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T10:17:30Z, a Wednesday.
    const NOW: i64 = 1_714_558_650_000;

    fn at(text: &str) -> String {
        let next = Cron::parse(text).unwrap().next_after(NOW).unwrap();
        DateTime::from_timestamp_millis(next)
            .unwrap()
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    }

    #[test]
    fn next_times() {
        assert_eq!(at("* * * * *"), "2024-05-01T10:18");
        assert_eq!(at("*/15 * * * *"), "2024-05-01T10:30");
        assert_eq!(at("0 9-17/4 * * *"), "2024-05-01T13:00");
        assert_eq!(at("5 2 * * *"), "2024-05-02T02:05");
        assert_eq!(at("0 0 1 * *"), "2024-06-01T00:00");
        assert_eq!(at("30 6 * * 1-5"), "2024-05-02T06:30");
        assert_eq!(at("0 12 * * 0"), "2024-05-05T12:00");
        assert_eq!(at("0 12 * * 7"), "2024-05-05T12:00");
        assert_eq!(at("0 0 29 2 *"), "2028-02-29T00:00");
        // Either day field: the 15th or any Friday, whichever comes first.
        assert_eq!(at("0 0 15 * 5"), "2024-05-03T00:00");
        assert_eq!(at("17,45 10 * * *"), "2024-05-01T10:45");
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let cases = [
            ("* * * *", "expected 5 fields, got 4"),
            ("60 * * * *", "minute '60'"),
            ("* 24 * * *", "hour '24'"),
            ("* * 0 * *", "day of month '0'"),
            ("* * * 13 *", "month '13'"),
            ("* * * * 8", "day of week '8'"),
            ("*/0 * * * *", "minute '*/0'"),
            ("5-1 * * * *", "minute '5-1'"),
            ("MON * * * *", "minute 'MON'"),
            ("0 0 31 2 *", "never fires"),
        ];
        for (text, expected) in cases {
            let e = Cron::parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }
}
