//! Reading one dropped file with DataFusion's readers (CSV, newline-
//! delimited JSON, Parquet): its schema as inferred, and its batches in a
//! given schema, streamed. Files are read by the object metadata the
//! listing gave (no listing caches in between), and checked unchanged
//! afterwards.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfigBuilder;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionState;
use laker_query::{QueryEngine, StorageError};
use object_store::{ObjectMeta, ObjectStoreExt};

use super::job::{JobSpec, SourceFormat};
use super::source::SourceAt;
use crate::error::Result;

/// Reads the files of one job's source.
#[derive(Debug, Clone)]
pub struct Reader {
    engine: Arc<QueryEngine>,
    source: SourceAt,
    format: Arc<dyn FileFormat>,
}

impl Reader {
    /// A reader of `spec`'s files at `source`.
    pub fn new(engine: &Arc<QueryEngine>, source: SourceAt, spec: &JobSpec) -> Result<Self> {
        let state = engine.state();
        let format: Arc<dyn FileFormat> = match source.format {
            SourceFormat::Csv => {
                let csv = spec.csv();
                Arc::new(
                    CsvFormat::default()
                        .with_has_header(csv.has_header)
                        .with_delimiter(csv.delimiter_byte()?),
                )
            }
            SourceFormat::Json => Arc::new(JsonFormat::default()),
            // Plain string types: they are what a Delta table stores.
            SourceFormat::Parquet => Arc::new(
                ParquetFormat::default()
                    .with_options(state.table_options().parquet.clone())
                    .with_force_view_types(false),
            ),
        };
        Ok(Self {
            engine: Arc::clone(engine),
            source,
            format,
        })
    }

    /// The source this reads.
    pub fn source(&self) -> &SourceAt {
        &self.source
    }

    /// The session files are read (and rules planned) in: the engine's.
    pub fn session(&self) -> &SessionState {
        self.engine.state()
    }

    /// The schema of `file` as its format infers it.
    pub async fn infer(&self, file: &ObjectMeta) -> DfResult<SchemaRef> {
        self.format
            .infer_schema(
                self.engine.state(),
                &self.source.store,
                std::slice::from_ref(file),
            )
            .await
    }

    /// The schema `file` (whose inferred schema is `inferred`) is read
    /// with: for text formats the columns `target` has take its types
    /// (so a whole-number column of a float table reads as floats), and
    /// columns of no inferable type read as strings; Parquet files keep
    /// their own types.
    pub fn read_schema(&self, inferred: &Schema, target: Option<&Schema>) -> SchemaRef {
        if self.source.format == SourceFormat::Parquet {
            let fields: Vec<Field> = inferred
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect();
            return Arc::new(Schema::new(fields));
        }
        let fields: Vec<Field> = inferred
            .fields()
            .iter()
            .map(|f| {
                let data_type = match target.and_then(|t| t.field_with_name(f.name()).ok()) {
                    Some(known) => known.data_type().clone(),
                    None if f.data_type() == &DataType::Null => DataType::Utf8,
                    None => f.data_type().clone(),
                };
                Field::new(f.name(), data_type, true)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The batches of `file`, read in `schema`.
    pub async fn open(
        &self,
        file: &ObjectMeta,
        schema: &SchemaRef,
    ) -> DfResult<SendableRecordBatchStream> {
        let state = self.engine.state();
        let source = self
            .format
            .file_source(TableSchema::from(Arc::clone(schema)));
        let config = FileScanConfigBuilder::new(self.source.store_url.clone(), source)
            .with_file(PartitionedFile::from(file.clone()))
            .build();
        let plan = self.format.create_physical_plan(state, config).await?;
        datafusion::physical_plan::execute_stream(plan, state.task_ctx())
    }

    /// Whether `file` is still the version listed (same size and ETag;
    /// without ETags, same object version and modification time).
    pub async fn unchanged(&self, file: &ObjectMeta) -> Result<bool> {
        match self.source.store.head(&file.location).await {
            // Listings and HEAD may give modification times at different
            // precisions: an ETag, when there is one, decides.
            Ok(now) => Ok(now.size == file.size
                && match (&file.e_tag, &now.e_tag) {
                    (Some(listed), Some(current)) => {
                        super::listing::bare_etag(listed) == super::listing::bare_etag(current)
                    }
                    _ => now.version == file.version && now.last_modified == file.last_modified,
                }),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::object_store("reading a dropped file", &e).into()),
        }
    }
}
