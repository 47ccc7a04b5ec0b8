//! When an ingest job runs by itself: every fixed interval
//! (`every 30s`, `every 5m`, `every 2h`, `every 1d`) or on a five-field cron
//! expression in UTC (see [`super::cron`]), with `@hourly` and `@daily` as
//! shorthands.

use std::time::Duration;

use super::cron::Cron;
use crate::error::{IngestError, Result};

/// Shortest interval.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval.
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 86_400);

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A run this long after the last one was due.
    Every(Duration),
    /// A run at each minute the expression matches.
    Cron(Cron),
}

impl Schedule {
    /// Parses `text`; names the problem.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Some(interval) = text.strip_prefix("every ") {
            return interval_of(interval.trim()).map(Self::Every);
        }
        let cron = match text {
            "@hourly" => "0 * * * *",
            "@daily" => "0 0 * * *",
            other => other,
        };
        let cron = Cron::parse(cron).map_err(|e| {
            IngestError::InvalidArgument(format!(
                "'schedule' must be 'every <N>s|m|h|d', '@hourly', '@daily' or a five-field \
                 cron expression (minute hour day-of-month month day-of-week, UTC): {e}"
            ))
        })?;
        Ok(Self::Cron(cron))
    }

    /// When the run after `now_ms` (Unix epoch milliseconds) is due.
    pub fn next_after(&self, now_ms: i64) -> i64 {
        match self {
            Self::Every(d) => {
                now_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            }
            // Parsing made sure the expression fires; a year ahead is the
            // fallback of an expression that cannot (never reached).
            Self::Cron(c) => c
                .next_after(now_ms)
                .unwrap_or_else(|| now_ms.saturating_add(366 * 86_400_000)),
        }
    }
}

/// `<N><unit>` with unit s, m, h or d.
fn interval_of(text: &str) -> Result<Duration> {
    let bad = || {
        IngestError::InvalidArgument(format!(
            "'schedule' interval '{}' must be a whole number and a unit: s, m, h or d \
             (e.g. 'every 15m'), from 1s to 366d",
            text.chars().take(40).collect::<String>()
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at_checked(split).ok_or_else(bad)?;
    let n: u64 = number.trim().parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let d = Duration::from_secs(n.checked_mul(unit_secs).ok_or_else(bad)?);
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_add_to_now() {
        let s = Schedule::parse("every 5m").unwrap();
        assert_eq!(s, Schedule::Every(Duration::from_secs(300)));
        assert_eq!(s.next_after(1_000), 301_000);
        assert_eq!(
            Schedule::parse(" every 2h ").unwrap(),
            Schedule::Every(Duration::from_secs(7200))
        );
        for bad in [
            "every 0s",
            "every 5",
            "every m",
            "every 5w",
            "every -1m",
            "every 400d",
        ] {
            let e = Schedule::parse(bad).unwrap_err().to_string();
            assert!(e.contains("'schedule' interval"), "{bad}: {e}");
        }
    }

    #[test]
    fn shorthands_and_cron() {
        // 2024-05-01T10:17:30Z.
        let now = 1_714_558_650_000;
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.next_after(now), 1_714_561_200_000, "11:00");
        let e = Schedule::parse("every day").unwrap_err().to_string();
        assert!(e.contains("'schedule' interval"), "{e}");
        let e = Schedule::parse("hourly").unwrap_err().to_string();
        assert!(e.contains("'schedule' must be"), "{e}");
    }
}
