//! Whether the Parquet files a download reads can be copied column chunk
//! by column chunk, decided from their footers: every column asked for is
//! one whole top-level field, alike in every file (the same leaf columns,
//! types and levels); every chunk to copy is in its file, small enough to
//! hold, and in the codec asked for; and readers of the new file get the
//! download's Arrow types back. What the copy needs comes out: the new
//! file's schema and writer properties, and per file and row group the
//! chunks to copy.

use std::mem::discriminant;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, parquet_to_arrow_schema};
use parquet::basic::Compression;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::schema::types::{SchemaDescriptor, Type, TypePtr};

/// The largest column chunk copied: one is held at a time.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// Footers read at once.
const FOOTER_READS: usize = 8;
/// Row groups one Parquet file may hold.
const MAX_ROW_GROUPS: usize = i16::MAX as usize;
/// Most column chunks one copy lists (their metadata is held until the
/// footer is written).
const MAX_CHUNKS: usize = 100_000;
/// Where a file's first page can start (after the `PAR1` magic).
const FIRST_PAGE: u64 = 4;
/// Bytes read at a file's end to find its footer in one request, mostly.
const FOOTER_PREFETCH: usize = 64 << 10;

/// Why files are not copied (for the server's log, never the client).
#[derive(Debug)]
pub struct NotCopied(pub String);

/// What copying a download's files takes.
#[derive(Debug)]
pub struct CopyLayout {
    /// The new file's schema: the columns asked for, in order.
    pub schema: TypePtr,
    /// Its writer's properties (no statistics or indexes computed; the
    /// download's Arrow schema embedded).
    pub props: WriterPropertiesPtr,
    /// The files, in order.
    pub files: Vec<CopyFile>,
}

/// One file's chunks to copy.
#[derive(Debug)]
pub struct CopyFile {
    pub location: Path,
    pub row_groups: Vec<CopyRowGroup>,
}

/// One row group's chunks to copy, in the new file's column order.
#[derive(Debug)]
pub struct CopyRowGroup {
    pub rows: u64,
    pub chunks: Vec<CopyChunk>,
}

/// One column chunk: where its bytes are in its file, and its metadata.
#[derive(Debug)]
pub struct CopyChunk {
    pub start: u64,
    pub len: u64,
    pub metadata: ColumnChunkMetaData,
}

impl CopyChunk {
    /// What appending the chunk's bytes to a row group of `rows` rows
    /// records: the source's metadata, no bloom filter or page indexes.
    pub fn close_result(&self, rows: u64) -> ColumnCloseResult {
        ColumnCloseResult {
            bytes_written: self.len,
            rows_written: rows,
            metadata: self.metadata.clone(),
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        }
    }
}

/// The layout of copying `columns` of `files` (from `store`) into one file
/// read back as `arrow`, every chunk in `codec` when one is asked for;
/// why not when they cannot be copied (or a footer cannot be read).
pub async fn layout(
    store: &Arc<dyn ObjectStore>,
    files: &[ObjectMeta],
    columns: &[String],
    arrow: &Schema,
    codec: Option<Compression>,
) -> Result<CopyLayout, NotCopied> {
    let footers = futures::stream::iter(files.iter().cloned())
        .map(|file| footer(Arc::clone(store), file))
        .buffered(FOOTER_READS);
    let mut footers = std::pin::pin!(footers);
    // The new file's schema (the first file's fields) and its descriptor.
    let mut first: Option<(TypePtr, SchemaDescriptor)> = None;
    let mut copied = Vec::with_capacity(files.len());
    let (mut row_groups, mut chunks_listed) = (0, 0usize);
    while let Some(read) = footers.next().await {
        let (file, footer) = read?;
        let descr = footer.file_metadata().schema_descr();
        let (fields, leaves) = select(descr, columns)?;
        read_unchanged(&file.location, &footer, columns, arrow)?;
        if first.is_none() {
            first = Some(output_schema(descr, &fields)?);
        }
        let Some((_, output)) = first.as_ref() else {
            return Err(NotCopied("no schema".into()));
        };
        let same_leaves = leaves.len() == output.num_columns()
            && leaves
                .iter()
                .zip(output.columns())
                .all(|(&leaf, column)| descr.column(leaf) == *column);
        if output.root_schema().get_fields() != fields.as_slice() || !same_leaves {
            return Err(NotCopied(format!(
                "the columns of {} differ from the first file's",
                file.location
            )));
        }
        let mut groups = Vec::with_capacity(footer.num_row_groups());
        for group in footer.row_groups() {
            let rows = u64::try_from(group.num_rows())
                .map_err(|_| NotCopied(format!("{}: a negative row count", file.location)))?;
            let mut chunks = Vec::with_capacity(leaves.len());
            for &leaf in &leaves {
                let Some(column) = group.columns().get(leaf) else {
                    return Err(NotCopied(format!(
                        "{}: a row group lacks columns",
                        file.location
                    )));
                };
                chunks.push(chunk(column, file.size, codec)?);
            }
            groups.push(CopyRowGroup { rows, chunks });
        }
        row_groups += groups.len();
        if row_groups > MAX_ROW_GROUPS {
            return Err(NotCopied("more row groups than one file may hold".into()));
        }
        chunks_listed = chunks_listed.saturating_add(groups.len().saturating_mul(leaves.len()));
        if chunks_listed > MAX_CHUNKS {
            return Err(NotCopied(format!("more than {MAX_CHUNKS} column chunks")));
        }
        copied.push(CopyFile {
            location: file.location.clone(),
            row_groups: groups,
        });
    }
    let Some((schema, output)) = first else {
        return Err(NotCopied("no files".into()));
    };
    let props = properties(&output, arrow)?;
    Ok(CopyLayout {
        schema,
        props,
        files: copied,
    })
}

/// Refuses a file whose columns a scan would cast into the download's
/// types (another decimal scale, a timestamp without its zone, another
/// integer width): copied, their values would be relabelled, not
/// converted. Only how strings are held (plain, large, view, dictionary)
/// may differ, which changes no value.
fn read_unchanged(
    location: &Path,
    footer: &ParquetMetaData,
    columns: &[String],
    arrow: &Schema,
) -> Result<(), NotCopied> {
    let file = footer.file_metadata();
    let natural = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| NotCopied(format!("{location}: {e}")))?;
    for (name, wanted) in columns.iter().zip(arrow.fields()) {
        let same = natural.field_with_name(name).is_ok_and(|have| {
            have.is_nullable() == wanted.is_nullable()
                && value_type(have.data_type()) == value_type(wanted.data_type())
        });
        if !same {
            return Err(NotCopied(format!(
                "{location}: column '{name}' would be cast to the download's type"
            )));
        }
    }
    Ok(())
}

/// `data_type` with every way of holding strings and binaries made plain
/// (nested ones too), for comparing what values a column holds.
fn value_type(data_type: &DataType) -> DataType {
    let field = |f: &Field| {
        Arc::new(Field::new(
            f.name(),
            value_type(f.data_type()),
            f.is_nullable(),
        ))
    };
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, values) => value_type(values),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            DataType::List(field(f))
        }
        DataType::LargeListView(f) => DataType::List(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// The footer of `file`.
async fn footer(
    store: Arc<dyn ObjectStore>,
    file: ObjectMeta,
) -> Result<(ObjectMeta, ParquetMetaData), NotCopied> {
    let fetch = FooterFetch {
        store,
        location: file.location.clone(),
    };
    let footer = ParquetMetaDataReader::new()
        .with_prefetch_hint(Some(FOOTER_PREFETCH))
        .load_and_finish(fetch, file.size)
        .await
        .map_err(|e| {
            NotCopied(format!(
                "reading the footer of {} failed: {e}",
                file.location
            ))
        })?;
    Ok((file, footer))
}

/// Reads the bytes of one file's footer from the lake.
struct FooterFetch {
    store: Arc<dyn ObjectStore>,
    location: Path,
}

impl MetadataFetch for FooterFetch {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let (store, location) = (&self.store, &self.location);
        async move {
            store
                .get_range(location, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// The new file's schema: a root named as `descr`'s holding `fields`.
fn output_schema(
    descr: &SchemaDescriptor,
    fields: &[TypePtr],
) -> Result<(TypePtr, SchemaDescriptor), NotCopied> {
    let root = Type::group_type_builder(descr.root_schema().name())
        .with_fields(fields.to_vec())
        .build()
        .map_err(|e| NotCopied(format!("building the schema failed: {e}")))?;
    let root = Arc::new(root);
    Ok((Arc::clone(&root), SchemaDescriptor::new(root)))
}

/// The top-level fields named `columns` (each exactly one field) and the
/// indices of their leaf columns, in order.
fn select(
    descr: &SchemaDescriptor,
    columns: &[String],
) -> Result<(Vec<TypePtr>, Vec<usize>), NotCopied> {
    let roots = descr.root_schema().get_fields();
    let mut fields = Vec::with_capacity(columns.len());
    let mut leaves = Vec::new();
    for name in columns {
        let mut named = roots
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name() == name.as_str());
        let (Some((root, field)), None) = (named.next(), named.next()) else {
            return Err(NotCopied(format!(
                "column '{name}' is not one top-level field of every file"
            )));
        };
        fields.push(Arc::clone(field));
        leaves.extend((0..descr.num_columns()).filter(|&i| descr.get_column_root_idx(i) == root));
    }
    Ok((fields, leaves))
}

/// `column` to copy, if it can be: stored in its own file, within it, not
/// too large, in a codec readers have (and the one asked for).
fn chunk(
    column: &ColumnChunkMetaData,
    file_size: u64,
    codec: Option<Compression>,
) -> Result<CopyChunk, NotCopied> {
    let path = column.column_path().string();
    let refuse = |why: &str| Err(NotCopied(format!("column chunk of {path}: {why}")));
    if column.file_path().is_some() {
        return refuse("stored in another file");
    }
    let compression = column.compression();
    if matches!(compression, Compression::LZO) {
        return refuse("LZO, which few readers read");
    }
    match codec {
        Some(wanted) if discriminant(&wanted) != discriminant(&compression) => {
            return refuse("in another codec than the one asked for");
        }
        // Unasked, only the codecs every current reader has.
        None if !matches!(
            compression,
            Compression::UNCOMPRESSED
                | Compression::SNAPPY
                | Compression::GZIP(_)
                | Compression::ZSTD(_)
                | Compression::LZ4_RAW
        ) =>
        {
            return refuse("in a codec not every reader has");
        }
        _ => {}
    }
    let offset = |o: i64| u64::try_from(o).ok();
    let start = offset(
        column
            .dictionary_page_offset()
            .unwrap_or(column.data_page_offset()),
    );
    let (Some(start), Some(data), Some(len)) = (
        start,
        offset(column.data_page_offset()),
        offset(column.compressed_size()),
    ) else {
        return refuse("negative offsets");
    };
    let Some(end) = start.checked_add(len) else {
        return refuse("its end is past any file");
    };
    if start < FIRST_PAGE || data < start || data >= end || end > file_size {
        return refuse("outside its file");
    }
    if len > MAX_CHUNK_BYTES {
        return refuse("larger than a chunk is held");
    }
    // Statistics in the deprecated fields were written by old writers whose
    // ordering of some types was wrong; the new file's writer would vouch
    // for them.
    let metadata = if column
        .statistics()
        .is_some_and(|s| s.is_min_max_deprecated())
    {
        match column.clone().into_builder().clear_statistics().build() {
            Ok(metadata) => metadata,
            Err(e) => return refuse(&e.to_string()),
        }
    } else {
        column.clone()
    };
    Ok(CopyChunk {
        start,
        len,
        metadata,
    })
}

/// The new file's writer properties: no statistics, bloom filters or page
/// indexes of its own, and `arrow` embedded, checked to be what readers
/// will get back from the copied columns.
fn properties(output: &SchemaDescriptor, arrow: &Schema) -> Result<WriterPropertiesPtr, NotCopied> {
    let mut props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_bloom_filter_enabled(false)
        .set_offset_index_disabled(true)
        .build();
    add_encoded_arrow_schema_to_metadata(arrow, &mut props);
    let read = parquet_to_arrow_schema(output, props.key_value_metadata())
        .map_err(|e| NotCopied(format!("the files' columns do not read as Arrow: {e}")))?;
    let same = read.fields().len() == arrow.fields().len()
        && read
            .fields()
            .iter()
            .zip(arrow.fields().iter())
            .all(|(r, a)| {
                r.name() == a.name()
                    && r.data_type() == a.data_type()
                    && r.is_nullable() == a.is_nullable()
            });
    if !same {
        return Err(NotCopied(format!(
            "the files' columns read back as {:?}, not the download's {:?}",
            read.fields(),
            arrow.fields()
        )));
    }
    Ok(Arc::new(props))
}
