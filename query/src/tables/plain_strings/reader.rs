//! File readers whose metadata carries a plain Arrow schema hint.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::common::Result;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::ParquetMetaData;

use super::hint::plain_metadata;

/// Makes the readers of `inner` (DataFusion's, with its metadata cache)
/// whose metadata's Arrow schema hint has no view types; bytes, page
/// indexes and bloom filters are read by `inner`'s readers as they are.
#[derive(Debug)]
pub(super) struct PlainStringsReaderFactory {
    inner: Arc<dyn ParquetFileReaderFactory>,
}

impl PlainStringsReaderFactory {
    pub(super) fn new(inner: Arc<dyn ParquetFileReaderFactory>) -> Self {
        Self { inner }
    }
}

impl ParquetFileReaderFactory for PlainStringsReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        partitioned_file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let inner = self.inner.create_reader(
            partition_index,
            partitioned_file,
            metadata_size_hint,
            metrics,
        )?;
        Ok(Box::new(PlainStringsReader { inner }))
    }
}

/// A reader that hands out its file's metadata with a plain hint.
struct PlainStringsReader {
    inner: Box<dyn AsyncFileReader + Send>,
}

impl AsyncFileReader for PlainStringsReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let metadata = self.inner.get_metadata(options);
        async move { metadata.await.map(plain_metadata) }.boxed()
    }
}
