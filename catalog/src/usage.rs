//! Usage over a period, for charts: successful downloads (Flight and HTTP)
//! per day, the most used datasets and the most active users, and failed
//! logins per day — optionally of one user or one dataset.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::error::Result;
use crate::store::Catalog;

/// Longest top list.
const TOP: usize = 10;

/// Which records a summary covers.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    /// From this time (Unix ms, inclusive).
    pub from_ms: i64,
    /// Until this time (Unix ms, exclusive).
    pub to_ms: i64,
    /// Only this principal's calls.
    pub principal: Option<String>,
    /// Only downloads of this dataset.
    pub dataset: Option<String>,
}

/// Downloads of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Successful downloads.
    pub downloads: i64,
    /// Rows downloaded.
    pub rows: i64,
    /// Bytes downloaded.
    pub bytes: i64,
}

/// Downloads by one dataset or one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ranked {
    /// The dataset or user.
    pub name: String,
    /// Successful downloads.
    pub downloads: i64,
    /// Bytes downloaded.
    pub bytes: i64,
}

/// A usage summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageSummary {
    /// Downloads per day, oldest first (days without any left out).
    pub per_day: Vec<DayUsage>,
    /// The most downloaded datasets, by downloads.
    pub top_datasets: Vec<Ranked>,
    /// The users who downloaded most, by downloads.
    pub top_users: Vec<Ranked>,
    /// Refused logins (Flight handshakes and console sign-ins) per day:
    /// `(day, count)`, oldest first.
    pub failed_logins: Vec<(i64, i64)>,
}

impl Catalog {
    /// The usage summary of the records `filter` selects.
    pub async fn usage_summary(&self, filter: &UsageFilter) -> Result<UsageSummary> {
        let principal = filter.principal.as_deref().unwrap_or_default();
        let rows = sqlx::query(
            "SELECT time / 86400000 AS day, principal, dataset, COUNT(*) AS downloads, \
             CAST(SUM(row_count) AS BIGINT) AS row_count, \
             CAST(SUM(byte_count) AS BIGINT) AS byte_count \
             FROM audit_log WHERE action IN ('DoGet', 'HTTP:download') AND outcome = 'ok' \
             AND time >= $1 AND time < $2 AND ($3 = '' OR principal = $3) \
             GROUP BY time / 86400000, principal, dataset",
        )
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(principal)
        .fetch_all(&self.pool)
        .await?;
        let mut days: BTreeMap<i64, DayUsage> = BTreeMap::new();
        let mut datasets: BTreeMap<String, Ranked> = BTreeMap::new();
        let mut users: BTreeMap<String, Ranked> = BTreeMap::new();
        for row in &rows {
            let day: i64 = row.try_get("day")?;
            let who: String = row.try_get("principal")?;
            let names: String = row.try_get("dataset")?;
            let (downloads, rows_read, bytes): (i64, i64, i64) = (
                row.try_get("downloads")?,
                row.try_get("row_count")?,
                row.try_get("byte_count")?,
            );
            let named: Vec<&str> = names.split(',').filter(|d| !d.is_empty()).collect();
            if let Some(only) = &filter.dataset
                && !named.contains(&only.as_str())
            {
                continue;
            }
            let d = days.entry(day).or_insert_with(|| DayUsage {
                day,
                ..DayUsage::default()
            });
            d.downloads = d.downloads.saturating_add(downloads);
            d.rows = d.rows.saturating_add(rows_read);
            d.bytes = d.bytes.saturating_add(bytes);
            for name in named {
                add(&mut datasets, name, downloads, bytes);
            }
            add(&mut users, &who, downloads, bytes);
        }
        let failed = sqlx::query(
            "SELECT time / 86400000 AS day, COUNT(*) AS failures FROM audit_log \
             WHERE action IN ('Handshake', 'HTTP:login') AND outcome = 'unauthenticated' \
             AND time >= $1 AND time < $2 AND ($3 = '' OR principal = $3) \
             GROUP BY time / 86400000 ORDER BY day",
        )
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(principal)
        .fetch_all(&self.pool)
        .await?;
        Ok(UsageSummary {
            per_day: days.into_values().collect(),
            top_datasets: top(datasets),
            top_users: top(users),
            failed_logins: failed
                .iter()
                .map(|r| Ok((r.try_get("day")?, r.try_get("failures")?)))
                .collect::<Result<_>>()?,
        })
    }
}

fn add(totals: &mut BTreeMap<String, Ranked>, name: &str, downloads: i64, bytes: i64) {
    let r = totals.entry(name.to_string()).or_insert_with(|| Ranked {
        name: name.to_string(),
        ..Ranked::default()
    });
    r.downloads = r.downloads.saturating_add(downloads);
    r.bytes = r.bytes.saturating_add(bytes);
}

/// The `TOP` largest by downloads (then bytes, then name).
fn top(totals: BTreeMap<String, Ranked>) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = totals.into_values().collect();
    ranked.sort_by(|a, b| {
        (b.downloads, b.bytes)
            .cmp(&(a.downloads, a.bytes))
            .then_with(|| a.name.cmp(&b.name))
    });
    ranked.truncate(TOP);
    ranked
}
