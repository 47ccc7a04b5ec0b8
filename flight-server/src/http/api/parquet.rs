//! Parquet encoded a row group at a time, its columns spread over the
//! blocking pool, while the scan fills the next row group: one download
//! uses every core for encoding instead of one async worker. At most two
//! row groups are held (one filling, one encoding), so memory stays bounded.

use std::sync::Arc;

use arrow::array::{RecordBatch, new_empty_array};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::Compression;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use tokio::task::JoinHandle;

use super::sink::Sink;

/// A row group is closed once it holds this many rows...
const ROW_GROUP_ROWS: usize = 256 * 1024;
/// ...or this much Arrow data (shared view buffers may count more than once,
/// which only makes row groups smaller).
const ROW_GROUP_BYTES: usize = 24 << 20;

/// The encoded column chunks of one part of a row group, by field index.
type Part = Vec<(usize, Vec<ArrowColumnChunk>)>;

/// A field's index with the writers of its leaf columns.
type FieldWriters = (usize, Vec<ArrowColumnWriter>);

/// Encodes the batches of one download as a Parquet file.
pub struct ParquetEncoder {
    writer: Option<SerializedFileWriter<Sink>>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf (Parquet) columns of each field.
    leaves: Vec<usize>,
    filling: Vec<RecordBatch>,
    filled_rows: usize,
    filled_bytes: usize,
    encoding: Vec<JoinHandle<Result<Part>>>,
    row_groups: usize,
    parts: usize,
}

impl ParquetEncoder {
    /// An encoder of `schema` writing into `sink`, its pages compressed
    /// with `compression`.
    pub fn new(schema: &SchemaRef, sink: Sink, compression: Compression) -> Result<Self> {
        // Statistics per column chunk (no page index): a downloaded file is
        // read whole.
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_statistics_enabled(EnabledStatistics::Chunk);
        // Dictionaries for strings only: numbers rarely repeat enough, and a
        // dictionary is built (up to its page limit) before it is given up.
        for field in schema.fields() {
            if !is_string(field.data_type()) {
                props = props
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
        let props = props.build();
        let (writer, factory) = ArrowWriter::try_new(sink, Arc::clone(schema), Some(props))?
            .into_serialized_writer()?;
        let leaves = schema
            .fields()
            .iter()
            .map(|f| compute_leaves(f, &new_empty_array(f.data_type())).map(|l| l.len()))
            .collect::<Result<Vec<_>>>()?;
        let parts = std::thread::available_parallelism()
            .map_or(2, usize::from)
            .clamp(1, leaves.len().max(1));
        Ok(Self {
            writer: Some(writer),
            factory,
            schema: Arc::clone(schema),
            leaves,
            filling: Vec::new(),
            filled_rows: 0,
            filled_bytes: 0,
            encoding: Vec::new(),
            row_groups: 0,
            parts,
        })
    }

    /// Takes `batch`; once a row group is full, writes the one encoded
    /// before it and starts encoding this one.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.filled_rows += batch.num_rows();
        self.filled_bytes += batch.get_array_memory_size();
        self.filling.push(batch.clone());
        if self.filled_rows >= ROW_GROUP_ROWS || self.filled_bytes >= ROW_GROUP_BYTES {
            self.append_encoded().await?;
            self.start_encoding()?;
        }
        Ok(())
    }

    /// Writes what remains and the footer.
    pub async fn finish(&mut self) -> Result<()> {
        self.append_encoded().await?;
        if !self.filling.is_empty() {
            self.start_encoding()?;
            self.append_encoded().await?;
        }
        if let Some(writer) = self.writer.take() {
            writer.close()?;
        }
        Ok(())
    }

    /// Hands the filled row group's columns to the blocking pool, in
    /// `parts` tasks balanced by the columns' sizes.
    fn start_encoding(&mut self) -> Result<()> {
        let batches = Arc::new(std::mem::take(&mut self.filling));
        self.filled_rows = 0;
        self.filled_bytes = 0;
        let mut writers = self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter();
        self.row_groups += 1;
        // Each field with its writers and size, largest first, each given
        // to the least loaded part.
        let mut fields: Vec<(usize, usize, Vec<ArrowColumnWriter>)> = self
            .leaves
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let size = batches
                    .iter()
                    .map(|b| b.column(i).get_array_memory_size())
                    .sum();
                (i, size, writers.by_ref().take(n).collect())
            })
            .collect();
        fields.sort_by_key(|(_, size, _)| std::cmp::Reverse(*size));
        let mut parts: Vec<(usize, Vec<FieldWriters>)> =
            (0..self.parts).map(|_| (0, Vec::new())).collect();
        for (i, size, writers) in fields {
            if let Some(part) = parts.iter_mut().min_by_key(|(load, _)| *load) {
                part.0 += size;
                part.1.push((i, writers));
            }
        }
        for (_, fields) in parts.into_iter().filter(|(_, f)| !f.is_empty()) {
            let batches = Arc::clone(&batches);
            let schema = Arc::clone(&self.schema);
            self.encoding.push(tokio::task::spawn_blocking(move || {
                encode_part(&schema, &batches, fields)
            }));
        }
        Ok(())
    }

    /// Waits for the row group being encoded and appends it to the file.
    async fn append_encoded(&mut self) -> Result<()> {
        if self.encoding.is_empty() {
            return Ok(());
        }
        let mut chunks = Vec::new();
        for task in std::mem::take(&mut self.encoding) {
            let part = task.await.map_err(|e| {
                ParquetError::General(format!("a Parquet encoder task failed: {e}"))
            })??;
            chunks.extend(part);
        }
        chunks.sort_by_key(|(i, _)| *i);
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| ParquetError::General("the Parquet file is closed".into()))?;
        let mut row_group = writer.next_row_group()?;
        for chunk in chunks.into_iter().flat_map(|(_, c)| c) {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }
}

/// Whether values of `data_type` are strings (or binaries).
fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Dictionary(..)
    )
}

/// Encodes some fields' columns of a row group's batches.
fn encode_part(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    fields: Vec<FieldWriters>,
) -> Result<Part> {
    fields
        .into_iter()
        .map(|(i, mut writers)| {
            let field = schema.field(i);
            for batch in batches {
                for (writer, leaf) in writers
                    .iter_mut()
                    .zip(compute_leaves(field, batch.column(i))?)
                {
                    writer.write(&leaf)?;
                }
            }
            let chunks = writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<Result<Vec<_>>>()?;
            Ok((i, chunks))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, ListArray, StringViewArray, StructArray};
    use arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(schema: &SchemaRef, from: i64, rows: i64) -> RecordBatch {
        let ids = Int64Array::from_iter_values(from..from + rows);
        let names =
            StringViewArray::from_iter_values((from..from + rows).map(|i| format!("name {i}")));
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>(
            (from..from + rows).map(|i| (i % 3 != 0).then(|| vec![Some(i), None])),
        );
        let pairs = StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int64, false)),
                Arc::new(Int64Array::from_iter_values(
                    (from..from + rows).map(|i| -i),
                )) as _,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8View, false)),
                Arc::new(names.clone()) as _,
            ),
        ]);
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                Arc::new(ids),
                Arc::new(names),
                Arc::new(lists),
                Arc::new(pairs),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn row_groups_encoded_in_parallel_read_back_in_order() {
        let item = Arc::new(Field::new_list_field(DataType::Int64, true));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8View, false),
            Field::new("list", DataType::List(item), true),
            Field::new(
                "pair",
                DataType::Struct(Fields::from(vec![
                    Field::new("a", DataType::Int64, false),
                    Field::new("b", DataType::Utf8View, false),
                ])),
                false,
            ),
        ]));
        let sink = Sink::default();
        let mut encoder = ParquetEncoder::new(&schema, sink.clone(), Compression::SNAPPY).unwrap();
        let (batches, rows) = (70, 10_000);
        for i in 0..batches {
            encoder
                .write(&batch(&schema, i * rows, rows))
                .await
                .unwrap();
        }
        encoder.write(&batch(&schema, 0, 0)).await.unwrap();
        encoder.finish().await.unwrap();

        let file = Bytes::from(sink.take());
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let groups = reader.metadata().num_row_groups();
        assert!(
            (3..=8).contains(&groups),
            "{groups} row groups for 700 k rows"
        );
        assert_eq!(reader.schema().fields(), schema.fields());
        let mut next = 0i64;
        for read in reader.build().unwrap() {
            let read = read.unwrap();
            let expected = batch(&schema, next, read.num_rows() as i64);
            assert_eq!(read, expected);
            next += read.num_rows() as i64;
        }
        assert_eq!(next, batches * rows);
    }

    #[tokio::test]
    async fn an_empty_download_is_a_valid_file() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let sink = Sink::default();
        let mut encoder = ParquetEncoder::new(&schema, sink.clone(), Compression::SNAPPY).unwrap();
        encoder.finish().await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(sink.take())).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(reader.schema().field(0).name(), "id");
        assert!(reader.build().unwrap().next().is_none());
    }
}
