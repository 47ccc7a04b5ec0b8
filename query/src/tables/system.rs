//! The tables behind the built-in `system` datasets, read from the catalog
//! database on every scan, page by page; downloadable like any dataset
//! (grants, filters, masks).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use laker_catalog::audit::AuditRecord;
use laker_catalog::{Catalog, DatasetName};

use super::error::{Result, TableError};
use super::paged::paged;
use super::system_ingest::{ingest_files_partition, ingest_runs_partition};
use super::system_requests::access_requests_partition;

/// Rows read from the database per page (and per record batch).
const PAGE_ROWS: i64 = 8192;

/// The table behind a built-in dataset.
pub fn system_table(catalog: &Catalog, name: &DatasetName) -> Result<Arc<dyn TableProvider>> {
    let partition: Arc<dyn PartitionStream> = match name.dataset.as_str() {
        "audit" => Arc::new(AuditPartition {
            catalog: catalog.clone(),
            schema: audit_schema(),
        }),
        "usage" => Arc::new(UsagePartition {
            catalog: catalog.clone(),
            schema: usage_schema(),
        }),
        "access_requests" => access_requests_partition(catalog, PAGE_ROWS),
        "ingest_runs" => ingest_runs_partition(catalog, PAGE_ROWS),
        "ingest_files" => ingest_files_partition(catalog, PAGE_ROWS),
        _ => return Err(TableError::not_found(name)),
    };
    let table = StreamingTable::try_new(Arc::clone(partition.schema()), vec![partition])?;
    Ok(Arc::new(table))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

fn int64(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}

/// Schema of `system.audit`.
pub fn audit_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        utf8("principal"),
        utf8("source"),
        utf8("action"),
        utf8("dataset"),
        utf8("detail"),
        int64("rows"),
        int64("bytes"),
        int64("duration_ms"),
        utf8("outcome"),
        utf8("message"),
    ]))
}

/// Schema of `system.usage`.
pub fn usage_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, false),
        utf8("principal"),
        utf8("dataset"),
        int64("downloads"),
        int64("rows"),
        int64("bytes"),
    ]))
}

#[derive(Debug)]
struct AuditPartition {
    catalog: Catalog,
    schema: SchemaRef,
}

impl PartitionStream for AuditPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let fetch = move |after, rows| {
            let catalog = catalog.clone();
            async move {
                catalog
                    .audit_page(after, rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            }
        };
        paged(
            Arc::clone(&self.schema),
            PAGE_ROWS,
            fetch,
            |(id, _)| *id,
            audit_batch,
        )
    }
}

fn audit_batch(
    schema: &SchemaRef,
    page: &[(i64, AuditRecord)],
) -> Result<RecordBatch, DataFusionError> {
    let text = |f: fn(&AuditRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            page.iter().map(|(_, r)| f(r)),
        ))
    };
    let num = |f: fn(&AuditRecord) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(page.iter().map(|(_, r)| f(r))))
    };
    let columns = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(page.iter().map(|(_, r)| r.time))
                .with_timezone("UTC"),
        ) as ArrayRef,
        text(|r| &r.principal),
        text(|r| &r.source),
        text(|r| &r.action),
        text(|r| &r.dataset),
        text(|r| &r.detail),
        num(|r| r.rows),
        num(|r| r.bytes),
        num(|r| r.duration_ms),
        text(|r| &r.outcome),
        text(|r| &r.message),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[derive(Debug)]
struct UsagePartition {
    catalog: Catalog,
    schema: SchemaRef,
}

impl PartitionStream for UsagePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let schema = Arc::clone(&self.schema);
        let batch = futures::stream::once(async move {
            let rows = catalog
                .usage()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let columns = vec![
                Arc::new(Date32Array::from_iter_values(
                    rows.iter()
                        .map(|r| i32::try_from(r.day).unwrap_or(i32::MAX)),
                )) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.principal.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.dataset.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.downloads),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.rows))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.bytes))),
            ];
            Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batch.boxed(),
        ))
    }
}
