//! The scheduler: a background loop, started with the server
//! (`--ingest-jobs`), that looks every tick for jobs whose next run is due.
//! A replica claims a due run by moving the job's next run time forward in
//! the catalog (one statement, so of several replicas one claims it), then
//! runs it under the job's lease. A due run finding the job running
//! already (a run asked for by hand) is skipped: the next one takes what is
//! new. Runs missed while no server was up are not made up one by one: the
//! first run after takes every file that arrived.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::IngestJobs;
use super::job::JobSpec;
use super::run::{Cause, run};
use crate::error::{IngestError, Result};

/// Starts the loop; it ends when `stop` is cancelled.
pub fn start(jobs: Arc<IngestJobs>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(jobs.options.tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = start_due(&jobs).await {
                tracing::warn!(error = %e, "looking for due ingest jobs failed");
            }
        }
    })
}

/// Starts (in the background) each due run this replica claims.
async fn start_due(jobs: &Arc<IngestJobs>) -> Result<()> {
    let catalog = &jobs.ctx.catalog;
    let now = chrono::Utc::now().timestamp_millis();
    for (name, due) in catalog.due_ingest_jobs(now).await? {
        let record = match catalog.ingest_job(&name).await {
            Ok(record) => record,
            // Deleted since.
            Err(laker_catalog::CatalogError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let next = match JobSpec::from_json(&record.spec).and_then(|s| s.schedule()) {
            Ok(schedule) => schedule.map(|s| s.next_after(now)),
            Err(e) => {
                tracing::error!(job = %name, error = %e, "an ingest job's schedule is unreadable; it is no longer scheduled");
                None
            }
        };
        if !catalog.claim_ingest_slot(&name, due, next).await? {
            continue;
        }
        let jobs = Arc::clone(jobs);
        tokio::spawn(async move {
            match run(&jobs, &name, Cause::Schedule).await {
                Ok(report) if report.run_id.is_some() => tracing::info!(
                    job = %name,
                    outcome = %report.outcome,
                    files = report.files,
                    rows = report.rows,
                    rejects = report.rejected.len(),
                    "scheduled ingest run ended"
                ),
                Ok(_) => {}
                Err(IngestError::FailedPrecondition(m)) => {
                    tracing::info!(job = %name, reason = %m, "scheduled ingest run skipped")
                }
                Err(e) => tracing::error!(job = %name, error = %e, "scheduled ingest run failed"),
            }
        });
    }
    Ok(())
}
