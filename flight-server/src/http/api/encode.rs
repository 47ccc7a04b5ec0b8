//! Record batches to the bytes of a file format, a chunk at a time, so a
//! download streams without holding the file: Arrow IPC stream, Parquet
//! (row groups encoded in parallel, [`super::parquet`]), CSV with a header,
//! JSON lines.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

use super::compression::Codec;
use super::format::Format;
use super::parquet::ParquetEncoder;
use super::sink::Sink;
use crate::wire::frame::{to_wire, wire_schema};

enum Writer {
    /// With the schema batches are converted to (plain strings for views).
    Arrow(Box<arrow::ipc::writer::StreamWriter<Sink>>, SchemaRef),
    Parquet(Box<ParquetEncoder>),
    Csv(Box<arrow::csv::Writer<Sink>>),
    Jsonl(arrow::json::LineDelimitedWriter<Sink>),
}

/// Encodes the batches of one download.
pub struct Encoder {
    writer: Option<Writer>,
    sink: Sink,
}

impl Encoder {
    /// An encoder of `schema` in `format`, compressed with `codec` (see
    /// [`Codec::parse`] for what each format takes).
    pub fn new(format: Format, schema: &SchemaRef, codec: Codec) -> Result<Self, ArrowError> {
        let sink = Sink::default();
        let writer = match format {
            Format::Arrow => {
                let wire = Arc::new(wire_schema(schema));
                let options = arrow::ipc::writer::IpcWriteOptions::default()
                    .try_with_compression(codec.ipc())?;
                let writer = arrow::ipc::writer::StreamWriter::try_new_with_options(
                    sink.clone(),
                    &wire,
                    options,
                )?;
                Writer::Arrow(Box::new(writer), wire)
            }
            Format::Parquet => Writer::Parquet(Box::new(
                ParquetEncoder::new(schema, sink.clone(), codec.parquet())
                    .map_err(parquet_error)?,
            )),
            Format::Csv => Writer::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(sink.clone()),
            )),
            Format::Jsonl => Writer::Jsonl(arrow::json::LineDelimitedWriter::new(sink.clone())),
        };
        Ok(Self {
            writer: Some(writer),
            sink,
        })
    }

    /// Encodes `batch`; returns the bytes ready to send (maybe none yet).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
        match self.writer.as_mut() {
            Some(Writer::Arrow(w, wire)) => w.write(&to_wire(batch, wire)?)?,
            Some(Writer::Parquet(w)) => w.write(batch).await.map_err(parquet_error)?,
            Some(Writer::Csv(w)) => w.write(batch)?,
            Some(Writer::Jsonl(w)) => w.write(batch)?,
            None => {}
        }
        Ok(self.sink.take())
    }

    /// Ends the file (footers, end-of-stream marker); the last bytes.
    pub async fn finish(&mut self) -> Result<Vec<u8>, ArrowError> {
        match self.writer.take() {
            Some(Writer::Arrow(mut w, _)) => w.finish()?,
            Some(Writer::Parquet(mut w)) => w.finish().await.map_err(parquet_error)?,
            Some(Writer::Csv(_)) | None => {}
            Some(Writer::Jsonl(mut w)) => w.finish()?,
        }
        Ok(self.sink.take())
    }
}

fn parquet_error(e: parquet::errors::ParquetError) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use bytes::Bytes;

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,b"), None])),
            ],
        )
        .unwrap()
    }

    async fn encode(format: Format) -> Vec<u8> {
        encode_with(format, Codec::parse(None, format).unwrap()).await
    }

    async fn encode_with(format: Format, codec: Codec) -> Vec<u8> {
        let b = batch();
        let mut encoder = Encoder::new(format, &b.schema(), codec).unwrap();
        let mut out = encoder.write(&b).await.unwrap();
        out.extend(encoder.write(&b).await.unwrap());
        out.extend(encoder.finish().await.unwrap());
        out
    }

    #[tokio::test]
    async fn every_format_round_trips() {
        let csv = String::from_utf8(encode(Format::Csv).await).unwrap();
        assert_eq!(csv, "id,name\n1,\"a,b\"\n2,\n1,\"a,b\"\n2,\n");

        let jsonl = String::from_utf8(encode(Format::Jsonl).await).unwrap();
        assert_eq!(jsonl.lines().count(), 4);
        assert_eq!(jsonl.lines().next().unwrap(), r#"{"id":1,"name":"a,b"}"#);

        let ipc = encode(Format::Arrow).await;
        let reader = arrow::ipc::reader::StreamReader::try_new(ipc.as_slice(), None).unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 4);

        let parquet = Bytes::from(encode(Format::Parquet).await);
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(parquet, 1024).unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 4);
        assert_eq!(batches[0].schema().field(1).name(), "name");
    }

    #[tokio::test]
    async fn compressed_files_read_back() {
        for codec in [Codec::None, Codec::Snappy, Codec::Zstd, Codec::Lz4] {
            let parquet = Bytes::from(encode_with(Format::Parquet, codec).await);
            let reader = parquet::file::reader::SerializedFileReader::new(parquet.clone()).unwrap();
            use parquet::file::reader::FileReader;
            let column = reader.metadata().row_group(0).column(0).compression();
            assert_eq!(column, codec.parquet(), "{codec:?}");
            let rows: usize =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(parquet, 1024)
                    .unwrap()
                    .map(|b| b.unwrap().num_rows())
                    .sum();
            assert_eq!(rows, 4, "{codec:?}");
        }
        for codec in [Codec::Lz4, Codec::Zstd] {
            let ipc = encode_with(Format::Arrow, codec).await;
            let reader = arrow::ipc::reader::StreamReader::try_new(ipc.as_slice(), None).unwrap();
            let batches: Vec<_> = reader.map(Result::unwrap).collect();
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 4);
            assert_eq!(batches[0], batch(), "{codec:?}");
        }
    }
}
