//! Plain file datasets (Parquet, CSV, NDJSON, Arrow IPC) as DataFusion
//! `ListingTable`s, with hive-style partition columns.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};

use super::error::{Result, TableError};
use laker_catalog::{Dataset, DatasetFormat, PartitionType};

/// Lists the dataset's files and infers its schema.
pub(crate) async fn build_table(
    session: &dyn Session,
    dataset: &Dataset,
    url: ListingTableUrl,
) -> Result<Arc<dyn TableProvider>> {
    let format: Arc<dyn FileFormat> = match dataset.format {
        DatasetFormat::Parquet => super::plain_strings::parquet_format(session),
        DatasetFormat::Csv => {
            let csv = dataset.options.csv.clone().unwrap_or_default();
            Arc::new(
                CsvFormat::default()
                    .with_has_header(csv.has_header)
                    .with_delimiter(
                        csv.delimiter_byte()
                            .map_err(|e| TableError::invalid(e.to_string()))?,
                    ),
            )
        }
        DatasetFormat::Json => Arc::new(JsonFormat::default()),
        DatasetFormat::Arrow => Arc::new(ArrowFormat),
        DatasetFormat::Delta | DatasetFormat::System => {
            return Err(TableError::invalid(format!(
                "{} datasets are not read as file listings",
                dataset.format.as_str()
            )));
        }
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
    let schema = match dataset.format {
        DatasetFormat::Arrow => {
            let store = session.runtime_env().object_store(&url)?;
            super::arrow_ipc::infer_schema(session, &store, &url, &options.file_extension).await?
        }
        _ => options.infer_schema(session, &url).await?,
    };
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
