//! Announcing a run's Delta commit like an upload's (webhook, NATS), under
//! an event id made of the job and the run. The run that commits announces
//! it before it records its end; a run that finishes one whose replica died
//! before recording its end ([`super::recover`]) announces it again. The
//! outbox records an event id once, so the commit is announced once either
//! way, and a replica killed between its commit and its announcement loses
//! nothing.

use sha2::{Digest, Sha256};

use crate::notify::CommitEvent;
use crate::upload::ctx::UploadCtx;

/// The event id of the commit of run `run_id` of job `job`: a UUID
/// (version 8) of the SHA-256 of both, the same on every replica.
pub fn event_id(job: &str, run_id: i64) -> String {
    let digest = Sha256::digest(format!("laker-ingest:{job}:{run_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A run's commit.
pub(crate) struct Committed<'a> {
    /// The job.
    pub job: &'a str,
    /// The run.
    pub run_id: i64,
    /// The landing dataset.
    pub dataset: String,
    /// The Delta version committed.
    pub version: u64,
    /// Rows imported.
    pub rows: u64,
    /// When the commit was made (Unix ms; none: now).
    pub at_ms: Option<i64>,
}

/// Records the announcement of `committed` in the outbox.
pub(crate) async fn announce(ctx: &UploadCtx, committed: Committed<'_>) {
    let committed_at = committed
        .at_ms
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now)
        .to_rfc3339();
    ctx.notifier
        .commit(&CommitEvent {
            event_id: event_id(committed.job, committed.run_id),
            dataset: committed.dataset,
            version: committed.version,
            rows: committed.rows,
            principal: format!("ingest-job:{}", committed.job),
            upload_id: None,
            mode: "ingest".into(),
            committed_at,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_event_id_is_a_uuid_of_the_job_and_the_run() {
        let id = event_id("acme_ingest", 42);
        assert_eq!(id, event_id("acme_ingest", 42));
        assert_ne!(id, event_id("acme_ingest", 43));
        assert_ne!(id, event_id("other", 42));
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
    }
}
