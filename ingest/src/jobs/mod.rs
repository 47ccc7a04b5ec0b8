//! Ingest jobs: files clients drop under a folder of a configured store
//! (a bucket prefix, a container, a directory) are imported into a Delta
//! dataset on a schedule or when asked. Each run lists the files not taken
//! yet (the manifest in the catalog knows each file by path and version),
//! reads them with DataFusion's CSV, JSON and Parquet readers, fits them to
//! the dataset and checks its rules, and commits the accepted ones in one
//! Delta version; a file that fails is quarantined with its reason (or, in
//! mode `all_or_nothing`, fails the run). A catalog lease lets one replica
//! at a time run a job; the run's id, recorded in the Delta commit, lets a
//! later run finish one whose replica died, so each file version is
//! imported exactly once. `docs/ingest-jobs.md` tells the whole story.

pub mod admin;
pub mod announce;
mod blame;
mod check;
pub mod cron;
pub mod job;
mod lease;
mod listing;
pub mod pattern;
mod plan;
pub mod preview;
mod quarantine;
mod read;
mod recover;
pub mod run;
pub mod schedule;
pub mod scheduler;
mod source;
mod target;
mod write;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::Audit;
use crate::upload::ctx::UploadCtx;

/// Outcome of a manifest row whose file was imported.
pub const OUTCOME_IMPORTED: &str = "imported";
/// Outcome of a manifest row whose file was rejected.
pub const OUTCOME_REJECTED: &str = "rejected";

/// The Delta application id a job's runs are recorded under in its
/// landing table.
pub fn progress_id(job: &str) -> String {
    format!("laker-ingest:{job}")
}

/// How the jobs of a server run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOptions {
    /// How long a run's lease lasts unrenewed (renewed every quarter).
    pub lease: Duration,
    /// How often the scheduler looks for due jobs.
    pub tick: Duration,
    /// For tests only: a run stops right after its Delta commit, as if its
    /// server died there (no flag or file key sets it).
    pub crash_after_commit: bool,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            crash_after_commit: false,
        }
    }
}

/// What ingest jobs run with: what uploads do (catalog, engine, stores,
/// limits, notifications, transforms), the audit, and their options.
#[derive(Debug)]
pub struct IngestJobs {
    pub(crate) ctx: Arc<UploadCtx>,
    pub(crate) audit: Arc<dyn Audit>,
    pub(crate) options: JobOptions,
}

impl IngestJobs {
    /// Jobs running with `ctx`, recorded in `audit`.
    pub fn new(ctx: Arc<UploadCtx>, audit: Arc<dyn Audit>, options: JobOptions) -> Self {
        Self {
            ctx,
            audit,
            options,
        }
    }
}
