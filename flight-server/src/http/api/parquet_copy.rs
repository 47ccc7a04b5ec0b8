//! Parquet downloads that need no row-level work, assembled from the
//! lake's encoded column chunks: each chunk of the columns asked for is
//! fetched and appended byte for byte to a new file, which gets a footer
//! of its own; nothing is decoded or encoded. Whether a download
//! qualifies: its plan ([`laker_query::DownloadPlan::copy_source`]) and
//! its files' footers ([`super::copy_layout`]). One chunk is held at a
//! time.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use laker_query::DownloadPlan;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::basic::Compression;
use parquet::column::page::PageReader;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::writer::SerializedFileWriter;

use super::copy_layout::{CopyChunk, CopyLayout, NotCopied, layout};
use super::outlet::{Outlet, Stop};
use super::sink::Sink;
use crate::error::datafusion_status;

/// Room for what the writer buffers besides a chunk (its write buffer).
const WRITE_BUFFER: usize = 8 << 10;

/// A download to serve by copying column chunks.
#[derive(Debug)]
pub struct ParquetCopy {
    store: Arc<dyn ObjectStore>,
    layout: CopyLayout,
}

/// The copy serving `plan` (read in `task`), when it reads whole Parquet
/// files unchanged and their footers allow it, every chunk in `codec` when
/// one is asked for; `None` when the download is to be read and encoded.
pub async fn prepare(
    plan: &DownloadPlan,
    task: &TaskContext,
    codec: Option<Compression>,
) -> Option<ParquetCopy> {
    let source = plan.copy_source()?;
    let store = match task.runtime_env().object_store(&source.store) {
        Ok(store) => store,
        Err(e) => {
            tracing::debug!(error = %e, "Parquet download encoded: no store for its files");
            return None;
        }
    };
    // What the encoded path embeds too.
    let arrow = plan.schema();
    match layout(&store, &source.files, &source.columns, &arrow, codec).await {
        Ok(layout) => Some(ParquetCopy { store, layout }),
        Err(NotCopied(why)) => {
            tracing::debug!(reason = %why, "Parquet download encoded, not copied");
            None
        }
    }
}

impl ParquetCopy {
    /// The most memory the copy holds: the chunk being fetched, its copy in
    /// the file being written and the previous one still queued for the
    /// client, at their largest.
    pub fn peak_bytes(&self) -> usize {
        let largest = self
            .layout
            .files
            .iter()
            .flat_map(|f| f.row_groups.iter())
            .flat_map(|g| g.chunks.iter())
            .map(|c| c.len)
            .max()
            .unwrap_or(0);
        usize::try_from(largest)
            .unwrap_or(usize::MAX)
            .saturating_mul(3)
            .saturating_add(super::outlet::CHUNK_BYTES)
    }

    /// Writes the file into `outlet`: each row group's chunks fetched,
    /// checked and appended one at a time, the bytes handed on after each,
    /// then the footer. Rows are counted a row group at a time.
    pub async fn run(self, outlet: &mut Outlet) -> Result<(), Stop> {
        let Self { store, layout } = self;
        let sink = Sink::default();
        let mut writer = SerializedFileWriter::new(
            sink.clone(),
            Arc::clone(&layout.schema),
            Arc::clone(&layout.props),
        )
        .map_err(failed)?;
        for file in &layout.files {
            for group in &file.row_groups {
                let mut row_group = writer.next_row_group().map_err(failed)?;
                for chunk in &group.chunks {
                    let fetched = tokio::select! {
                        fetched = fetch(store.as_ref(), &file.location, chunk) => fetched?,
                        () = outlet.closed() => return Err(Stop::Cancelled("")),
                    };
                    verify_pages(&fetched, chunk, group.rows).map_err(failed)?;
                    sink.reserve(usize::try_from(chunk.len).unwrap_or(0) + WRITE_BUFFER);
                    row_group
                        .append_column(fetched.as_ref(), chunk.close_result(group.rows))
                        .map_err(failed)?;
                    drop(fetched);
                    outlet.send(sink.take()).await?;
                }
                row_group.close().map_err(failed)?;
                outlet.count_rows(group.rows);
            }
        }
        writer.close().map_err(failed)?;
        outlet.send(sink.take()).await
    }
}

/// A failure of the copy, as the client's status (a server fault is
/// logged, the client gets its reference).
fn failed(e: impl Into<DataFusionError>) -> Stop {
    Stop::Failed(datafusion_status(&e.into()))
}

/// The bytes of `chunk` of the file at `location`.
async fn fetch(
    store: &dyn ObjectStore,
    location: &Path,
    chunk: &CopyChunk,
) -> Result<Arc<FetchedChunk>, Stop> {
    let bytes = store
        .get_range(location, chunk.start..chunk.start + chunk.len)
        .await
        .map_err(failed)?;
    if bytes.len() as u64 != chunk.len {
        return Err(failed(ParquetError::General(format!(
            "a column chunk of {} bytes was read as {}",
            chunk.len,
            bytes.len()
        ))));
    }
    Ok(Arc::new(FetchedChunk {
        start: chunk.start,
        bytes,
    }))
}

/// Walks the page headers of `fetched` (nothing decompressed): they must
/// parse and fill the chunk exactly, as they do in a sound, unencrypted
/// chunk whose metadata is right.
fn verify_pages(
    fetched: &Arc<FetchedChunk>,
    chunk: &CopyChunk,
    rows: u64,
) -> Result<(), ParquetError> {
    let rows = usize::try_from(rows).unwrap_or(usize::MAX);
    let mut pages = SerializedPageReader::new(Arc::clone(fetched), &chunk.metadata, rows, None)?;
    while pages.peek_next_page()?.is_some() {
        pages.skip_next_page()?;
    }
    Ok(())
}

/// A column chunk's bytes, served at the offsets they have in their file.
struct FetchedChunk {
    start: u64,
    bytes: Bytes,
}

impl FetchedChunk {
    /// Where `len` bytes at file offset `at` are in the chunk.
    fn offset(&self, at: u64, len: usize) -> Result<usize, ParquetError> {
        at.checked_sub(self.start)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| {
                o.checked_add(len)
                    .is_some_and(|end| end <= self.bytes.len())
            })
            .ok_or_else(|| {
                ParquetError::General(format!(
                    "{len} bytes at offset {at} are outside the column chunk"
                ))
            })
    }
}

impl Length for FetchedChunk {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for FetchedChunk {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        let offset = self.offset(start, 0)?;
        Ok(self.bytes.slice(offset..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        let offset = self.offset(start, length)?;
        Ok(self.bytes.slice(offset..offset + length))
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use arrow::array::{ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch, StringArray};
    use arrow::compute::concat_batches;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
    use object_store::memory::InMemory;
    use object_store::{ObjectMeta, PutPayload};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::properties::WriterProperties;
    use tokio::sync::mpsc;

    use super::*;
    use crate::metrics::Metrics;

    fn schema(id: DataType) -> SchemaRef {
        let item = Arc::new(Field::new_list_field(DataType::Int64, true));
        Arc::new(Schema::new(vec![
            Field::new("id", id, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("tags", DataType::List(item), true),
        ]))
    }

    fn batch(schema: &SchemaRef, ids: Range<i64>) -> RecordBatch {
        let id: ArrayRef = match schema.field(0).data_type() {
            DataType::Int32 => Arc::new(Int32Array::from_iter_values(
                ids.clone().map(|i| i32::try_from(i).unwrap()),
            )),
            _ => Arc::new(Int64Array::from_iter_values(ids.clone())),
        };
        let names = StringArray::from_iter(
            ids.clone()
                .map(|i| (i % 5 != 0).then(|| format!("name {i}"))),
        );
        let tags = ListArray::from_iter_primitive::<Int64Type, _, _>(
            ids.map(|i| (i % 3 != 0).then(|| vec![Some(i), None, Some(-i)])),
        );
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![id, Arc::new(names), Arc::new(tags)],
        )
        .unwrap()
    }

    /// `batch` as a Parquet file of row groups of 100 rows, Snappy.
    fn parquet_file(batch: &RecordBatch) -> Vec<u8> {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .set_compression(Compression::SNAPPY)
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.into_inner().unwrap()
    }

    /// A store holding each batch as a file.
    async fn lake(batches: &[RecordBatch]) -> (Arc<dyn ObjectStore>, Vec<ObjectMeta>) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut files = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            let path = Path::from(format!("lake/t/part-{i}.parquet"));
            store
                .put(&path, PutPayload::from(parquet_file(batch)))
                .await
                .unwrap();
            files.push(store.head(&path).await.unwrap());
        }
        (store, files)
    }

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| c.to_string()).collect()
    }

    /// The file the copy writes, with the rows and bytes it counted.
    async fn copy(store: Arc<dyn ObjectStore>, layout: CopyLayout) -> (Bytes, u64, u64) {
        let (sender, mut receiver) = mpsc::channel(1024);
        let mut outlet = Outlet::new(sender, Arc::new(Metrics::default()));
        ParquetCopy { store, layout }
            .run(&mut outlet)
            .await
            .unwrap();
        let (rows, bytes) = outlet.counts();
        drop(outlet);
        let mut file = Vec::new();
        while let Some(chunk) = receiver.recv().await {
            file.extend_from_slice(&chunk.unwrap());
        }
        (Bytes::from(file), rows, bytes)
    }

    #[tokio::test]
    async fn two_files_copied_read_back_as_their_columns() {
        let schema = schema(DataType::Int64);
        let (first, second) = (batch(&schema, 0..250), batch(&schema, 250..420));
        let (store, files) = lake(&[first.clone(), second.clone()]).await;
        // Two of the three columns, in another order.
        let arrow = schema.project(&[2, 0]).unwrap();
        let layout = layout(&store, &files, &names(&["tags", "id"]), &arrow, None)
            .await
            .unwrap();
        let (file, rows, bytes) = copy(store, layout).await;
        assert_eq!(rows, 420);
        assert_eq!(bytes, file.len() as u64);

        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        // Row groups of 100, 100, 50 and of 100, 70 rows, as they were.
        assert_eq!(reader.metadata().num_row_groups(), 5);
        assert_eq!(reader.metadata().file_metadata().num_rows(), 420);
        assert_eq!(reader.schema().fields(), arrow.fields());
        let read: Vec<RecordBatch> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        let read = concat_batches(&Arc::new(arrow), &read).unwrap();
        let expected = concat_batches(&schema, &[first, second])
            .unwrap()
            .project(&[2, 0])
            .unwrap();
        assert_eq!(read, expected);
    }

    #[tokio::test]
    async fn files_whose_columns_differ_are_not_copied() {
        let (store, files) = lake(&[
            batch(&schema(DataType::Int64), 0..50),
            batch(&schema(DataType::Int32), 50..80),
        ])
        .await;
        let arrow = schema(DataType::Int64).project(&[0, 1]).unwrap();
        let refused = layout(&store, &files, &names(&["id", "name"]), &arrow, None)
            .await
            .unwrap_err();
        assert!(
            refused.0.contains("column 'id' would be cast"),
            "{refused:?}"
        );
        // The columns alike in both files are copied.
        let arrow = schema(DataType::Int64).project(&[1, 2]).unwrap();
        let alike = layout(&store, &files, &names(&["name", "tags"]), &arrow, None).await;
        assert_eq!(alike.unwrap().files.len(), 2);
        // A column no file has is not.
        let missing = layout(&store, &files, &names(&["nope"]), &arrow, None)
            .await
            .unwrap_err();
        assert!(missing.0.contains("nope"), "{missing:?}");
    }

    #[tokio::test]
    async fn chunks_are_copied_only_in_the_codec_asked_for_and_the_types_given() {
        let schema = schema(DataType::Int64);
        let (store, files) = lake(&[batch(&schema, 0..30)]).await;
        let arrow = schema.project(&[0, 1]).unwrap();
        let columns = names(&["id", "name"]);
        let zstd = Some(Compression::ZSTD(Default::default()));
        let refused = layout(&store, &files, &columns, &arrow, zstd)
            .await
            .unwrap_err();
        assert!(refused.0.contains("codec"), "{refused:?}");
        let snappy = layout(&store, &files, &columns, &arrow, Some(Compression::SNAPPY)).await;
        assert!(snappy.is_ok(), "{snappy:?}");
        // Arrow types the chunks do not read back as.
        let wrong = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let refused = layout(&store, &files, &columns, &wrong, None)
            .await
            .unwrap_err();
        assert!(refused.0.contains("would be cast"), "{refused:?}");
    }

    /// A one-column file of `array`, and a layout asked for as `wanted`.
    async fn one_column(array: ArrayRef, wanted: DataType) -> Result<CopyLayout, NotCopied> {
        let field = Field::new("c", array.data_type().clone(), true);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array]).unwrap();
        let (store, files) = lake(&[batch]).await;
        let arrow = Schema::new(vec![Field::new("c", wanted, true)]);
        layout(&store, &files, &names(&["c"]), &arrow, None).await
    }

    #[tokio::test]
    async fn columns_a_scan_would_cast_are_not_copied() {
        use arrow::array::{Decimal128Array, StringViewArray, TimestampMicrosecondArray};
        let cents: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(1234), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        // Relabelled as 4 decimal places, 12.34 would read as 0.1234.
        let rescaled = one_column(Arc::clone(&cents), DataType::Decimal128(10, 4)).await;
        assert!(rescaled.unwrap_err().0.contains("would be cast"));
        assert!(one_column(cents, DataType::Decimal128(10, 2)).await.is_ok());
        // A local time is not an instant in a zone.
        let local: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![0, 1]));
        let zoned = DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Oslo".into()));
        assert!(
            one_column(local, zoned)
                .await
                .unwrap_err()
                .0
                .contains("would be cast")
        );
        // How strings are held changes no value.
        let views: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a"), None]));
        let plain = one_column(views, DataType::Utf8).await;
        assert!(plain.is_ok(), "{plain:?}");
    }
}
