//! Ingest jobs: their records (the specification is JSON the ingest crate
//! reads and checks), when the scheduler runs each next, and the lease that
//! lets one replica at a time run a job.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::names::validate_ident;
use crate::store::Catalog;

/// A stored ingest job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestJobRecord {
    /// The job's name (an identifier).
    pub name: String,
    /// Its specification, JSON.
    pub spec: String,
    /// Who created it.
    pub created_by: String,
    /// When, Unix epoch milliseconds.
    pub created_at: i64,
    /// When the scheduler runs it next; `None`: only when asked.
    pub next_run_at: Option<i64>,
}

impl Catalog {
    /// Stores a new job; `AlreadyExists` when the name is taken.
    pub async fn create_ingest_job(
        &self,
        name: &str,
        spec: &str,
        created_by: &str,
        next_run_at: Option<i64>,
    ) -> Result<IngestJobRecord> {
        let name = validate_ident("ingest job", name)?;
        let job = IngestJobRecord {
            name,
            spec: spec.to_string(),
            created_by: created_by.to_string(),
            created_at: now_ms(),
            next_run_at,
        };
        sqlx::query(
            "INSERT INTO ingest_jobs (name, spec, created_by, created_at, next_run_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&job.name)
        .bind(&job.spec)
        .bind(&job.created_by)
        .bind(job.created_at)
        .bind(job.next_run_at)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("ingest job", &job.name))?;
        Ok(job)
    }

    /// One job; `NotFound` when there is none of that name.
    pub async fn ingest_job(&self, name: &str) -> Result<IngestJobRecord> {
        let name = validate_ident("ingest job", name)?;
        let row = sqlx::query(
            "SELECT name, spec, created_by, created_at, next_run_at FROM ingest_jobs \
             WHERE name = $1",
        )
        .bind(&name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CatalogError::not_found("ingest job", &name))?;
        job_from_row(&row)
    }

    /// Every job, by name.
    pub async fn ingest_jobs(&self) -> Result<Vec<IngestJobRecord>> {
        let rows = sqlx::query(
            "SELECT name, spec, created_by, created_at, next_run_at FROM ingest_jobs ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Deletes a job and its lease; with `forget_files` also its manifest
    /// (a job created again under the name then takes every file anew).
    /// Its runs stay. `NotFound` when there is none of that name.
    pub async fn delete_ingest_job(&self, name: &str, forget_files: bool) -> Result<()> {
        let name = validate_ident("ingest job", name)?;
        let mut tx = self.begin_write().await?;
        let mut statements = vec!["DELETE FROM ingest_job_leases WHERE job = $1"];
        if forget_files {
            statements.push("DELETE FROM ingest_manifest WHERE job = $1");
        }
        statements.push("DELETE FROM ingest_jobs WHERE name = $1");
        if Self::delete_bound(&mut tx, &statements, &name).await? == 0 {
            return Err(CatalogError::not_found("ingest job", name));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The jobs due at `now_ms`, with the time each was due.
    pub async fn due_ingest_jobs(&self, now_ms: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT name, next_run_at FROM ingest_jobs \
             WHERE next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("next_run_at")?)))
            .collect()
    }

    /// Moves job `name` from the run due at `due` to `next`; false when
    /// another replica moved it first (that one runs it).
    pub async fn claim_ingest_slot(&self, name: &str, due: i64, next: Option<i64>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ingest_jobs SET next_run_at = $1 WHERE name = $2 AND next_run_at = $3",
        )
        .bind(next)
        .bind(name)
        .bind(due)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the lease on `job` for `holder` until `until_ms`, unless
    /// another holder's lease is still valid at `now_ms`; true when taken.
    pub async fn acquire_ingest_lease(
        &self,
        job: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO ingest_job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at WHERE ingest_job_leases.expires_at <= $4",
        )
        .bind(job)
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends `holder`'s lease on `job` to `until_ms`; false when it no
    /// longer holds it.
    pub async fn renew_ingest_lease(&self, job: &str, holder: &str, until_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ingest_job_leases SET expires_at = $1 WHERE job = $2 AND holder = $3",
        )
        .bind(until_ms)
        .bind(job)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up `holder`'s lease on `job` (nothing when it holds none).
    pub async fn release_ingest_lease(&self, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM ingest_job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn job_from_row(row: &AnyRow) -> Result<IngestJobRecord> {
    Ok(IngestJobRecord {
        name: row.try_get("name")?,
        spec: row.try_get("spec")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        next_run_at: row.try_get("next_run_at")?,
    })
}
