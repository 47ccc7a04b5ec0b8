//! Writing an upload into a Delta table in one commit. The batches stream
//! through DataFusion into Parquet files; the commit (with the upload id as
//! a Delta application transaction, so a retried upload commits at most
//! once) is made only after the last batch was written and checked.

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
use deltalake_core::logstore::LogStoreRef;
use deltalake_core::operations::write::SchemaMode;
use deltalake_core::protocol::SaveMode;

use crate::error::{Error, Result};

/// Version of the application transaction an upload id is recorded with.
pub const UPLOAD_TXN_VERSION: i64 = 1;
/// Times a commit that lost the race for a version is retried on top of
/// the winner (appends never conflict with each other, so many concurrent
/// uploads to one dataset all commit).
const COMMIT_RETRIES: usize = 10_000;

/// The table at `log_store`, loaded, or `None` when there is none yet.
pub async fn open(log_store: LogStoreRef) -> Result<Option<DeltaTable>> {
    let mut table = DeltaTable::new(log_store);
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(deltalake_core::DeltaTableError::NotATable(_))
        | Err(deltalake_core::DeltaTableError::InvalidTableLocation(_)) => Ok(None),
        // The kernel reports a location that does not exist yet this way.
        Err(e) if e.to_string().contains("Invalid table location") => Ok(None),
        Err(e) => Err(Error::Internal(format!(
            "reading the Delta log failed: {e}"
        ))),
    }
}

/// Whether `upload_id` was already committed to `table`.
pub async fn committed(table: &DeltaTable, upload_id: &str) -> Result<bool> {
    Ok(transaction_version(table, upload_id).await?.is_some())
}

/// The version of application transaction `app_id` last committed to `table`.
pub async fn transaction_version(table: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    let state = table
        .snapshot()
        .map_err(|e| Error::Internal(format!("Delta snapshot: {e}")))?;
    state
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| Error::Internal(format!("reading Delta transactions failed: {e}")))
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
    let mut properties = CommitProperties::default().with_max_retries(COMMIT_RETRIES);
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
    table
        .version()
        .ok_or_else(|| Error::Internal("the Delta commit has no version".into()))
}

/// Delta's own failures are the server's; failures of the upload stream
/// itself (validation, limits, the client) are reported by the caller,
/// which saw them first.
fn write_error(e: deltalake_core::DeltaTableError) -> Error {
    Error::Internal(format!("writing the upload failed: {e}"))
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
