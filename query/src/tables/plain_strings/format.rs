//! DataFusion's Parquet format, reading plain strings where files' Arrow
//! schema hints ask for views.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{Result, Statistics, internal_datafusion_err};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::{FileFormat, FileMeta};
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::metadata::{
    DFParquetMetadata, ordering_from_parquet_metadata,
};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSinkConfig, FileSource, ParquetFileReaderFactory,
    ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr::{LexOrdering, LexRequirement};
use datafusion::physical_plan::ExecutionPlan;
use object_store::{ObjectMeta, ObjectStore};
use parquet::file::metadata::ParquetMetaData;

use super::hint::plain_metadata;
use super::reader::PlainStringsReaderFactory;
use super::types::plain_schema;

/// [`ParquetFormat`] whose inferred schema has no view types, whose
/// statistics are read from the files' metadata with plain hints (so their
/// string values have the table's types), and whose scans read through
/// [`PlainStringsReaderFactory`]. Everything else is the inner format's:
/// options, pruning, page index, bloom filters, metadata size hint, the
/// metadata cache, writing.
#[derive(Debug)]
pub(super) struct PlainStringsFormat {
    inner: ParquetFormat,
}

impl PlainStringsFormat {
    pub(super) fn new(inner: ParquetFormat) -> Self {
        Self { inner }
    }

    /// The metadata of `object` (through the session's metadata cache, as
    /// the inner format reads it) with a plain hint.
    async fn fetch_plain_metadata(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        object: &ObjectMeta,
    ) -> Result<Arc<ParquetMetaData>> {
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let metadata = DFParquetMetadata::new(store, object)
            .with_metadata_size_hint(self.inner.metadata_size_hint())
            .with_file_metadata_cache(Some(cache))
            .fetch_metadata()
            .await?;
        Ok(plain_metadata(metadata))
    }
}

#[async_trait::async_trait]
impl FileFormat for PlainStringsFormat {
    fn get_ext(&self) -> String {
        self.inner.get_ext()
    }

    fn get_ext_with_compression(
        &self,
        file_compression_type: &FileCompressionType,
    ) -> Result<String> {
        self.inner.get_ext_with_compression(file_compression_type)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.inner.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        let schema = self.inner.infer_schema(state, store, objects).await?;
        Ok(Arc::new(plain_schema(&schema)))
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        let metadata = self.fetch_plain_metadata(state, store, object).await?;
        DFParquetMetadata::statistics_from_parquet_metadata(&metadata, &table_schema)
    }

    async fn infer_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Option<LexOrdering>> {
        // Sorting columns are named by the Parquet schema: no hint involved.
        self.inner
            .infer_ordering(state, store, table_schema, object)
            .await
    }

    async fn infer_stats_and_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<FileMeta> {
        let metadata = self.fetch_plain_metadata(state, store, object).await?;
        let statistics =
            DFParquetMetadata::statistics_from_parquet_metadata(&metadata, &table_schema)?;
        let ordering = ordering_from_parquet_metadata(&metadata, &table_schema)?;
        Ok(FileMeta::new(statistics).with_ordering(ordering))
    }

    async fn create_physical_plan(
        &self,
        state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.create_physical_plan(state, conf).await?;
        with_plain_reader(state, &plan)
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner
            .create_writer_physical_plan(input, state, conf, order_requirements)
            .await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.inner.file_source(table_schema)
    }
}

/// The inner format's scan `plan`, its Parquet source reading through a
/// [`PlainStringsReaderFactory`] over the reader factory it had (DataFusion's
/// cached one).
fn with_plain_reader(
    state: &dyn Session,
    plan: &Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let config = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
        .ok_or_else(|| internal_datafusion_err!("a Parquet scan is not a file scan"))?;
    let source = config
        .file_source()
        .downcast_ref::<ParquetSource>()
        .ok_or_else(|| internal_datafusion_err!("a Parquet scan has no Parquet source"))?;
    let inner: Arc<dyn ParquetFileReaderFactory> = match source.parquet_file_reader_factory() {
        Some(factory) => Arc::clone(factory),
        None => {
            let runtime = state.runtime_env();
            let store = runtime.object_store(config.object_store_url.clone())?;
            let cache = runtime.cache_manager.get_file_metadata_cache();
            Arc::new(CachedParquetFileReaderFactory::new(store, cache))
        }
    };
    let source = source
        .clone()
        .with_parquet_file_reader_factory(Arc::new(PlainStringsReaderFactory::new(inner)));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .build();
    Ok(DataSourceExec::from_data_source(config))
}
