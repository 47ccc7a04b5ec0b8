//! Quarantine: a rejected file is copied to the job's quarantine folder,
//! under the run's id and its path below the source folder, with
//! `<name>.reason.json` beside it (job, run, file, version, reason). The
//! original stays where it was dropped; the manifest records the reason
//! too, so a copy that fails only costs the copy.

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use super::plan::Rejected;
use super::source::SourceAt;

/// Copies each of `rejected` into quarantine for run `run_id` of `job`;
/// returns how many copies were made.
pub async fn quarantine(source: &SourceAt, job: &str, run_id: i64, rejected: &[Rejected]) -> usize {
    let mut copied = 0;
    for file in rejected {
        match copy(source, job, run_id, file).await {
            Ok(()) => copied += 1,
            Err(e) => tracing::warn!(
                job,
                file = %file.candidate.meta.location,
                error = %e,
                "a rejected file could not be copied into quarantine; its reason is in the manifest"
            ),
        }
    }
    copied
}

async fn copy(
    source: &SourceAt,
    job: &str,
    run_id: i64,
    file: &Rejected,
) -> object_store::Result<()> {
    let from = &file.candidate.meta.location;
    let to = Path::parse(format!(
        "{}/{run_id}/{}",
        source.quarantine,
        source.relative(from)
    ))?;
    source.store.copy(from, &to).await?;
    let reason = serde_json::json!({
        "job": job,
        "run_id": run_id,
        "file": from.to_string(),
        "size": file.candidate.meta.size,
        "version": file.candidate.version,
        "reason": file.reason,
        "rejected_at": chrono::Utc::now().to_rfc3339(),
    });
    let beside = Path::parse(format!("{to}.reason.json"))?;
    source
        .store
        .put(&beside, PutPayload::from(reason.to_string()))
        .await?;
    Ok(())
}
