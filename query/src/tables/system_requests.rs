//! The table behind `system.access_requests`: every access request and its
//! decision, read from the catalog database page by page on every scan.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::streaming::PartitionStream;
use laker_catalog::{AccessRequest, Catalog};

use super::paged::paged;

/// The partition reading `system.access_requests`, `page_rows` requests per query.
pub(super) fn access_requests_partition(
    catalog: &Catalog,
    page_rows: i64,
) -> Arc<dyn PartitionStream> {
    Arc::new(RequestsPartition {
        catalog: catalog.clone(),
        page_rows,
        schema: access_requests_schema(),
    })
}

/// Schema of `system.access_requests`; a request not yet decided has no
/// `decided_by`, `decided_at` or `note`, and has a `dataset` or a `need`.
fn access_requests_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let time = |name: &str, nullable: bool| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            nullable,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        text("requester", false),
        text("dataset", true),
        text("need", true),
        text("reason", false),
        text("status", false),
        time("created_at", false),
        text("decided_by", true),
        time("decided_at", true),
        text("note", true),
    ]))
}

#[derive(Debug)]
struct RequestsPartition {
    catalog: Catalog,
    page_rows: i64,
    schema: SchemaRef,
}

impl PartitionStream for RequestsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let fetch = move |after, rows| {
            let catalog = catalog.clone();
            async move {
                catalog
                    .access_request_page(after, rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            }
        };
        paged(
            Arc::clone(&self.schema),
            self.page_rows,
            fetch,
            |r: &AccessRequest| r.id,
            requests_batch,
        )
    }
}

fn requests_batch(
    schema: &SchemaRef,
    requests: &[AccessRequest],
) -> Result<RecordBatch, DataFusionError> {
    let text = |f: fn(&AccessRequest) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(requests.iter().map(f)))
    };
    let optional = |f: fn(&AccessRequest) -> Option<&str>| -> ArrayRef {
        Arc::new(requests.iter().map(f).collect::<StringArray>())
    };
    let time = |f: fn(&AccessRequest) -> Option<i64>| -> ArrayRef {
        Arc::new(
            requests
                .iter()
                .map(f)
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        )
    };
    let columns = vec![
        Arc::new(Int64Array::from_iter_values(requests.iter().map(|r| r.id))) as ArrayRef,
        text(|r| &r.requester),
        optional(|r| r.dataset.as_deref()),
        optional(|r| r.need.as_deref()),
        text(|r| &r.reason),
        text(|r| r.status.as_str()),
        time(|r| Some(r.created_at)),
        optional(|r| r.decided_by.as_deref()),
        time(|r| r.decided_at),
        optional(|r| r.note.as_deref()),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
