//! The `ingest_job` part of onboard: an ingest job named `<client>_ingest`
//! that imports what the client drops into `<client>.landing` (or the
//! target given), and with `backfill` a run right away over everything
//! already under the prefix. Onboarding again keeps an existing job as it
//! is (and a backfill then takes only what is new).

use std::sync::Arc;

use laker_auth::Principal;
use laker_catalog::CatalogError;
use laker_ingest::IngestError;
use laker_ingest::jobs::job::{DEFAULT_MAX_FILES_PER_RUN, JobSpec, Mode, Source};
use laker_ingest::jobs::run::{Cause, run};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The `ingest_job` of an onboard body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnboardJob {
    /// Where the client drops files.
    source: Source,
    /// The dataset they land in [default: `<client>.landing`].
    #[serde(default)]
    target: Option<String>,
    /// When the job runs (absent: only when asked).
    #[serde(default)]
    schedule: Option<String>,
    /// What a rejected file does to a run.
    #[serde(default)]
    mode: Mode,
    /// Files one run takes at most.
    #[serde(default)]
    max_files_per_run: Option<usize>,
    /// Run the job now, over every file already there.
    #[serde(default)]
    backfill: bool,
}

impl OnboardJob {
    /// The job's specification for `client`, checked.
    pub(crate) fn spec(&self, state: &AppState, client: &str) -> Result<JobSpec> {
        let spec = JobSpec {
            name: format!("{client}_ingest"),
            source: self.source.clone(),
            target: self
                .target
                .clone()
                .unwrap_or_else(|| format!("{client}.landing")),
            schedule: self.schedule.clone(),
            mode: self.mode,
            max_files_per_run: self.max_files_per_run.unwrap_or(DEFAULT_MAX_FILES_PER_RUN),
            quarantine_prefix: None,
        };
        spec.validate(&state.locations)?;
        if spec.target_name()?.namespace != client {
            return Err(Error::InvalidArgument(
                "onboard's ingest_job lands files in the client's own namespace".into(),
            ));
        }
        Ok(spec)
    }

    /// Creates the job unless it exists and, with `backfill`, runs it;
    /// returns whether it was created and what to answer.
    pub(crate) async fn apply(
        &self,
        state: &Arc<AppState>,
        principal: &Principal,
        spec: JobSpec,
    ) -> Result<(bool, serde_json::Value)> {
        let name = spec.name.clone();
        let created = match laker_ingest::jobs::admin::create(
            &state.ingest_jobs,
            spec,
            &principal.name,
        )
        .await
        {
            Ok(_) => true,
            Err(IngestError::Catalog(CatalogError::AlreadyExists { .. })) => false,
            Err(e) => return Err(e.into()),
        };
        let backfill = if self.backfill {
            let report = run(&state.ingest_jobs, &name, Cause::Backfill).await?;
            Some(
                serde_json::to_value(report)
                    .map_err(|e| Error::Internal(format!("the backfill's report: {e}")))?,
            )
        } else {
            None
        };
        Ok((
            created,
            serde_json::json!({"name": name, "backfill": backfill}),
        ))
    }
}
