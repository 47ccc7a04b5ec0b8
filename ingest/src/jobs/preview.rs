//! The columns a job's next run would give a landing dataset that has no
//! table yet: the files under its source that the job has not taken (up
//! to `max_files_per_run`) planned as a run plans them — schemas inferred,
//! folded in path order. Onboarding checks a curated dataset's query
//! against them before anything is made. Files a run would reject are left
//! out; files that plan but would fail their checks are not.

use arrow::datatypes::SchemaRef;

use super::IngestJobs;
use super::job::JobSpec;
use super::plan::plan;
use crate::error::Result;

/// The columns `spec`'s next run would write into a new landing table;
/// `None` when no file it would take plans.
pub async fn columns(jobs: &IngestJobs, spec: &JobSpec) -> Result<Option<SchemaRef>> {
    let (reader, found) = super::run::list(jobs, spec).await?;
    if found.is_empty() {
        return Ok(None);
    }
    let planned = plan(
        &reader,
        &spec.target,
        None,
        found,
        jobs.ctx.limits.max_bytes,
    )
    .await?;
    Ok(planned.target)
}
