//! The audit log: one record per authenticated call or attempt, stored in
//! the catalog database.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::Result;
use crate::store::Catalog;

/// One audited event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the call started, Unix epoch milliseconds.
    pub time: i64,
    /// Who called (the user name tried, for failed handshakes).
    pub principal: String,
    /// The caller's network address, when known.
    pub source: String,
    /// The RPC, or `DoAction:<type>`.
    pub action: String,
    /// The dataset(s) concerned, comma-separated.
    pub dataset: String,
    /// The download spec, SQL or action body (secrets removed).
    pub detail: String,
    /// Rows sent or received.
    pub rows: i64,
    /// Bytes of Arrow data sent or received.
    pub bytes: i64,
    /// Duration in milliseconds (for downloads: until the stream ended).
    pub duration_ms: i64,
    /// `ok`, `cancelled`, or the gRPC code of the error.
    pub outcome: String,
    /// The error message, if any.
    pub message: String,
}

/// Downloads and bytes of one principal on one dataset on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Principal name.
    pub principal: String,
    /// Dataset name.
    pub dataset: String,
    /// Successful DoGet streams.
    pub downloads: i64,
    /// Rows downloaded.
    pub rows: i64,
    /// Bytes downloaded.
    pub bytes: i64,
}

/// The columns of an audit record.
macro_rules! audit_columns {
    () => {
        "time, principal, source, action, dataset, detail, row_count, byte_count, duration_ms, outcome, message"
    };
}

impl Catalog {
    /// Appends records in one transaction.
    pub async fn insert_audit(&self, records: &[AuditRecord]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for r in records {
            sqlx::query(concat!(
                "INSERT INTO audit_log (",
                audit_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(r.time)
            .bind(&r.principal)
            .bind(&r.source)
            .bind(&r.action)
            .bind(&r.dataset)
            .bind(&r.detail)
            .bind(r.rows)
            .bind(r.bytes)
            .bind(r.duration_ms)
            .bind(&r.outcome)
            .bind(&r.message)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes records older than `before_ms`; returns how many.
    pub async fn delete_audit_before(&self, before_ms: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM audit_log WHERE time < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// One page of records with ids above `after_id`, in the order written,
    /// each with its id. Callers page through the log without holding it.
    pub async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<(i64, AuditRecord)>> {
        let rows = sqlx::query(concat!(
            "SELECT id, ",
            audit_columns!(),
            " FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_with_id).collect()
    }

    /// The newest records (at most `limit`), newest first, optionally of
    /// one principal and of one dataset (among those a record names).
    pub async fn recent_audit(
        &self,
        limit: i64,
        principal: Option<&str>,
        dataset: Option<&str>,
    ) -> Result<Vec<(i64, AuditRecord)>> {
        let rows = sqlx::query(concat!(
            "SELECT id, ",
            audit_columns!(),
            " FROM audit_log WHERE ($1 = '' OR principal = $1) \
             AND ($2 = '' OR ',' || dataset || ',' LIKE '%,' || $2 || ',%') \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(principal.unwrap_or_default())
        .bind(dataset.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_with_id).collect()
    }

    /// The usage summary: successful downloads (DoGet streams, plain and
    /// SQL, and HTTP downloads) per day, principal and dataset (small: one row per active
    /// principal, dataset and day). A SQL query reading several datasets
    /// counts, with its rows and bytes, for each of them.
    pub async fn usage(&self) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT time / 86400000 AS day, principal, dataset, COUNT(*) AS downloads, \
             CAST(SUM(row_count) AS BIGINT) AS row_count, CAST(SUM(byte_count) AS BIGINT) AS byte_count \
             FROM audit_log WHERE action IN ('DoGet', 'HTTP:download') AND outcome = 'ok' \
             GROUP BY time / 86400000, principal, dataset ORDER BY day, principal, dataset",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut usage: std::collections::BTreeMap<(i64, String, String), [i64; 3]> =
            std::collections::BTreeMap::new();
        for row in &rows {
            let day: i64 = row.try_get("day")?;
            let principal: String = row.try_get("principal")?;
            let datasets: String = row.try_get("dataset")?;
            let counts: [i64; 3] = [
                row.try_get("downloads")?,
                row.try_get("row_count")?,
                row.try_get("byte_count")?,
            ];
            for dataset in datasets.split(',').filter(|d| !d.is_empty()) {
                let sum = usage
                    .entry((day, principal.clone(), dataset.to_string()))
                    .or_default();
                for (total, n) in sum.iter_mut().zip(counts) {
                    *total = total.saturating_add(n);
                }
            }
        }
        Ok(usage
            .into_iter()
            .map(
                |((day, principal, dataset), [downloads, rows, bytes])| UsageRow {
                    day,
                    principal,
                    dataset,
                    downloads,
                    rows,
                    bytes,
                },
            )
            .collect())
    }
}

/// A row that also selected `id`: the record and its id.
fn audit_with_id(row: &AnyRow) -> Result<(i64, AuditRecord)> {
    Ok((row.try_get("id")?, audit_from_row(row)?))
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        time: row.try_get("time")?,
        principal: row.try_get("principal")?,
        source: row.try_get("source")?,
        action: row.try_get("action")?,
        dataset: row.try_get("dataset")?,
        detail: row.try_get("detail")?,
        rows: row.try_get("row_count")?,
        bytes: row.try_get("byte_count")?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: row.try_get("outcome")?,
        message: row.try_get("message")?,
    })
}
