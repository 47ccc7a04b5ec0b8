//! Finishing the runs a replica left behind when it died (they are still
//! marked running). With the job's lease held no such run is alive. The
//! landing table's Delta log decides: when it holds the job's application
//! transaction at the run's id or later, the run committed, and its
//! pending manifest rows are made final (the run is `recovered`: its files
//! are never imported again); otherwise nothing of it reached the table,
//! its manifest rows are dropped and its files are taken again
//! (`abandoned`). A recovered run's commit is announced, under the event id
//! the run itself announced it with if it got that far, so it is announced
//! once ([`super::announce`]); a commit that cannot be found is not
//! announced, and the run is finished all the same.

use laker_catalog::RunSummary;

use super::announce::{Committed, announce};
use super::target::Landing;
use crate::delta;
use crate::error::Result;
use crate::upload::ctx::UploadCtx;

/// Outcome of a run that committed but did not record its end.
pub const RECOVERED: &str = "recovered";
/// Outcome of a run that died before its commit.
pub const ABANDONED: &str = "abandoned";

/// Finishes the leftover runs of `job` (Delta application id `app_id`,
/// landing in `landing`); returns the ids of those that had committed.
pub async fn recover(
    ctx: &UploadCtx,
    job: &str,
    app_id: &str,
    landing: &mut Landing,
) -> Result<Vec<i64>> {
    let open = ctx.catalog.open_ingest_runs(job).await?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let (_, table) = delta::table_at(&ctx.engine, &landing.location).await?;
    let committed = match &table {
        Some(t) => delta::transaction_version(t, app_id).await?,
        None => None,
    };
    let mut recovered = Vec::new();
    for run in open {
        if committed.is_some_and(|v| v >= run.id) {
            let mut summary = ctx.catalog.ingest_run_totals(run.id).await?;
            summary.outcome = RECOVERED.into();
            summary.message = Some(
                "the replica running it stopped after its Delta commit; a later run \
                 recorded its end"
                    .into(),
            );
            landing.register(ctx).await?;
            // Announced before the run's end is recorded, as by the run
            // itself; best effort: the run is finished all the same.
            let found = match &table {
                Some(t) => delta::transaction_commit(t, app_id, run.id, run.started_at).await,
                None => Ok(None),
            };
            match found {
                Ok(Some((version, at_ms))) => {
                    summary.delta_version = i64::try_from(version).ok();
                    let commit = Committed {
                        job,
                        run_id: run.id,
                        dataset: landing.name.to_string(),
                        version,
                        rows: u64::try_from(summary.rows).unwrap_or(0),
                        at_ms,
                    };
                    announce(ctx, commit).await;
                }
                Ok(None) => tracing::warn!(
                    job,
                    run = run.id,
                    "the commit of a recovered ingest run is not among the landing table's \
                     commits since the run started (nor its last 10,000); it is not announced"
                ),
                Err(e) => tracing::warn!(
                    job,
                    run = run.id,
                    error = %e,
                    "the commit of a recovered ingest run cannot be looked up in the landing \
                     table's log; it is not announced"
                ),
            }
            ctx.catalog.commit_ingest_run(run.id, &summary).await?;
            tracing::warn!(
                job,
                run = run.id,
                "an ingest run that committed before its replica stopped was recovered"
            );
            recovered.push(run.id);
        } else {
            let summary = RunSummary {
                outcome: ABANDONED.into(),
                message: Some(
                    "the replica running it stopped before its Delta commit; its files are \
                     taken again"
                        .into(),
                ),
                ..RunSummary::default()
            };
            ctx.catalog.fail_ingest_run(run.id, &summary).await?;
            tracing::warn!(
                job,
                run = run.id,
                "an ingest run that stopped before its commit was abandoned"
            );
        }
    }
    if !recovered.is_empty() {
        ctx.engine.tables().invalidate(&landing.name);
        crate::curate::landed(&ctx.curator, &landing.name);
    }
    Ok(recovered)
}
