//! The tables behind the built-in `system` datasets, read from the catalog
//! database on every scan, page by page; downloadable like any dataset
//! (grants, filters, masks).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{FutureExt, StreamExt};
use laker_catalog::audit::{AuditRecord, UsageRow};
use laker_catalog::{Catalog, DatasetName};

use super::columns::{Column, Columns};
use super::error::{Result, TableError};
use super::paged::PagedTable;
use super::system_ingest::{ingest_files_table, ingest_runs_table};
use super::system_requests::access_requests_table;

/// Rows read from the database per page (and per record batch).
const PAGE_ROWS: i64 = 8192;

/// The table behind a built-in dataset.
pub fn system_table(catalog: &Catalog, name: &DatasetName) -> Result<Arc<dyn TableProvider>> {
    let partition: Arc<dyn PartitionStream> = match name.dataset.as_str() {
        "audit" => audit_table().partition(catalog, PAGE_ROWS),
        "usage" => Arc::new(UsagePartition {
            catalog: catalog.clone(),
            columns: Arc::new(Columns::new(usage_columns())),
        }),
        "access_requests" => access_requests_table().partition(catalog, PAGE_ROWS),
        "ingest_runs" => ingest_runs_table().partition(catalog, PAGE_ROWS),
        "ingest_files" => ingest_files_table().partition(catalog, PAGE_ROWS),
        _ => return Err(TableError::not_found(name)),
    };
    let table = StreamingTable::try_new(Arc::clone(partition.schema()), vec![partition])?;
    Ok(Arc::new(table))
}

/// Schema of `system.audit`.
pub fn audit_schema() -> SchemaRef {
    Arc::clone(Columns::new(audit_columns()).schema())
}

/// Schema of `system.usage`.
pub fn usage_schema() -> SchemaRef {
    Arc::clone(Columns::new(usage_columns()).schema())
}

/// `system.audit`, read from audit records and their ids.
fn audit_table() -> PagedTable<(i64, AuditRecord)> {
    PagedTable::new(
        audit_columns(),
        |c, after, n| async move { c.audit_page(after, n).await }.boxed(),
        |(id, _)| *id,
    )
}

/// Columns of `system.audit`.
fn audit_columns() -> Vec<Column<(i64, AuditRecord)>> {
    type C = Column<(i64, AuditRecord)>;
    vec![
        C::time("time", |(_, r)| r.time),
        C::text("principal", |(_, r)| &r.principal),
        C::text("source", |(_, r)| &r.source),
        C::text("action", |(_, r)| &r.action),
        C::text("dataset", |(_, r)| &r.dataset),
        C::text("detail", |(_, r)| &r.detail),
        C::int64("rows", |(_, r)| r.rows),
        C::int64("bytes", |(_, r)| r.bytes),
        C::int64("duration_ms", |(_, r)| r.duration_ms),
        C::text("outcome", |(_, r)| &r.outcome),
        C::text("message", |(_, r)| &r.message),
    ]
}

/// Columns of `system.usage`.
fn usage_columns() -> Vec<Column<UsageRow>> {
    type C = Column<UsageRow>;
    vec![
        C::date("day", |r| i32::try_from(r.day).unwrap_or(i32::MAX)),
        C::text("principal", |r| &r.principal),
        C::text("dataset", |r| &r.dataset),
        C::int64("downloads", |r| r.downloads),
        C::int64("rows", |r| r.rows),
        C::int64("bytes", |r| r.bytes),
    ]
}

#[derive(Debug)]
struct UsagePartition {
    catalog: Catalog,
    columns: Arc<Columns<UsageRow>>,
}

impl PartitionStream for UsagePartition {
    fn schema(&self) -> &SchemaRef {
        self.columns.schema()
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let columns = Arc::clone(&self.columns);
        let batch = futures::stream::once(async move {
            let rows = catalog
                .usage()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            columns.batch(&rows)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(self.columns.schema()),
            batch.boxed(),
        ))
    }
}
