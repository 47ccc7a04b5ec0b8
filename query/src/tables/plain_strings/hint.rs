//! A Parquet file's Arrow schema hint with its view types made plain.
//!
//! The hint (`ARROW:schema`, an IPC schema in base64) decides the Arrow
//! types the Parquet reader decodes into: `Utf8View` there makes it build
//! string views. Rewritten here, the reader decodes plain strings instead;
//! every other key, the Parquet schema, the row groups and the page index
//! stay as they were.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use parquet::arrow::{ARROW_SCHEMA_META_KEY, encode_arrow_schema, parquet_to_arrow_schema};
use parquet::file::metadata::{FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataBuilder};

use super::types::plain_schema;

/// `metadata` whose hint decodes without view types: the same metadata when
/// its hint has none (or it has no hint, or one the reader cannot decode,
/// which the reader then reports as it would have).
///
/// Metadata comes from DataFusion's metadata cache, shared by every open of
/// the file: the rewrite is remembered for as long as that metadata lives,
/// so a file is rewritten once, not at every open of one of its ranges.
pub(super) fn plain_metadata(metadata: Arc<ParquetMetaData>) -> Arc<ParquetMetaData> {
    let key = Arc::as_ptr(&metadata) as usize;
    if let Some(known) = REWRITTEN.lock().ok().and_then(|memo| {
        memo.get(&key)
            .filter(|(from, _)| from.upgrade().is_some_and(|m| Arc::ptr_eq(&m, &metadata)))
            .map(|(_, plain)| plain.clone())
    }) {
        return known.unwrap_or(metadata);
    }
    let plain = plain_key_values(metadata.file_metadata())
        .map(|key_values| with_key_values(Arc::clone(&metadata), key_values));
    if let Ok(mut memo) = REWRITTEN.lock() {
        // A rewrite lives no longer than the cached metadata it came from
        // (both are the same size).
        memo.retain(|_, (from, _)| from.strong_count() > 0);
        if memo.len() >= MAX_REMEMBERED {
            memo.clear();
        }
        memo.insert(key, (Arc::downgrade(&metadata), plain.clone()));
    }
    plain.unwrap_or(metadata)
}

/// Files whose rewrite (or its absence) is remembered at most.
const MAX_REMEMBERED: usize = 1024;

/// Rewritten metadata (`None`: nothing to rewrite) by the address of the
/// metadata it was made from, which must still be alive to match.
type Memo = HashMap<usize, (Weak<ParquetMetaData>, Option<Arc<ParquetMetaData>>)>;

static REWRITTEN: LazyLock<Mutex<Memo>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The file's key-value metadata with a plain hint in place of one that
/// has view types; `None` when there is nothing to replace.
fn plain_key_values(file: &FileMetaData) -> Option<Vec<KeyValue>> {
    let key_values = file.key_value_metadata()?;
    // The reader takes the last value given for a key.
    let hint = key_values
        .iter()
        .rfind(|kv| kv.key == ARROW_SCHEMA_META_KEY && kv.value.is_some())?;
    // The types the reader would decode into, from the hint resolved
    // against the Parquet schema (the other keys stay keys, not schema
    // metadata).
    let only_hint = vec![hint.clone()];
    let schema = parquet_to_arrow_schema(file.schema_descr(), Some(&only_hint)).ok()?;
    let plain = plain_schema(&schema);
    if plain == schema {
        return None;
    }
    let encoded = encode_arrow_schema(&plain);
    Some(
        key_values
            .iter()
            .map(|kv| {
                if kv.key == ARROW_SCHEMA_META_KEY {
                    KeyValue::new(kv.key.clone(), encoded.clone())
                } else {
                    kv.clone()
                }
            })
            .collect(),
    )
}

/// `metadata` with `key_values` in place of its file's key-value metadata.
/// Shared metadata (the metadata cache's) is copied; it is never changed.
fn with_key_values(
    metadata: Arc<ParquetMetaData>,
    key_values: Vec<KeyValue>,
) -> Arc<ParquetMetaData> {
    let file = metadata.file_metadata();
    let file = FileMetaData::new(
        file.version(),
        file.num_rows(),
        file.created_by().map(str::to_string),
        Some(key_values),
        file.schema_descr_ptr(),
        file.column_orders().cloned(),
    );
    let mut old = Arc::unwrap_or_clone(metadata).into_builder();
    Arc::new(
        ParquetMetaDataBuilder::new(file)
            .set_row_groups(old.take_row_groups())
            .set_column_index(old.take_column_index())
            .set_offset_index(old.take_offset_index())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, new_null_array};
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use arrow::record_batch::RecordBatch;
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// A Parquet file of three null rows of `schema` (all fields nullable)
    /// with an extra key, its metadata read back (page index included).
    fn metadata_of(schema: &Schema) -> Arc<ParquetMetaData> {
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 3))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), columns).unwrap();
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "writer".to_string(),
                "test".to_string(),
            )]))
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&Bytes::from(bytes))
            .unwrap();
        Arc::new(metadata)
    }

    /// The Arrow schema the reader decodes `metadata` into.
    fn decoded(metadata: &ParquetMetaData) -> Schema {
        let file = metadata.file_metadata();
        parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).unwrap()
    }

    fn value_of<'a>(metadata: &'a ParquetMetaData, key: &str) -> Option<&'a str> {
        metadata
            .file_metadata()
            .key_value_metadata()?
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_deref()
    }

    #[test]
    fn a_hint_with_views_is_rewritten_and_nothing_else() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8View, true),
            Field::new("raw", DataType::BinaryView, true),
            Field::new("big", DataType::LargeUtf8, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8View, true))),
                true,
            ),
            Field::new(
                "place",
                DataType::Struct(Fields::from(vec![Field::new(
                    "city",
                    DataType::Utf8View,
                    true,
                )])),
                true,
            ),
        ]);
        let original = metadata_of(&schema);
        assert_eq!(
            decoded(&original).fields(),
            schema.fields(),
            "the hint asks for views"
        );

        let plain = plain_metadata(Arc::clone(&original));
        assert_eq!(decoded(&plain).fields(), plain_schema(&schema).fields());
        // Rewritten once for as long as the original lives.
        assert!(Arc::ptr_eq(&plain_metadata(Arc::clone(&original)), &plain));
        assert_eq!(
            decoded(&plain).field(3).data_type(),
            &DataType::LargeUtf8,
            "large stays large"
        );
        assert_eq!(value_of(&plain, "writer"), Some("test"));
        assert_ne!(
            value_of(&plain, ARROW_SCHEMA_META_KEY),
            value_of(&original, ARROW_SCHEMA_META_KEY)
        );
        let (before, after) = (original.file_metadata(), plain.file_metadata());
        assert_eq!(after.num_rows(), before.num_rows());
        assert_eq!(after.version(), before.version());
        assert_eq!(after.created_by(), before.created_by());
        assert_eq!(after.schema_descr(), before.schema_descr());
        assert_eq!(after.column_orders(), before.column_orders());
        assert_eq!(plain.row_groups(), original.row_groups());
        assert!(original.column_index().is_some());
        assert_eq!(plain.column_index(), original.column_index());
        assert_eq!(plain.offset_index(), original.offset_index());
    }

    #[test]
    fn metadata_without_views_is_returned_as_it_is() {
        let plain = Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("raw", DataType::LargeBinary, true),
        ]);
        let metadata = metadata_of(&plain);
        assert!(Arc::ptr_eq(
            &plain_metadata(Arc::clone(&metadata)),
            &metadata
        ));

        let views = Schema::new(vec![Field::new("name", DataType::Utf8View, true)]);
        let with_views = metadata_of(&views);
        let file = with_views.file_metadata();
        let no_hint = FileMetaData::new(
            file.version(),
            file.num_rows(),
            None,
            None,
            file.schema_descr_ptr(),
            None,
        );
        let no_hint = Arc::new(ParquetMetaData::new(no_hint, Vec::new()));
        assert!(Arc::ptr_eq(&plain_metadata(Arc::clone(&no_hint)), &no_hint));
    }
}
