//! A system dataset read from the catalog page by page (keyset
//! pagination): one bounded page per batch, fetched only when the scan
//! asks for the next.

use std::future::Future;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// The batches of rows `fetch(after_id, page_rows)` returns, page after
/// page, each page made a batch by `batch`; `id` is a row's key.
pub(super) fn paged<T, F, Fut>(
    schema: SchemaRef,
    page_rows: i64,
    fetch: F,
    id: fn(&T) -> i64,
    batch: fn(&SchemaRef, &[T]) -> Result<RecordBatch, DataFusionError>,
) -> SendableRecordBatchStream
where
    T: Send + 'static,
    F: Fn(i64, i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<T>, DataFusionError>> + Send + 'static,
{
    let fetch = Arc::new(fetch);
    let page_schema = Arc::clone(&schema);
    let pages = futures::stream::try_unfold(Some(0i64), move |after| {
        let fetch = Arc::clone(&fetch);
        let schema = Arc::clone(&page_schema);
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let page = fetch(after, page_rows).await?;
            let Some(last) = page.last().map(id) else {
                return Ok(None);
            };
            let next = (page.len() as i64 == page_rows).then_some(last);
            Ok(Some((batch(&schema, &page)?, next)))
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, pages.boxed()))
}
