//! `laker put`: streams a Parquet, CSV or Arrow file into a dataset with
//! DoPut (path descriptor, mode and upload id in headers); prints the
//! server's answer.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow_flight::FlightDescriptor;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use futures::TryStreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Failure, Result};
use crate::output::Format;
use crate::session::Session;

type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// Opens `path` as a stream of batches, by its extension.
fn read(path: &Path) -> Result<(SchemaRef, Batches)> {
    let open = || {
        File::open(path).map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))
    };
    match Format::of_path(path)? {
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(open()?)?.build()?;
            Ok((reader.schema(), Box::new(reader)))
        }
        Format::Csv => {
            let (schema, _) = arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(open()?, Some(10_000))?;
            let schema = Arc::new(schema);
            let reader = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
                .with_header(true)
                .build(open()?)?;
            Ok((schema, Box::new(reader)))
        }
        Format::Arrow => {
            let reader = arrow::ipc::reader::FileReader::try_new(open()?, None)?;
            Ok((reader.schema(), Box::new(reader)))
        }
        Format::Json | Format::Table => {
            Err(Failure::new("put reads .parquet, .csv and .arrow files"))
        }
    }
}

/// Uploads `path` to `dataset` with `mode`; returns the server's answer.
pub async fn put(
    session: &Session,
    dataset: &str,
    path: &Path,
    mode: &str,
    upload_id: Option<&str>,
) -> Result<serde_json::Value> {
    let (namespace, name) = dataset
        .split_once('.')
        .ok_or_else(|| Failure::new(format!("'{dataset}' is not namespace.dataset")))?;
    let (schema, batches) = read(path)?;
    let mut client = session.client()?;
    client.add_header("x-laker-upload-mode", mode)?;
    if let Some(id) = upload_id {
        client.add_header("x-laker-upload-id", id)?;
    }
    let descriptor = FlightDescriptor::new_path(vec![namespace.into(), name.into()]);
    let data = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_flight_descriptor(Some(descriptor))
        .build(futures::stream::iter(batches).map_err(FlightError::Arrow));
    let results: Vec<_> = client.do_put(data).await?.try_collect().await?;
    let answer = results
        .first()
        .ok_or_else(|| Failure::new("the server sent no answer"))?;
    Ok(serde_json::from_slice(&answer.app_metadata)?)
}
