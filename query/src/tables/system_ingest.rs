//! The tables behind `system.ingest_runs` (every run of an ingest job) and
//! `system.ingest_files` (every file ingest jobs took), read from the
//! catalog database page by page on every scan.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::streaming::PartitionStream;
use laker_catalog::{Catalog, IngestRun, ManifestEntry};

use super::paged::paged;

/// The partition reading `system.ingest_runs`, `page_rows` runs per query.
pub(super) fn ingest_runs_partition(catalog: &Catalog, page_rows: i64) -> Arc<dyn PartitionStream> {
    Arc::new(RunsPartition {
        catalog: catalog.clone(),
        page_rows,
        schema: runs_schema(),
    })
}

/// The partition reading `system.ingest_files`, `page_rows` files per query.
pub(super) fn ingest_files_partition(
    catalog: &Catalog,
    page_rows: i64,
) -> Arc<dyn PartitionStream> {
    Arc::new(FilesPartition {
        catalog: catalog.clone(),
        page_rows,
        schema: files_schema(),
    })
}

fn time(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        nullable,
    )
}

fn int64(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// Schema of `system.ingest_runs`; a run still running has no
/// `finished_at`, one that committed nothing no `delta_version`.
fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        int64("id", false),
        text("job", false),
        text("cause", false),
        time("started_at", false),
        time("finished_at", true),
        int64("duration_ms", true),
        int64("files", false),
        int64("rows", false),
        int64("bytes", false),
        int64("rejects", false),
        int64("reimports", false),
        int64("delta_version", true),
        text("outcome", false),
        text("message", true),
    ]))
}

/// Schema of `system.ingest_files`.
fn files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        int64("id", false),
        text("job", false),
        int64("run_id", false),
        text("path", false),
        int64("size", false),
        text("version", false),
        text("outcome", false),
        int64("rows", false),
        text("reason", true),
        Field::new("reimport", DataType::Boolean, false),
        Field::new("pending", DataType::Boolean, false),
        time("taken_at", false),
    ]))
}

#[derive(Debug)]
struct RunsPartition {
    catalog: Catalog,
    page_rows: i64,
    schema: SchemaRef,
}

impl PartitionStream for RunsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let fetch = move |after, rows| {
            let catalog = catalog.clone();
            async move {
                catalog
                    .ingest_run_page(after, rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            }
        };
        paged(
            Arc::clone(&self.schema),
            self.page_rows,
            fetch,
            |r: &IngestRun| r.id,
            runs_batch,
        )
    }
}

fn runs_batch(schema: &SchemaRef, runs: &[IngestRun]) -> Result<RecordBatch, DataFusionError> {
    let num = |f: fn(&IngestRun) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(runs.iter().map(f)))
    };
    let optional = |f: fn(&IngestRun) -> Option<i64>| -> ArrayRef {
        Arc::new(runs.iter().map(f).collect::<Int64Array>())
    };
    let columns = vec![
        num(|r| r.id),
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| r.job.as_str()),
        )) as ArrayRef,
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| r.cause.as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(runs.iter().map(|r| r.started_at))
                .with_timezone("UTC"),
        ),
        Arc::new(
            runs.iter()
                .map(|r| r.finished_at)
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        optional(|r| r.finished_at.map(|f| f - r.started_at)),
        num(|r| r.summary.files),
        num(|r| r.summary.rows),
        num(|r| r.summary.bytes),
        num(|r| r.summary.rejects),
        num(|r| r.summary.reimports),
        optional(|r| r.summary.delta_version),
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| r.summary.outcome.as_str()),
        )),
        Arc::new(
            runs.iter()
                .map(|r| r.summary.message.as_deref())
                .collect::<StringArray>(),
        ),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[derive(Debug)]
struct FilesPartition {
    catalog: Catalog,
    page_rows: i64,
    schema: SchemaRef,
}

impl PartitionStream for FilesPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let fetch = move |after, rows| {
            let catalog = catalog.clone();
            async move {
                catalog
                    .ingest_manifest_page(after, rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            }
        };
        paged(
            Arc::clone(&self.schema),
            self.page_rows,
            fetch,
            |e: &ManifestEntry| e.id,
            files_batch,
        )
    }
}

fn files_batch(
    schema: &SchemaRef,
    files: &[ManifestEntry],
) -> Result<RecordBatch, DataFusionError> {
    let num = |f: fn(&ManifestEntry) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(files.iter().map(f)))
    };
    let text = |f: fn(&ManifestEntry) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(files.iter().map(f)))
    };
    let flag = |f: fn(&ManifestEntry) -> bool| -> ArrayRef {
        Arc::new(files.iter().map(|e| Some(f(e))).collect::<BooleanArray>())
    };
    let columns = vec![
        num(|e| e.id),
        text(|e| &e.job),
        num(|e| e.run_id),
        text(|e| &e.file.path),
        num(|e| e.file.size),
        text(|e| &e.file.object_version),
        text(|e| &e.file.outcome),
        num(|e| e.file.rows),
        Arc::new(
            files
                .iter()
                .map(|e| e.file.reason.as_deref())
                .collect::<StringArray>(),
        ),
        flag(|e| e.file.reimport),
        flag(|e| e.pending),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(files.iter().map(|e| e.taken_at))
                .with_timezone("UTC"),
        ),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
