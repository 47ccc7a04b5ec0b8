//! The Delta tables of the lake, for uploads and transforms alike: the
//! table at a dataset's location, its commits, and writing a stream of
//! batches into it in one commit. The batches stream through DataFusion
//! into Parquet files; the commit (with an application transaction — an
//! upload id, so a retried upload commits at most once, or a transform's
//! progress) is made only after the last batch was written and checked.
//! Every commit keeps the log short ([`crate::checkpoint`]).

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::Transaction;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::logstore::{LogStore as _, LogStoreRef};
use deltalake_core::operations::write::SchemaMode;
use deltalake_core::protocol::SaveMode;

use laker_query::tables::delta::log_store;
use laker_query::{QueryEngine, StorageError};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{IngestError, Result};

/// Version of the application transaction an upload id is recorded with.
pub const UPLOAD_TXN_VERSION: i64 = 1;
/// Times a commit that lost the race for a version is retried on top of
/// the winner (appends never conflict with each other, so many concurrent
/// uploads to one dataset all commit).
const COMMIT_RETRIES: usize = 10_000;

/// How Laker commits to a Delta table: a commit that lost the race for a
/// version is retried on top of the winner. Checkpoints and the removal of
/// expired log files are left to [`crate::checkpoint::after_commit`], run
/// after the commit: deltalake's own post-commit hook would answer a commit
/// whose checkpoint failed with that error, though the commit is durable
/// (an upload would be reported failed and retried), and would list the
/// whole log after every commit to clean it.
pub fn commit_properties() -> CommitProperties {
    CommitProperties::default()
        .with_max_retries(COMMIT_RETRIES)
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// The table at `log_store`, loaded, or `None` when there is none yet.
pub async fn open(log_store: LogStoreRef) -> Result<Option<DeltaTable>> {
    let reading = "reading the Delta log";
    let exists = log_store
        .is_delta_table_location()
        .await
        .map_err(|e| StorageError::delta(reading, &e))?;
    if !exists {
        return Ok(None);
    }
    let mut table = DeltaTable::new(log_store);
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        // A log of only files that hold no commit yet.
        Err(deltalake_core::DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(StorageError::delta(reading, &e).into()),
    }
}

/// The object store holding `location` (one of `engine`'s), and the
/// location as a URL.
pub fn store_at(
    engine: &QueryEngine,
    location: &str,
) -> Result<(url::Url, Arc<dyn object_store::ObjectStore>)> {
    let url = url::Url::parse(location)
        .map_err(|_| IngestError::Internal("a dataset has an invalid location".into()))?;
    let listing = datafusion::datasource::listing::ListingTableUrl::parse(location)?;
    let store = engine
        .state()
        .runtime_env()
        .object_store(&listing)
        .map_err(|e| IngestError::Internal(format!("no object store for a dataset: {e}")))?;
    Ok((url, store))
}

/// The Delta table at `location` (its log store, and the table when one exists).
pub async fn table_at(
    engine: &QueryEngine,
    location: &str,
) -> Result<(
    deltalake_core::logstore::LogStoreRef,
    Option<deltalake_core::DeltaTable>,
)> {
    let (url, store) = store_at(engine, location)?;
    let logs =
        log_store(&url, store).map_err(|e| StorageError::delta("opening the Delta log", &e))?;
    let table = open(logs.clone()).await?;
    Ok((logs, table))
}

/// The schema of the Delta table at `location`, or `None` when there is
/// none yet.
pub async fn table_schema(engine: &QueryEngine, location: &str) -> Result<Option<SchemaRef>> {
    let (_, table) = table_at(engine, location).await?;
    let Some(table) = table else {
        return Ok(None);
    };
    let state = table
        .snapshot()
        .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?;
    Ok(Some(state.snapshot().arrow_schema()))
}

/// The actions of one Delta commit file (`_delta_log/<version>.json`).
pub async fn commit_actions(
    store: &dyn ObjectStore,
    commit: &Path,
) -> object_store::Result<Vec<serde_json::Value>> {
    let body = store.get(commit).await?.bytes().await?;
    Ok(body
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect())
}

/// Whether `upload_id` was already committed to `table`.
pub async fn committed(table: &DeltaTable, upload_id: &str) -> Result<bool> {
    Ok(transaction_version(table, upload_id).await?.is_some())
}

/// The version of application transaction `app_id` last committed to `table`.
pub async fn transaction_version(table: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    let state = table
        .snapshot()
        .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?;
    state
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| StorageError::delta("reading Delta transactions", &e).into())
}

/// Most commits looked through, newest first, for the one that recorded
/// an application transaction.
const TRANSACTION_SEARCH: u64 = 10_000;

/// How much earlier than the run's start a commit may be stamped and still
/// be looked past: other writers' clocks may lag the run's.
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The version of the commit of `table` that recorded application
/// transaction `app_id` at `txn_version`, and when it was made (Unix ms,
/// from its `commitInfo`). Looked for newest first, back to the first
/// commit stamped before `since_ms` (the run's start, less
/// [`CLOCK_SKEW_MS`]), among at most [`TRANSACTION_SEARCH`] commits; `None`
/// when it is not found so, or its commit file was removed with the
/// expired log.
pub async fn transaction_commit(
    table: &DeltaTable,
    app_id: &str,
    txn_version: i64,
    since_ms: i64,
) -> Result<Option<(u64, Option<i64>)>> {
    let Some(latest) = table.version() else {
        return Ok(None);
    };
    let store = table.log_store().object_store(None);
    let oldest = since_ms.saturating_sub(CLOCK_SKEW_MS);
    for version in (latest.saturating_sub(TRANSACTION_SEARCH - 1)..=latest).rev() {
        let commit = Path::from(format!("_delta_log/{version:020}.json"));
        let actions = match commit_actions(store.as_ref(), &commit).await {
            Ok(actions) => actions,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => {
                return Err(StorageError::object_store("reading the Delta log", &e).into());
            }
        };
        match seen(&actions, (app_id, txn_version), oldest) {
            Seen::Recorded(at) => return Ok(Some((version, at))),
            // Made before the run started: the run's commit is not older.
            Seen::Older => return Ok(None),
            Seen::Other => {}
        }
    }
    Ok(None)
}

/// What one commit tells a search for a transaction.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// It recorded the transaction; when it was made, if it says.
    Recorded(Option<i64>),
    /// Another commit, stamped before the oldest time searched.
    Older,
    /// Another commit.
    Other,
}

/// What the commit of `actions` tells a search for the transaction
/// `(app_id, version)` back to `oldest` (Unix ms).
fn seen(actions: &[serde_json::Value], (app_id, version): (&str, i64), oldest: i64) -> Seen {
    let at = actions
        .iter()
        .filter_map(|a| a.get("commitInfo"))
        .find_map(|c| c.get("timestamp").and_then(serde_json::Value::as_i64));
    let recorded = actions.iter().filter_map(|a| a.get("txn")).any(|t| {
        t.get("appId").and_then(serde_json::Value::as_str) == Some(app_id)
            && t.get("version").and_then(serde_json::Value::as_i64) == Some(version)
    });
    if recorded {
        Seen::Recorded(at)
    } else if at.is_some_and(|at| at < oldest) {
        Seen::Older
    } else {
        Seen::Other
    }
}

/// One upload to commit.
pub struct Commit {
    /// The table as loaded, or its log store when it does not exist yet.
    pub table: DeltaTable,
    /// Append or overwrite.
    pub mode: SaveMode,
    /// Add the upload's new nullable columns to the table's schema.
    pub evolve: bool,
    /// Size at which a data file is closed and the next begun.
    pub target_file_bytes: u64,
    /// A Delta application transaction (app id, version) recorded with the
    /// commit: an upload id, so a retry commits nothing, or a transform's
    /// progress through its landing versions.
    pub transaction: Option<(String, i64)>,
}

/// Streams `batches` (in `schema`) into `commit.table`; returns the version
/// committed. Nothing is committed when the stream fails.
pub async fn write(
    commit: Commit,
    schema: SchemaRef,
    batches: SendableRecordBatchStream,
) -> Result<u64> {
    let table = Arc::new(StreamingTable::try_new(
        Arc::clone(&schema),
        vec![Arc::new(OneStream {
            schema,
            stream: Mutex::new(Some(batches)),
        })],
    )?);
    let plan = LogicalPlanBuilder::scan("upload", provider_as_source(table), None)?.build()?;
    let mut properties = commit_properties();
    if let Some((id, version)) = &commit.transaction {
        properties = properties.with_application_transaction(Transaction::new(id, *version));
    }
    let mut builder = commit
        .table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_save_mode(commit.mode)
        .with_target_file_size(std::num::NonZeroU64::new(commit.target_file_bytes))
        .with_commit_properties(properties);
    if commit.evolve {
        builder = builder.with_schema_mode(SchemaMode::Merge);
    }
    let table = builder.await.map_err(write_error)?;
    crate::checkpoint::after_commit(&table).await;
    table
        .version()
        .ok_or_else(|| IngestError::Internal("the Delta commit has no version".into()))
}

/// Delta's own failures by class (a lost commit race is ABORTED, a store
/// outage UNAVAILABLE); failures of the upload stream itself (validation,
/// limits, the client) are reported by the caller, which saw them first.
/// Only an upload's caller may see the detail of data that does not fit
/// ([`StorageError::about_callers_data`], at the upload).
fn write_error(e: deltalake_core::DeltaTableError) -> IngestError {
    StorageError::delta("writing the table", &e).into()
}

/// A partition stream that hands out the upload's batches once.
struct OneStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OneStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        taken.unwrap_or_else(|| {
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "the upload was already read".into(),
                    ))
                }),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(at: Option<i64>, txn: Option<(&str, i64)>) -> Vec<serde_json::Value> {
        let mut actions = vec![serde_json::json!({"add": {"path": "part-0.parquet"}})];
        if let Some((app, version)) = txn {
            actions.push(serde_json::json!({"txn": {"appId": app, "version": version}}));
        }
        if let Some(at) = at {
            actions.push(serde_json::json!({"commitInfo": {"timestamp": at}}));
        }
        actions
    }

    #[test]
    fn a_search_stops_at_a_commit_older_than_the_run() {
        let run = ("laker-ingest:feed", 7);
        assert_eq!(
            seen(&commit(Some(2_000), Some(run)), run, 1_000),
            Seen::Recorded(Some(2_000))
        );
        assert_eq!(
            seen(&commit(None, Some(run)), run, 1_000),
            Seen::Recorded(None)
        );
        // Recorded counts even when stamped early (a lagging clock).
        assert_eq!(
            seen(&commit(Some(500), Some(run)), run, 1_000),
            Seen::Recorded(Some(500))
        );
        assert_eq!(seen(&commit(Some(999), None), run, 1_000), Seen::Older);
        assert_eq!(seen(&commit(Some(1_000), None), run, 1_000), Seen::Other);
        assert_eq!(seen(&commit(None, None), run, 1_000), Seen::Other);
        let other_run = ("laker-ingest:feed", 6);
        assert_eq!(
            seen(&commit(Some(999), Some(other_run)), run, 1_000),
            Seen::Older
        );
        let other_job = ("laker-ingest:other", 7);
        assert_eq!(
            seen(&commit(Some(2_000), Some(other_job)), run, 1_000),
            Seen::Other
        );
    }
}
