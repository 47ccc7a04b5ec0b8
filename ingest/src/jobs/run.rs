//! One run of an ingest job, under its lease: finish what a dead replica
//! left ([`super::recover`]), list the files not taken yet, plan and check
//! them, record them in the manifest (pending), write the accepted ones in
//! one Delta commit that carries the run's id, quarantine the rejected
//! ones, announce the commit like an upload's, then record the run's end
//! with its manifest rows made final.
//!
//! A run that fails before its commit forgets its manifest rows, so its
//! files are taken again; once it has committed — or when its commit failed
//! and the table cannot tell whether it went through — a failure leaves the
//! run marked running for the next run to finish.

use std::time::Instant;

use laker_catalog::audit::AuditRecord;
use laker_catalog::{CatalogError, IngestJobRecord, ManifestFile, RunSummary};
use laker_query::StorageError;
use serde::Serialize;

use super::announce::{Committed, announce};
use super::check::{Checks, Verdict, check_all};
use super::job::{JobSpec, Mode};
use super::lease::{Held, Lease};
use super::listing::{Candidate, new_files};
use super::plan::{Planned, Rejected, plan, written_schema};
use super::read::Reader;
use super::source::SourceAt;
use super::target::Landing;
use super::{IngestJobs, OUTCOME_IMPORTED, OUTCOME_REJECTED, progress_id};
use crate::delta;
use crate::error::{IngestError, Result};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The job's schedule.
    Schedule,
    /// `run_ingest_job`.
    Manual,
    /// Onboarding, over everything already under the prefix.
    Backfill,
}

impl Cause {
    /// The name recorded with the run.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Backfill => "backfill",
        }
    }
}

/// A file a run rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    /// Its path in the store.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// What a run did (the answer of `run_ingest_job`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// The job.
    pub job: String,
    /// The run's id (none: a scheduled run that found nothing new, which
    /// is not recorded).
    pub run_id: Option<i64>,
    /// `ok`, `failed` or `idle`.
    pub outcome: String,
    /// Files imported.
    pub files: u64,
    /// Rows imported.
    pub rows: u64,
    /// Bytes of the files imported.
    pub bytes: u64,
    /// Files imported again under a path imported before (new content).
    pub reimports: u64,
    /// Files rejected, with their reasons.
    pub rejected: Vec<RejectedFile>,
    /// Files that changed while the run read them (taken next time).
    pub skipped: u64,
    /// The Delta version committed.
    pub delta_version: Option<u64>,
    /// Why the run failed.
    pub message: Option<String>,
    /// Runs a replica left behind that had committed, finished by this one.
    pub recovered_runs: Vec<i64>,
    /// How long it took.
    pub duration_ms: u64,
}

/// Why a run stopped early.
enum Stop {
    /// Nothing was committed: the run fails and its files are taken again.
    Failed(IngestError),
    /// Its commit is made: the next run finishes it.
    Unfinished(IngestError),
}

impl From<IngestError> for Stop {
    fn from(e: IngestError) -> Self {
        Self::Failed(e)
    }
}

impl From<CatalogError> for Stop {
    fn from(e: CatalogError) -> Self {
        Self::Failed(e.into())
    }
}

/// Runs job `name` now; refused with FailedPrecondition while another run
/// of it holds the lease (here or on another replica).
pub async fn run(jobs: &IngestJobs, name: &str, cause: Cause) -> Result<RunReport> {
    let record = jobs.ctx.catalog.ingest_job(name).await?;
    let spec = JobSpec::from_json(&record.spec)?;
    let lease = Lease::acquire(&jobs.ctx.catalog, &record.name, jobs.options.lease)
        .await?
        .ok_or_else(|| {
            IngestError::FailedPrecondition(format!(
                "ingest job '{}' is running already (here or on another replica); \
                 try again when that run has ended",
                record.name
            ))
        })?;
    let result = leased(jobs, &record, &spec, cause, lease.held()).await;
    lease.release().await;
    result
}

async fn leased(
    jobs: &IngestJobs,
    record: &IngestJobRecord,
    spec: &JobSpec,
    cause: Cause,
    held: Held,
) -> Result<RunReport> {
    let (ctx, started) = (&jobs.ctx, Instant::now());
    let mut landing = Landing::resolve(ctx, &spec.target_name()?).await?;
    let app_id = progress_id(&record.name);
    let mut report = RunReport {
        job: record.name.clone(),
        recovered_runs: super::recover::recover(ctx, &record.name, &app_id, &mut landing).await?,
        ..RunReport::default()
    };
    let listed = list(jobs, spec).await;
    if cause == Cause::Schedule && matches!(&listed, Ok((_, found)) if found.is_empty()) {
        report.outcome = "idle".into();
        return Ok(report);
    }
    let run_id = ctx
        .catalog
        .start_ingest_run(&record.name, cause.as_str())
        .await?;
    report.run_id = Some(run_id);
    let attempt = match listed {
        Ok((reader, found)) => {
            let run = Attempt {
                jobs,
                spec,
                app_id: &app_id,
                run_id,
                held,
            };
            run.go(&reader, &mut landing, found, &mut report).await
        }
        Err(e) => Err(Stop::Failed(e)),
    };
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match attempt {
        Ok(()) => report.outcome = "ok".into(),
        Err(Stop::Failed(e)) => {
            let message = jobs.audit.public_message(e);
            let summary = RunSummary {
                rejects: len(report.rejected.len()),
                outcome: "failed".into(),
                message: Some(message.clone()),
                ..RunSummary::default()
            };
            ctx.catalog.fail_ingest_run(run_id, &summary).await?;
            report.outcome = "failed".into();
            report.message = Some(message);
        }
        Err(Stop::Unfinished(e)) => return Err(e),
    }
    audit(jobs, record, &landing, &report).await;
    Ok(report)
}

/// The files under the source the job has not taken.
pub(super) async fn list(jobs: &IngestJobs, spec: &JobSpec) -> Result<(Reader, Vec<Candidate>)> {
    let ctx = &jobs.ctx;
    let source = SourceAt::of(&ctx.engine, &ctx.locations, spec)?;
    let reader = Reader::new(&ctx.engine, source, spec)?;
    let found = new_files(
        &ctx.catalog,
        &spec.name,
        reader.source(),
        spec.max_files_per_run,
    )
    .await?;
    Ok((reader, found))
}

/// A run past its listing.
struct Attempt<'a> {
    jobs: &'a IngestJobs,
    spec: &'a JobSpec,
    app_id: &'a str,
    run_id: i64,
    held: Held,
}

impl Attempt<'_> {
    async fn go(
        &self,
        reader: &Reader,
        landing: &mut Landing,
        found: Vec<Candidate>,
        report: &mut RunReport,
    ) -> Result<(), Stop> {
        let ctx = &self.jobs.ctx;
        let dataset = landing.name.to_string();
        let (_, table) = delta::table_at(&ctx.engine, &landing.location).await?;
        let table_schema = match &table {
            Some(t) => Some(
                t.snapshot()
                    .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))
                    .map_err(IngestError::from)?
                    .snapshot()
                    .arrow_schema(),
            ),
            None => None,
        };
        let planned = plan(
            reader,
            &dataset,
            table_schema.as_deref(),
            found,
            ctx.limits.max_bytes,
        )
        .await?;
        let mut rejected = planned.rejected;
        let mut accepted: Vec<(Planned, u64)> = Vec::new();
        if let Some(target) = &planned.target {
            let checks = Checks {
                dataset: &dataset,
                target,
                rules: &landing.rules,
                limits: ctx.limits,
            };
            for (file, verdict) in check_all(reader, planned.files, checks).await? {
                match verdict {
                    Verdict::Accepted(rows) => accepted.push((file, rows)),
                    Verdict::Rejected(reason) => rejected.push(Rejected {
                        candidate: file.candidate,
                        reason,
                    }),
                    Verdict::Changed => report.skipped += 1,
                }
            }
        }
        report.rejected = rejected
            .iter()
            .map(|r| RejectedFile {
                path: r.candidate.meta.location.to_string(),
                reason: r.reason.clone(),
            })
            .collect();
        if self.spec.mode == Mode::AllOrNothing
            && let Some(first) = report.rejected.first()
        {
            return Err(Stop::Failed(IngestError::InvalidArgument(format!(
                "{} file(s) rejected, e.g. '{}': {}; in mode all_or_nothing the run \
                 imports nothing",
                report.rejected.len(),
                first.path,
                first.reason
            ))));
        }
        // Pending from here: a run that dies now is finished by the next one.
        let entries = manifest(&accepted, &rejected);
        if !entries.is_empty() {
            ctx.catalog
                .add_ingest_manifest(&self.spec.name, self.run_id, &entries)
                .await?;
        }
        let version = if accepted.is_empty() {
            None
        } else {
            Some(
                self.commit(reader, landing, table_schema.as_deref(), &accepted)
                    .await?,
            )
        };
        let copied =
            super::quarantine::quarantine(reader.source(), &self.spec.name, self.run_id, &rejected)
                .await;
        tracing::debug!(job = %self.spec.name, copied, "rejected files quarantined");
        self.finish(landing, &accepted, version, report)
            .await
            .map_err(Stop::Unfinished)
    }

    /// Writes `accepted` in one commit; returns its version.
    async fn commit(
        &self,
        reader: &Reader,
        landing: &Landing,
        table: Option<&arrow::datatypes::Schema>,
        accepted: &[(Planned, u64)],
    ) -> Result<u64, Stop> {
        let files: Vec<&Planned> = accepted.iter().map(|(p, _)| p).collect();
        let (schema, evolves) = written_schema(&landing.name.to_string(), table, &files)?
            .ok_or_else(|| IngestError::Internal("a run with files has no schema".into()))?;
        if !self.held.get() {
            return Err(Stop::Failed(IngestError::FailedPrecondition(
                "the ingest job's lease was lost; the run stops before it commits".into(),
            )));
        }
        let commit = super::write::Commit {
            files: accepted.iter().map(|(p, _)| p.clone()).collect(),
            schema,
            evolves,
            transaction: (self.app_id.to_string(), self.run_id),
        };
        let held = self.held.clone();
        let written = super::write::write(&self.jobs.ctx, reader, landing, commit, held).await;
        let version = match written {
            Ok(version) => version,
            Err(e) => return Err(self.failed_commit(landing, e).await),
        };
        if self.jobs.options.crash_after_commit {
            return Err(Stop::Unfinished(IngestError::Internal(
                "the run stopped right after its Delta commit (a test's fault injection)".into(),
            )));
        }
        Ok(version)
    }

    /// What a commit that failed with `e` leaves. When the landing table
    /// holds this run's transaction after all (the answer was lost), or
    /// cannot be read to tell, the run is left unfinished: its manifest
    /// rows stay pending and the next run's recovery decides from the Delta
    /// log, so its files are neither forgotten nor imported twice.
    async fn failed_commit(&self, landing: &Landing, e: IngestError) -> Stop {
        let (job, run) = (&self.spec.name, self.run_id);
        let committed = match delta::table_at(&self.jobs.ctx.engine, &landing.location).await {
            Ok((_, Some(table))) => delta::transaction_version(&table, self.app_id)
                .await
                .map(|done| done.is_some_and(|v| v >= run)),
            Ok((_, None)) => Ok(false),
            Err(check) => Err(check),
        };
        match committed {
            Ok(false) => Stop::Failed(e),
            Ok(true) => {
                tracing::warn!(
                    job = %job,
                    run,
                    error = %e,
                    "an ingest run's commit failed, yet the landing table holds it; the next \
                     run finishes the run"
                );
                Stop::Unfinished(e)
            }
            Err(check) => {
                tracing::warn!(
                    job = %job,
                    run,
                    error = %e,
                    check = %check,
                    "an ingest run's commit failed and the landing table cannot be read to \
                     tell whether it went through; the next run decides"
                );
                Stop::Unfinished(e)
            }
        }
    }

    /// Announces the run's commit and records its end.
    async fn finish(
        &self,
        landing: &mut Landing,
        accepted: &[(Planned, u64)],
        version: Option<u64>,
        report: &mut RunReport,
    ) -> Result<()> {
        let ctx = &self.jobs.ctx;
        report.files = accepted.len() as u64;
        report.rows = accepted.iter().map(|(_, rows)| rows).sum();
        report.bytes = accepted.iter().map(|(p, _)| p.candidate.meta.size).sum();
        report.reimports = accepted
            .iter()
            .filter(|(p, _)| p.candidate.reimport)
            .count() as u64;
        report.delta_version = version;
        if version.is_some() {
            landing.register(ctx).await?;
        }
        let summary = RunSummary {
            files: len(accepted.len()),
            rows: i64::try_from(report.rows).unwrap_or(i64::MAX),
            bytes: i64::try_from(report.bytes).unwrap_or(i64::MAX),
            rejects: len(report.rejected.len()),
            reimports: i64::try_from(report.reimports).unwrap_or(i64::MAX),
            delta_version: version.and_then(|v| i64::try_from(v).ok()),
            outcome: "ok".into(),
            message: None,
        };
        if let Some(version) = version {
            ctx.engine.tables().invalidate(&landing.name);
            // Announced before the run's end is recorded: should this
            // replica die in between, the run that finishes this one
            // announces the commit again under the same event id.
            let commit = Committed {
                job: &self.spec.name,
                run_id: self.run_id,
                dataset: landing.name.to_string(),
                version,
                rows: report.rows,
                at_ms: None,
            };
            announce(ctx, commit).await;
        }
        ctx.catalog.commit_ingest_run(self.run_id, &summary).await?;
        if version.is_some() {
            crate::curate::landed(&ctx.curator, &landing.name);
        }
        Ok(())
    }
}

/// The manifest rows of a run's files.
fn manifest(accepted: &[(Planned, u64)], rejected: &[Rejected]) -> Vec<ManifestFile> {
    let row = |c: &Candidate, outcome: &str, rows: u64, reason: Option<String>| ManifestFile {
        path: c.meta.location.to_string(),
        size: i64::try_from(c.meta.size).unwrap_or(i64::MAX),
        object_version: c.version.clone(),
        outcome: outcome.into(),
        rows: i64::try_from(rows).unwrap_or(i64::MAX),
        reason,
        reimport: c.reimport,
    };
    accepted
        .iter()
        .map(|(p, rows)| row(&p.candidate, OUTCOME_IMPORTED, *rows, None))
        .chain(
            rejected
                .iter()
                .map(|r| row(&r.candidate, OUTCOME_REJECTED, 0, Some(r.reason.clone()))),
        )
        .collect()
}

/// Records the run in the audit, like an upload.
async fn audit(jobs: &IngestJobs, record: &IngestJobRecord, landing: &Landing, report: &RunReport) {
    let (outcome, message) = match &report.message {
        None => ("ok".to_string(), String::new()),
        Some(m) => ("error".to_string(), m.clone()),
    };
    jobs.audit
        .record(AuditRecord {
            time: chrono::Utc::now().timestamp_millis(),
            principal: record.created_by.clone(),
            source: String::new(),
            action: "IngestJob".into(),
            dataset: landing.name.to_string(),
            detail: format!(
                "job {} run {}: {} file(s) imported, {} rejected",
                report.job,
                report.run_id.unwrap_or_default(),
                report.files,
                report.rejected.len()
            ),
            rows: i64::try_from(report.rows).unwrap_or(i64::MAX),
            bytes: i64::try_from(report.bytes).unwrap_or(i64::MAX),
            duration_ms: i64::try_from(report.duration_ms).unwrap_or(i64::MAX),
            outcome,
            message,
        })
        .await;
}

fn len(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
