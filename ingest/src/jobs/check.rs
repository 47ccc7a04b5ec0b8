//! Checking a run's planned files before anything is written: each file is
//! read in full (several at once), fitted to the run's schema and checked
//! against the dataset's rules, within the upload limits, as an upload of
//! its own would be (so `unique` rules hold within each file). A file that
//! changed while it was read is left for the next run.

use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use laker_catalog::rules::Rule;

use super::blame::{Blame, blame};
use super::plan::{PARALLEL, Planned};
use super::read::Reader;
use crate::error::{IngestError, Result};
use crate::upload::limits::UploadLimits;
use crate::upload::rules::RuleChecker;
use crate::upload::schema::Conformer;

/// What checking one file found.
#[derive(Debug)]
pub enum Verdict {
    /// Fit to import, with its rows.
    Accepted(u64),
    /// Rejected, with the reason.
    Rejected(String),
    /// Changed (or gone) while it was read: left for the next run.
    Changed,
}

/// What the checks of a run hold: the dataset, its rules, the limits.
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    /// The dataset's name, for messages.
    pub dataset: &'a str,
    /// The schema the run writes.
    pub target: &'a SchemaRef,
    /// The dataset's rules.
    pub rules: &'a [Rule],
    /// Limits of one file, as of one upload.
    pub limits: UploadLimits,
}

/// Checks `files`; the run fails only for faults of its own (the store,
/// the catalog, memory).
pub async fn check_all(
    reader: &Reader,
    files: Vec<Planned>,
    checks: Checks<'_>,
) -> Result<Vec<(Planned, Verdict)>> {
    let checked: Vec<(Planned, Result<Verdict>)> = futures::stream::iter(files)
        .map(|file| async move {
            let verdict = check(reader, &file, checks).await;
            (file, verdict)
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    checked
        .into_iter()
        .map(|(file, verdict)| match verdict {
            Ok(v) => Ok((file, v)),
            Err(e) => match blame(e) {
                Blame::File(reason) => Ok((file, Verdict::Rejected(reason))),
                Blame::Run(e) => Err(e),
            },
        })
        .collect()
}

async fn check(reader: &Reader, file: &Planned, checks: Checks<'_>) -> Result<Verdict> {
    let target = Some(checks.target.as_ref());
    let conformer = Conformer::new(checks.dataset, target, &file.read_schema)?;
    let session = reader.session();
    let mut rules = RuleChecker::new(session, checks.rules, &conformer.target)?
        .with_memory(&session.runtime_env().memory_pool);
    let mut batches = reader.open(&file.candidate.meta, &file.read_schema).await?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(batch) = batches.next().await {
        let batch = conformer.conform(&batch?, rows)?;
        rules.check(&batch, rows)?;
        rows = rows.saturating_add(batch.num_rows() as u64);
        bytes = bytes.saturating_add(laker_query::memory::size::batch_bytes(&batch));
        if rows > checks.limits.max_rows || bytes > checks.limits.max_bytes {
            return Err(IngestError::ResourceExhausted(format!(
                "the file holds more than {} rows or {} bytes of data, the most one file may \
                 import (--upload-max-rows, --upload-max-bytes)",
                checks.limits.max_rows, checks.limits.max_bytes
            )));
        }
    }
    if !reader.unchanged(&file.candidate.meta).await? {
        return Ok(Verdict::Changed);
    }
    Ok(Verdict::Accepted(rows))
}
