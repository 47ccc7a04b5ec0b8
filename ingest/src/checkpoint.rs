//! Keeping a Delta log short. A table gets a checkpoint at least every
//! `delta.checkpointInterval` versions (100 unless the table says
//! otherwise), so loading it reads the newest checkpoint and fewer than that
//! many JSON commits, however many commits it has had. After a checkpoint,
//! the log files it makes unnecessary that are older than
//! `delta.logRetentionDuration` (30 days unless the table says otherwise)
//! are removed, so time travel keeps working within that period.
//!
//! Every Laker commit (uploads, transforms, retention) calls
//! [`after_commit`] once it is durable: it writes the checkpoint when the
//! newest one is an interval behind — whoever made the versions in between,
//! so a checkpoint missed (another writer's commits, a failure) is made up
//! for — and cleans the log up. Its failures are logged, never the
//! commit's.

use deltalake_core::DeltaTable;
use deltalake_core::checkpoints::{cleanup_metadata, create_checkpoint};
use deltalake_core::table::config::TablePropertiesExt as _;
use laker_query::StorageError;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;

use crate::error::Result;

/// Where a Delta log names its newest checkpoint.
const LAST_CHECKPOINT: &str = "_delta_log/_last_checkpoint";

/// What [`after_commit`] found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// The newest checkpoint's version, after this call.
    pub checkpoint: Option<u64>,
    /// Whether this call wrote that checkpoint.
    pub written: bool,
    /// Expired log files removed.
    pub logs_removed: usize,
}

/// [`upkeep`] of `table` just after a commit; a failure is logged, never
/// the commit's: the commit stands, and the next one tries again.
pub async fn after_commit(table: &DeltaTable) -> Upkeep {
    let logs = table.log_store();
    match upkeep(table).await {
        Ok(done) => {
            if done.written || done.logs_removed > 0 {
                tracing::info!(
                    table = %logs.root_url(),
                    checkpoint = ?done.checkpoint,
                    written = done.written,
                    logs_removed = done.logs_removed,
                    "Delta log kept short"
                );
            }
            done
        }
        Err(e) => {
            tracing::warn!(table = %logs.root_url(), error = %e, "Delta checkpoint or log cleanup failed");
            Upkeep::default()
        }
    }
}

/// Writes a checkpoint at `table`'s loaded version when the newest one is
/// `delta.checkpointInterval` or more versions older (or there is none
/// and the table has that many versions); when the newest checkpoint is
/// at the loaded version (just written, here or by another writer),
/// removes the expired log files before it.
pub async fn upkeep(table: &DeltaTable) -> Result<Upkeep> {
    let state = table
        .snapshot()
        .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?;
    let version = state.version();
    let config = state.table_config();
    let interval = config.checkpoint_interval().get();
    let newest = last_checkpoint(table).await?;
    // Versions a load would read as JSON commits: those after the checkpoint.
    let behind = match newest {
        Some(checkpoint) => version.saturating_sub(checkpoint),
        None => version.saturating_add(1),
    };
    let mut done = Upkeep {
        checkpoint: newest,
        ..Upkeep::default()
    };
    if behind >= interval {
        create_checkpoint(table, None)
            .await
            .map_err(|e| StorageError::delta("writing a Delta checkpoint", &e))?;
        done.checkpoint = Some(version);
        done.written = true;
    }
    if done.checkpoint == Some(version) && config.enable_expired_log_cleanup() {
        done.logs_removed = cleanup_metadata(table, None)
            .await
            .map_err(|e| StorageError::delta("removing expired Delta log files", &e))?;
    }
    Ok(done)
}

/// The version of `table`'s newest checkpoint, as `_delta_log/_last_checkpoint`
/// names it; `None` when there is none.
pub async fn last_checkpoint(table: &DeltaTable) -> Result<Option<u64>> {
    let store = table.log_store().object_store(None);
    let body = match store.get(&Path::from(LAST_CHECKPOINT)).await {
        Ok(found) => found.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| StorageError::object_store("reading the Delta checkpoint hint", &e))?;
    // A hint that cannot be read counts as none: a checkpoint is written.
    Ok(serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|hint| hint.get("version")?.as_u64()))
}
