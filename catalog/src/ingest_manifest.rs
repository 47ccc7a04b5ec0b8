//! The manifest of ingest jobs: every file a job has taken (imported or
//! rejected), by path and version, so each version of a file is taken
//! once. A run's rows are written pending before its Delta commit and made
//! final with its run row ([`Catalog::commit_ingest_run`]).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::db::{is_unique_violation, now_ms};
use crate::error::{CatalogError, Result};
use crate::ingest_runs::RunSummary;
use crate::store::Catalog;

/// Most paths looked up in one query.
const LOOKUP_CHUNK: usize = 500;

/// A file a job has taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// Assigned by the catalog.
    pub id: i64,
    /// The job.
    pub job: String,
    /// The run that took it.
    pub run_id: i64,
    /// What was recorded.
    #[serde(flatten)]
    pub file: ManifestFile,
    /// Its run has not committed yet.
    pub pending: bool,
    /// When it was taken, Unix epoch milliseconds.
    pub taken_at: i64,
}

/// A file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestFile {
    /// The object's path in its store.
    pub path: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its ETag, object version, or size and modification time.
    pub object_version: String,
    /// `imported` or `rejected`.
    pub outcome: String,
    /// Rows imported from it.
    pub rows: i64,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// An earlier version of the path was imported before.
    pub reimport: bool,
}

/// A version of a path some run of a job has taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenVersion {
    /// The object's path.
    pub path: String,
    /// The version taken.
    pub object_version: String,
    /// `imported` or `rejected`.
    pub outcome: String,
}

impl Catalog {
    /// The versions of `paths` that runs of `job` have taken.
    pub async fn taken_versions(&self, job: &str, paths: &[String]) -> Result<Vec<TakenVersion>> {
        let mut taken = Vec::new();
        for chunk in paths.chunks(LOOKUP_CHUNK) {
            // Placeholders only: the paths are bound, never spliced in.
            let slots: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT path, object_version, outcome FROM ingest_manifest \
                 WHERE job = $1 AND path IN ({})",
                slots.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(job);
            for path in chunk {
                query = query.bind(path.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                taken.push(TakenVersion {
                    path: row.try_get("path")?,
                    object_version: row.try_get("object_version")?,
                    outcome: row.try_get("outcome")?,
                });
            }
        }
        Ok(taken)
    }

    /// Records `entries` as taken by run `run_id` of `job`, pending until
    /// the run commits, in one transaction. `Conflict` when one is taken
    /// already (only one run of a job may run at a time).
    pub async fn add_ingest_manifest(
        &self,
        job: &str,
        run_id: i64,
        entries: &[ManifestFile],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO ingest_manifest (job, path, size, object_version, run_id, outcome, \
                 row_count, reason, reimport, pending, taken_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10)",
            )
            .bind(job)
            .bind(&e.path)
            .bind(e.size)
            .bind(&e.object_version)
            .bind(run_id)
            .bind(&e.outcome)
            .bind(e.rows)
            .bind(e.reason.as_deref())
            .bind(i64::from(e.reimport))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    CatalogError::Conflict(format!(
                        "file '{}' was taken by another run of ingest job '{job}'",
                        e.path
                    ))
                } else {
                    err.into()
                }
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What run `run_id`'s manifest rows add up to (for a run that
    /// committed but died before it recorded its end).
    pub async fn ingest_run_totals(&self, run_id: i64) -> Result<RunSummary> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS files, \
             CAST(COALESCE(SUM(row_count), 0) AS BIGINT) AS row_sum, \
             CAST(COALESCE(SUM(size), 0) AS BIGINT) AS byte_sum, \
             CAST(COALESCE(SUM(reimport), 0) AS BIGINT) AS reimports \
             FROM ingest_manifest WHERE run_id = $1 GROUP BY outcome",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut summary = RunSummary::default();
        for row in rows {
            let outcome: String = row.try_get("outcome")?;
            let files: i64 = row.try_get("files")?;
            if outcome == "imported" {
                summary.files = files;
                summary.rows = row.try_get("row_sum")?;
                summary.bytes = row.try_get("byte_sum")?;
                summary.reimports = row.try_get("reimports")?;
            } else {
                summary.rejects += files;
            }
        }
        Ok(summary)
    }

    /// One page of manifest rows with ids above `after_id`, oldest first.
    pub async fn ingest_manifest_page(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ManifestEntry>> {
        let rows = sqlx::query(
            "SELECT id, job, path, size, object_version, run_id, outcome, row_count, reason, \
             reimport, pending, taken_at FROM ingest_manifest WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}

fn entry_from_row(row: &AnyRow) -> Result<ManifestEntry> {
    Ok(ManifestEntry {
        id: row.try_get("id")?,
        job: row.try_get("job")?,
        run_id: row.try_get("run_id")?,
        file: ManifestFile {
            path: row.try_get("path")?,
            size: row.try_get("size")?,
            object_version: row.try_get("object_version")?,
            outcome: row.try_get("outcome")?,
            rows: row.try_get("row_count")?,
            reason: row.try_get("reason")?,
            reimport: row.try_get::<i64, _>("reimport")? != 0,
        },
        pending: row.try_get::<i64, _>("pending")? != 0,
        taken_at: row.try_get("taken_at")?,
    })
}
