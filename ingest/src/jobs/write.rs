//! Writing a run's accepted files into the landing table in one Delta
//! commit. The files are read again one after the other, fitted to the
//! run's schema, and each is checked unchanged once read; the commit
//! carries the run as a Delta application transaction (the job's id and
//! the run's id), which is how a later run knows this one committed. A
//! lost lease, a changed file or any failure stops the stream, so nothing
//! is committed and the data files written are deleted again.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;
use futures::stream::BoxStream;
use futures::{StreamExt, future};
use laker_query::StorageError;
use laker_query::tables::delta::log_store;

use super::lease::Held;
use super::plan::Planned;
use super::read::Reader;
use super::target::Landing;
use crate::delta;
use crate::error::{IngestError, Result};
use crate::upload::ctx::UploadCtx;
use crate::upload::schema::Conformer;
use crate::upload::staged::Staged;

/// One commit to make.
#[derive(Debug)]
pub struct Commit {
    /// The files, in order.
    pub files: Vec<Planned>,
    /// The schema they are written in.
    pub schema: SchemaRef,
    /// Whether it adds columns to the table.
    pub evolves: bool,
    /// The job's Delta application id and the run's id.
    pub transaction: (String, i64),
}

/// Writes `commit` to `landing`; returns the Delta version committed.
pub async fn write(
    ctx: &UploadCtx,
    reader: &Reader,
    landing: &Landing,
    commit: Commit,
    held: Held,
) -> Result<u64> {
    // Held until the commit, like an upload's: a stream slot (the job's own)
    // and the data file the writer buffers, from the server's memory.
    let _admitted = ctx.admission.upload(
        &commit.transaction.0,
        usize::try_from(ctx.limits.target_file_bytes).unwrap_or(usize::MAX),
        ctx.limits.decode.max_message_bytes,
    )?;
    let (url, store) = delta::store_at(&ctx.engine, &landing.location)?;
    let staged = Staged::new(store);
    let logs = log_store(&url, Arc::clone(&staged) as _)
        .map_err(|e| StorageError::delta("opening the Delta log", &e))?;
    let table = delta::open(logs.clone()).await?;
    let batches = stream(
        reader.clone(),
        landing.name.to_string(),
        commit.files,
        Arc::clone(&commit.schema),
        held,
    );
    let written = delta::write(
        delta::Commit {
            table: table.unwrap_or_else(|| DeltaTable::new(logs.clone())),
            mode: SaveMode::Append,
            evolve: commit.evolves,
            target_file_bytes: ctx.limits.target_file_bytes,
            transaction: Some(commit.transaction.clone()),
        },
        commit.schema,
        batches,
    )
    .await;
    match written {
        Ok(version) => Ok(version),
        Err(e) => {
            crate::upload::discard(&staged, &logs, &url, None).await;
            // The commit may have gone through although the write failed.
            match committed(&logs, &commit.transaction).await {
                Some(version) => Ok(version),
                None => Err(e),
            }
        }
    }
}

/// The table's version when it holds the run `transaction` names.
async fn committed(
    logs: &deltalake_core::logstore::LogStoreRef,
    (app_id, run): &(String, i64),
) -> Option<u64> {
    let table = delta::open(logs.clone()).await.ok()??;
    let done = delta::transaction_version(&table, app_id).await.ok()?;
    if done.is_some_and(|v| v >= *run) {
        table.version()
    } else {
        None
    }
}

/// The batches of `files`, one file after the other.
fn stream(
    reader: Reader,
    dataset: String,
    files: Vec<Planned>,
    schema: SchemaRef,
    held: Held,
) -> SendableRecordBatchStream {
    let target = Arc::clone(&schema);
    let batches = futures::stream::iter(files)
        .then(move |file| {
            let (reader, dataset, schema, held) = (
                reader.clone(),
                dataset.clone(),
                Arc::clone(&schema),
                held.clone(),
            );
            async move { one_file(reader, dataset, file, schema, held).await }
        })
        .flatten();
    Box::pin(RecordBatchStreamAdapter::new(target, batches))
}

/// The batches of `file` in `schema`, then its check that it is unchanged.
async fn one_file(
    reader: Reader,
    dataset: String,
    file: Planned,
    schema: SchemaRef,
    held: Held,
) -> BoxStream<'static, Result<RecordBatch, DataFusionError>> {
    let conformer = match Conformer::new(&dataset, Some(schema.as_ref()), &file.read_schema) {
        Ok(c) => c,
        Err(e) => return failed(external(e)),
    };
    let opened = match reader.open(&file.candidate.meta, &file.read_schema).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let batches = opened.map(move |batch| {
        if !held.get() {
            return Err(DataFusionError::Execution(
                "the ingest job's lease was lost; the run stops before it commits".into(),
            ));
        }
        conformer.conform(&batch?, 0).map(Some).map_err(external)
    });
    let meta = file.candidate.meta;
    let check = futures::stream::once(async move {
        match reader.unchanged(&meta).await {
            Ok(true) => Ok(None),
            Ok(false) => Err(DataFusionError::Execution(format!(
                "file '{}' changed while the run read it; the next run takes it",
                meta.location
            ))),
            Err(e) => Err(external(e)),
        }
    });
    batches
        .chain(check)
        .filter_map(|item| future::ready(item.transpose()))
        .boxed()
}

fn failed(e: DataFusionError) -> BoxStream<'static, Result<RecordBatch, DataFusionError>> {
    futures::stream::once(future::ready(Err(e))).boxed()
}

fn external(e: IngestError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
