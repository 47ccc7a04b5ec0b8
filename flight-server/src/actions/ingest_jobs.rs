//! create_ingest_job, list_ingest_jobs, run_ingest_job and
//! delete_ingest_job (admin on `*`: a job reads a configured store and
//! writes a dataset). The jobs themselves live in `laker_ingest::jobs`.

use std::sync::Arc;

use laker_auth::Principal;
use laker_ingest::jobs::job::JobSpec;
use laker_ingest::jobs::run::{Cause, run};
use serde::Deserialize;

use super::principals::require_admin;
use super::users::NoBody;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Body of run_ingest_job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    name: String,
}

/// Body of delete_ingest_job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteRequest {
    name: String,
    /// Also forget which files the job took (a job created again under
    /// the name then imports them all anew).
    #[serde(default)]
    forget_files: bool,
}

/// Creates a job.
pub(crate) async fn create(
    state: &Arc<AppState>,
    principal: &Principal,
    spec: JobSpec,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    Ok(laker_ingest::jobs::admin::create(&state.ingest_jobs, spec, &principal.name).await?)
}

/// Every job with its latest run.
pub(crate) async fn list(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: NoBody,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    Ok(laker_ingest::jobs::admin::list(&state.ingest_jobs).await?)
}

/// Runs a job now and answers what the run did.
pub(crate) async fn run_now(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RunRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let report = run(&state.ingest_jobs, &req.name, Cause::Manual).await?;
    tracing::info!(job = %report.job, by = %principal, outcome = %report.outcome, "ingest job run");
    serde_json::to_value(report).map_err(|e| Error::Internal(format!("the run's report: {e}")))
}

/// Deletes a job.
pub(crate) async fn delete(
    state: &Arc<AppState>,
    principal: &Principal,
    req: DeleteRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    Ok(laker_ingest::jobs::admin::delete(&state.ingest_jobs, &req.name, req.forget_files).await?)
}
