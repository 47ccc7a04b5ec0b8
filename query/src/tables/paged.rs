//! A system dataset read from the catalog page by page (keyset
//! pagination): one bounded page per batch, fetched only when the scan
//! asks for the next.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use futures::future::BoxFuture;
use laker_catalog::Catalog;

use super::columns::{Column, Columns};

/// Reads one page from the catalog: the rows whose key is above the first
/// number, at most the second number of them, in key order.
pub(super) type FetchPage<R> =
    fn(Catalog, i64, i64) -> BoxFuture<'static, laker_catalog::Result<Vec<R>>>;

/// A system table of rows `R` read from the catalog page by page.
pub(super) struct PagedTable<R> {
    columns: Columns<R>,
    fetch: FetchPage<R>,
    id: fn(&R) -> i64,
}

impl<R> PagedTable<R> {
    /// The table of `columns` whose rows `fetch` reads; `id` is a row's key.
    pub(super) fn new(columns: Vec<Column<R>>, fetch: FetchPage<R>, id: fn(&R) -> i64) -> Self {
        Self {
            columns: Columns::new(columns),
            fetch,
            id,
        }
    }
}

impl<R: Send + 'static> PagedTable<R> {
    /// The partition reading this table from `catalog`, `page_rows` rows per
    /// query.
    pub(super) fn partition(self, catalog: &Catalog, page_rows: i64) -> Arc<dyn PartitionStream> {
        Arc::new(PagedPartition {
            catalog: catalog.clone(),
            page_rows,
            table: Arc::new(self),
        })
    }
}

struct PagedPartition<R> {
    catalog: Catalog,
    page_rows: i64,
    table: Arc<PagedTable<R>>,
}

impl<R> fmt::Debug for PagedPartition<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagedPartition")
            .field("page_rows", &self.page_rows)
            .field("columns", &self.table.columns)
            .finish()
    }
}

impl<R: Send + 'static> PartitionStream for PagedPartition<R> {
    fn schema(&self) -> &SchemaRef {
        self.table.columns.schema()
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let catalog = self.catalog.clone();
        let page_rows = self.page_rows;
        let page_table = Arc::clone(&self.table);
        let pages = futures::stream::try_unfold(Some(0i64), move |after| {
            let catalog = catalog.clone();
            let table = Arc::clone(&page_table);
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let page = (table.fetch)(catalog, after, page_rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                let Some(last) = page.last().map(table.id) else {
                    return Ok(None);
                };
                let next = (page.len() as i64 == page_rows).then_some(last);
                Ok(Some((table.columns.batch(&page)?, next)))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(self.schema()),
            pages.boxed(),
        ))
    }
}
