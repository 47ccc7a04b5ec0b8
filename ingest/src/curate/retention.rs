//! Retention of landed data: a Delta dataset with `retention_days` keeps
//! the files landed within that many days. Older files are removed from
//! the table in one commit (so queries no longer see their rows, while
//! time travel to earlier versions still can), and deleted from the store
//! a day after their removal, so downloads already reading them finish.

use deltalake_core::kernel::Action;
use deltalake_core::kernel::transaction::CommitBuilder;
use deltalake_core::protocol::DeltaOperation;
use laker_catalog::Dataset;
use laker_query::{QueryEngine, StorageError};

use crate::delta;
use crate::error::Result;

/// How long removed files stay in the store.
const DELETE_AFTER_HOURS: i64 = 24;

/// Applies `dataset`'s retention; returns the files removed from the table.
pub async fn enforce(engine: &QueryEngine, dataset: &Dataset) -> Result<usize> {
    let Some(days) = dataset.options.retention_days else {
        return Ok(0);
    };
    let (logs, table) = delta::table_at(engine, &dataset.location).await?;
    let Some(table) = table else {
        return Ok(0);
    };
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
    if removed > 0 {
        CommitBuilder::default()
            .with_actions(removes)
            .build(
                Some(snapshot),
                logs.clone(),
                DeltaOperation::Delete {
                    predicate: Some(format!("landed more than {days} days ago")),
                },
            )
            .await
            .map_err(|e| StorageError::delta("committing retention", &e))?;
        tracing::info!(dataset = %dataset.name, files = removed, days, "landed files past retention removed");
        engine.tables().invalidate(&dataset.name);
    }
    let Some(table) = delta::open(logs).await? else {
        return Ok(removed);
    };
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(chrono::Duration::hours(DELETE_AFTER_HOURS))
        .with_enforce_retention_duration(false)
        .await
        .map_err(|e| StorageError::delta("deleting removed files", &e))?;
    if !metrics.files_deleted.is_empty() {
        tracing::info!(dataset = %dataset.name, files = metrics.files_deleted.len(), "removed landed files deleted");
    }
    Ok(removed)
}
