//! Creating, listing and deleting ingest jobs (the admin actions; the
//! server checks the caller may). A job is checked in full before it is
//! stored: its store is configured here, its target is (or can become) a
//! Delta dataset in an existing namespace, its schedule parses.

use laker_catalog::model::DatasetFormat;
use laker_catalog::{CatalogError, IngestJobRecord};
use serde_json::{Value, json};

use super::IngestJobs;
use super::job::JobSpec;
use super::source::SourceAt;
use crate::error::{IngestError, Result};

/// Stores `spec` as a new job created by `created_by`; its first scheduled
/// run is one schedule step from now.
pub async fn create(jobs: &IngestJobs, mut spec: JobSpec, created_by: &str) -> Result<Value> {
    let ctx = &jobs.ctx;
    spec.name = laker_catalog::names::validate_ident("ingest job", &spec.name)?;
    spec.validate(&ctx.locations)?;
    SourceAt::of(&ctx.engine, &ctx.locations, &spec)?;
    let target = spec.target_name()?;
    match ctx.catalog.dataset(&target).await {
        Ok(d) if d.format != DatasetFormat::Delta => {
            return Err(IngestError::FailedPrecondition(format!(
                "dataset '{target}' is {}; ingest jobs land files in Delta datasets",
                d.format.as_str()
            )));
        }
        Ok(_) => {}
        Err(CatalogError::NotFound { .. }) => {
            ctx.catalog.namespace(&target.namespace).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let now = chrono::Utc::now().timestamp_millis();
    let next = spec.schedule()?.map(|s| s.next_after(now));
    let record = ctx
        .catalog
        .create_ingest_job(&spec.name, &spec.to_json()?, created_by, next)
        .await?;
    tracing::info!(job = %record.name, by = %created_by, "ingest job created");
    describe(&record, None)
}

/// Every job with its latest run.
pub async fn list(jobs: &IngestJobs) -> Result<Value> {
    let catalog = &jobs.ctx.catalog;
    let mut listed = Vec::new();
    for record in catalog.ingest_jobs().await? {
        let last = catalog.last_ingest_run(&record.name).await?;
        listed.push(describe(&record, last.map(|r| json!(r)))?);
    }
    Ok(json!({ "jobs": listed }))
}

/// Deletes job `name`; with `forget_files` also its manifest.
pub async fn delete(jobs: &IngestJobs, name: &str, forget_files: bool) -> Result<Value> {
    jobs.ctx
        .catalog
        .delete_ingest_job(name, forget_files)
        .await?;
    tracing::info!(job = %name, forget_files, "ingest job deleted");
    Ok(json!({ "name": name, "deleted": true, "forgot_files": forget_files }))
}

/// A job as actions answer it: its specification, who created it, when
/// it runs next, and its latest run.
fn describe(record: &IngestJobRecord, last_run: Option<Value>) -> Result<Value> {
    let spec = JobSpec::from_json(&record.spec)?;
    Ok(json!({
        "name": record.name,
        "spec": spec,
        "created_by": record.created_by,
        "created_at": record.created_at,
        "next_run_at": record.next_run_at,
        "last_run": last_run,
    }))
}
