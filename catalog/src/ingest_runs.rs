//! The runs of ingest jobs: one row each, written when a run starts
//! (`running`) and again when it ends, together with its manifest rows.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::now_ms;
use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// A run that has not ended (or whose replica died running it).
pub const RUN_RUNNING: &str = "running";

/// One run of an ingest job. Times are Unix epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestRun {
    /// Assigned by the catalog; also the run's Delta transaction version.
    pub id: i64,
    /// The job.
    pub job: String,
    /// What started it: `schedule`, `manual` or `backfill`.
    pub cause: String,
    /// When it started.
    pub started_at: i64,
    /// When it ended, once it has.
    pub finished_at: Option<i64>,
    /// The counts it ended with.
    #[serde(flatten)]
    pub summary: RunSummary,
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Files imported.
    pub files: i64,
    /// Rows imported.
    pub rows: i64,
    /// Bytes of the files imported.
    pub bytes: i64,
    /// Files rejected (quarantined).
    pub rejects: i64,
    /// Files imported again under a path imported before (new content).
    pub reimports: i64,
    /// The Delta version it committed, if it committed one.
    pub delta_version: Option<i64>,
    /// `running`, `ok`, `failed`, `recovered` or `abandoned`.
    pub outcome: String,
    /// Why it failed, or a note.
    pub message: Option<String>,
}

/// The columns every run query selects.
macro_rules! run_columns {
    () => {
        "id, job, cause, started_at, finished_at, file_count, row_count, byte_count, \
         reject_count, reimport_count, delta_version, outcome, message"
    };
}

impl Catalog {
    /// Records that a run of `job` starts now; returns its id.
    pub async fn start_ingest_run(&self, job: &str, cause: &str) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO ingest_runs (job, cause, started_at, outcome) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(job)
        .bind(cause)
        .bind(now_ms())
        .bind(RUN_RUNNING)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// One run; `NotFound` when there is no such id.
    pub async fn ingest_run(&self, id: i64) -> Result<IngestRun> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM ingest_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CatalogError::not_found("ingest run", id.to_string()))?;
        run_from_row(&row)
    }

    /// The runs of `job` still marked running (a replica died running
    /// them, when the caller holds the job's lease), oldest first.
    pub async fn open_ingest_runs(&self, job: &str) -> Result<Vec<IngestRun>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM ingest_runs WHERE job = $1 AND outcome = $2 ORDER BY id"
        ))
        .bind(job)
        .bind(RUN_RUNNING)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The latest run of `job`, if any.
    pub async fn last_ingest_run(&self, job: &str) -> Result<Option<IngestRun>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM ingest_runs WHERE job = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(job)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// One page of runs with ids above `after_id`, oldest first.
    pub async fn ingest_run_page(&self, after_id: i64, limit: i64) -> Result<Vec<IngestRun>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM ingest_runs WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Ends run `id` with `summary` and makes its manifest rows final, in
    /// one transaction: its files count as taken from now on.
    pub async fn commit_ingest_run(&self, id: i64, summary: &RunSummary) -> Result<()> {
        self.end_ingest_run(
            "UPDATE ingest_manifest SET pending = 0 WHERE run_id = $1",
            id,
            summary,
        )
        .await
    }

    /// Ends run `id` with `summary` and forgets its pending manifest rows,
    /// in one transaction: its files are taken again by a later run.
    pub async fn fail_ingest_run(&self, id: i64, summary: &RunSummary) -> Result<()> {
        self.end_ingest_run(
            "DELETE FROM ingest_manifest WHERE run_id = $1 AND pending = 1",
            id,
            summary,
        )
        .await
    }

    /// Runs `manifest_sql` on run `id`'s manifest rows (`$1` is the run)
    /// and ends the run with `summary`, in one transaction.
    async fn end_ingest_run(
        &self,
        manifest_sql: &'static str,
        id: i64,
        summary: &RunSummary,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(manifest_sql).bind(id).execute(&mut *tx).await?;
        end_run(&mut tx, id, summary).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn end_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    s: &RunSummary,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE ingest_runs SET finished_at = $1, file_count = $2, row_count = $3, \
         byte_count = $4, reject_count = $5, reimport_count = $6, delta_version = $7, \
         outcome = $8, message = $9 WHERE id = $10",
    )
    .bind(now_ms())
    .bind(s.files)
    .bind(s.rows)
    .bind(s.bytes)
    .bind(s.rejects)
    .bind(s.reimports)
    .bind(s.delta_version)
    .bind(&s.outcome)
    .bind(s.message.as_deref())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(CatalogError::not_found("ingest run", id.to_string()));
    }
    Ok(())
}

fn run_from_row(row: &AnyRow) -> Result<IngestRun> {
    Ok(IngestRun {
        id: row.try_get("id")?,
        job: row.try_get("job")?,
        cause: row.try_get("cause")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        summary: RunSummary {
            files: row.try_get("file_count")?,
            rows: row.try_get("row_count")?,
            bytes: row.try_get("byte_count")?,
            rejects: row.try_get("reject_count")?,
            reimports: row.try_get("reimport_count")?,
            delta_version: row.try_get("delta_version")?,
            outcome: row.try_get("outcome")?,
            message: row.try_get("message")?,
        },
    })
}
