//! Datasets as DataFusion tables over the lake's object stores.
//!
//! Resolving a dataset lists its files and reads Parquet footers to infer the
//! schema; the result is cached per dataset revision so later requests plan
//! without touching the object store for metadata.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::DataType;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};

use crate::error::{CatalogError, Result};
use crate::model::{Dataset, DatasetFormat, PartitionType};
use crate::names::DatasetName;

/// A resolved table and the dataset revision it was built from.
struct CachedTable {
    revision: i64,
    table: Arc<dyn TableProvider>,
}

/// Turns catalog datasets into DataFusion [`TableProvider`]s, caching each by
/// dataset revision.
#[derive(Default)]
pub struct TableResolver {
    cache: RwLock<HashMap<DatasetName, CachedTable>>,
}

impl std::fmt::Debug for TableResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableResolver").finish_non_exhaustive()
    }
}

impl TableResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table for `dataset`, built on first use (or after the dataset
    /// changed) and cached afterwards.
    pub async fn table(
        &self,
        session: &dyn Session,
        dataset: &Dataset,
    ) -> Result<Arc<dyn TableProvider>> {
        if let Some(table) = self.cached(dataset) {
            return Ok(table);
        }
        let table = build_table(session, dataset).await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(
                dataset.name.clone(),
                CachedTable {
                    revision: dataset.revision,
                    table: Arc::clone(&table),
                },
            );
        }
        Ok(table)
    }

    /// Forgets the cached table of `name`.
    pub fn invalidate(&self, name: &DatasetName) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(name);
        }
    }

    fn cached(&self, dataset: &Dataset) -> Option<Arc<dyn TableProvider>> {
        let cache = self.cache.read().ok()?;
        let entry = cache.get(&dataset.name)?;
        (entry.revision == dataset.revision).then(|| Arc::clone(&entry.table))
    }
}

async fn build_table(session: &dyn Session, dataset: &Dataset) -> Result<Arc<dyn TableProvider>> {
    let url = ListingTableUrl::parse(&dataset.location).map_err(|e| {
        CatalogError::invalid(format!("invalid location of dataset {}: {e}", dataset.name))
    })?;
    if session.runtime_env().object_store(&url).is_err() {
        return Err(CatalogError::StoreNotConfigured(format!(
            "dataset '{}' is on {}, a store this server has not configured",
            dataset.name,
            url.object_store().as_str()
        )));
    }
    let format: Arc<dyn FileFormat> = match dataset.format {
        DatasetFormat::Parquet => {
            Arc::new(ParquetFormat::default().with_options(session.table_options().parquet.clone()))
        }
        DatasetFormat::Csv => {
            let csv = dataset.options.csv.clone().unwrap_or_default();
            Arc::new(
                CsvFormat::default()
                    .with_has_header(csv.has_header)
                    .with_delimiter(csv.delimiter_byte()?),
            )
        }
        DatasetFormat::Json => Arc::new(JsonFormat::default()),
        DatasetFormat::Arrow => Arc::new(ArrowFormat),
    };
    let extension = dataset
        .options
        .file_extension
        .clone()
        .unwrap_or_else(|| dataset.format.default_extension().to_string());
    let options = ListingOptions::new(format).with_file_extension(extension);
    let partition_cols = match &dataset.options.partition_columns {
        Some(cols) => cols
            .iter()
            .map(|c| (c.name.clone(), partition_type(c.data_type)))
            .collect(),
        None if url.is_collection() => options
            .infer_partitions(session, &url)
            .await?
            .into_iter()
            .map(|name| (name, DataType::Utf8))
            .collect(),
        None => Vec::new(),
    };
    let options = options.with_table_partition_cols(partition_cols);
    let schema = options.infer_schema(session, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn partition_type(t: PartitionType) -> DataType {
    match t {
        PartitionType::String => DataType::Utf8,
        PartitionType::Int32 => DataType::Int32,
        PartitionType::Int64 => DataType::Int64,
        PartitionType::Date => DataType::Date32,
    }
}
