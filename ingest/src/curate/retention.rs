//! Retention of landed data: a Delta dataset with `retention_days` keeps
//! the files landed within that many days. Older files are removed from
//! the table in one commit (so queries no longer see their rows, while
//! time travel to earlier versions still can), and deleted from the store
//! once they have been out of the table for the deletion delay (a day by
//! default), so downloads already reading them finish.
//!
//! Retention is applied after each commit to the dataset ([`super::landed`])
//! and by the server's clock to every dataset with retention ([`pass`]), so
//! a dataset nothing lands in any more is pruned too. Both are safe to run
//! at once and on several replicas: the deletion is a Delta vacuum, which
//! deletes only files the current version does not reference.

use std::time::Duration;

use deltalake_core::DeltaTable;
use deltalake_core::kernel::Action;
use deltalake_core::kernel::transaction::CommitBuilder;
use deltalake_core::logstore::LogStoreRef;
use deltalake_core::protocol::DeltaOperation;
use laker_catalog::{Dataset, DatasetFormat};
use laker_query::{QueryEngine, StorageError};

use crate::checkpoint;
use crate::curate::curator::Curator;
use crate::delta;
use crate::error::Result;

/// How long removed files stay in the store unless the server is told
/// otherwise (`--retention-delete-after-hours`).
pub const DEFAULT_DELETE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What applying retention did to one dataset.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Enforced {
    /// Files removed from the table (landed before the retention period).
    pub removed: usize,
    /// Files deleted from the store (out of the table for the deletion delay).
    pub deleted: usize,
}

/// What one pass over the datasets with retention did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Datasets with retention looked at.
    pub datasets: usize,
    /// Files removed from their tables.
    pub removed: usize,
    /// Files deleted from the store.
    pub deleted: usize,
    /// Datasets (or the listing of them) that failed.
    pub failed: usize,
}

/// Applies retention to every Delta dataset with `retention_days`, whether
/// or not anything landed in it lately. A dataset that fails is logged and
/// counted; the others are still done.
pub async fn pass(curator: &Curator) -> Pass {
    let datasets = match curator.ctx.catalog.datasets().await {
        Ok(datasets) => datasets,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the datasets for retention");
            return Pass {
                failed: 1,
                ..Pass::default()
            };
        }
    };
    let mut pass = Pass::default();
    let retained = datasets
        .iter()
        .filter(|d| d.format == DatasetFormat::Delta && d.options.retention_days.is_some());
    for dataset in retained {
        pass.datasets += 1;
        match apply(curator, dataset).await {
            Ok(done) => {
                pass.removed += done.removed;
                pass.deleted += done.deleted;
            }
            Err(e) => {
                pass.failed += 1;
                tracing::warn!(dataset = %dataset.name, error = %e, "retention failed");
            }
        }
    }
    pass
}

/// Applies `dataset`'s retention with the curator's deletion delay; runs
/// on one dataset in this process wait for each other.
pub async fn apply(curator: &Curator, dataset: &Dataset) -> Result<Enforced> {
    let lock = curator.retention_lock(&dataset.name);
    let _guard = lock.lock().await;
    enforce(
        &curator.ctx.engine,
        dataset,
        curator.ctx.retention_delete_after,
    )
    .await
}

/// Applies `dataset`'s retention: removes the files landed before its
/// retention period from the table, then deletes from the store the files
/// removed from the table more than `delete_after` ago.
pub async fn enforce(
    engine: &QueryEngine,
    dataset: &Dataset,
    delete_after: Duration,
) -> Result<Enforced> {
    let Some(days) = dataset.options.retention_days else {
        return Ok(Enforced::default());
    };
    let (logs, table) = delta::table_at(engine, &dataset.location).await?;
    let Some(table) = table else {
        return Ok(Enforced::default());
    };
    let removed = remove_expired(&logs, &table, days).await?;
    let table = if removed > 0 {
        tracing::info!(dataset = %dataset.name, files = removed, days, "landed files past retention removed");
        engine.tables().invalidate(&dataset.name);
        // The removal's own tombstones count when the delay is zero.
        match delta::open(logs).await? {
            Some(table) => table,
            None => {
                return Ok(Enforced {
                    removed,
                    deleted: 0,
                });
            }
        }
    } else {
        table
    };
    let (table, deleted) = delete_removed(table, delete_after).await?;
    if deleted > 0 {
        tracing::info!(dataset = %dataset.name, files = deleted, "removed landed files deleted");
        // Older versions cached for time travel may name them.
        engine.tables().invalidate(&dataset.name);
    }
    checkpoint::after_commit(&table).await;
    Ok(Enforced { removed, deleted })
}

/// Removes the files of `table` landed more than `days` days ago in one
/// commit; returns how many.
async fn remove_expired(logs: &LogStoreRef, table: &DeltaTable, days: u32) -> Result<usize> {
    let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
    let snapshot = table
        .snapshot()
        .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?;
    let removes: Vec<Action> = snapshot
        .log_data()
        .into_iter()
        .filter(|f| f.modification_time() < cutoff)
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    let removed = removes.len();
    if removed == 0 {
        return Ok(0);
    }
    // No read predicate: the removal conflicts with no append, and a commit
    // that retries on top of another one has nothing to parse.
    let why = serde_json::Value::from(format!("landed more than {days} days ago"));
    let properties =
        delta::commit_properties().with_metadata([("laker.retention".to_string(), why)]);
    CommitBuilder::from(properties)
        .with_actions(removes)
        .build(
            Some(snapshot),
            logs.clone(),
            DeltaOperation::Delete { predicate: None },
        )
        .await
        .map_err(|e| StorageError::delta("committing retention", &e))?;
    Ok(removed)
}

/// Deletes from the store the files removed from `table` more than
/// `delete_after` ago that its current version does not reference (a
/// Delta vacuum, which records itself in the log when it deletes any);
/// returns the table after it and how many were deleted.
async fn delete_removed(table: DeltaTable, delete_after: Duration) -> Result<(DeltaTable, usize)> {
    let period = chrono::Duration::from_std(delete_after)
        .map_err(|e| StorageError::internal("deleting removed files", &e))?;
    let (table, metrics) = table
        .vacuum()
        .with_retention_period(period)
        // The delay is Laker's, shorter than Delta's default week.
        .with_enforce_retention_duration(false)
        .with_commit_properties(delta::commit_properties())
        .await
        .map_err(|e| StorageError::delta("deleting removed files", &e))?;
    Ok((table, metrics.files_deleted.len()))
}
