//! View types replaced by their plain counterparts, at any depth.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema};

/// `data_type` with every `Utf8View` as `Utf8` and every `BinaryView` as
/// `Binary`, inside lists, structs, maps and dictionaries too; other types
/// (`LargeUtf8`, `LargeBinary` among them) unchanged.
pub(super) fn plain_type(data_type: &DataType) -> DataType {
    let item = |f: &FieldRef| Arc::new(plain_field(f));
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(item(f)),
        DataType::LargeList(f) => DataType::LargeList(item(f)),
        DataType::ListView(f) => DataType::ListView(item(f)),
        DataType::LargeListView(f) => DataType::LargeListView(item(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(item(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(item).collect()),
        DataType::Map(f, sorted) => DataType::Map(item(f), *sorted),
        DataType::Dictionary(key, value) => {
            DataType::Dictionary(key.clone(), Box::new(plain_type(value)))
        }
        other => other.clone(),
    }
}

/// `field` (name, nullability and metadata kept) with its [`plain_type`].
pub(super) fn plain_field(field: &Field) -> Field {
    field.clone().with_data_type(plain_type(field.data_type()))
}

/// `schema` (metadata kept) with every field's [`plain_type`].
pub(super) fn plain_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema.fields().iter().map(|f| plain_field(f)).collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::datatypes::{Fields, TimeUnit};

    use super::*;

    fn list_of(item: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", item, true)))
    }

    fn map_of(key: DataType, value: DataType) -> DataType {
        let entries = Fields::from(vec![
            Field::new("key", key, false),
            Field::new("value", value, true),
        ]);
        DataType::Map(
            Arc::new(Field::new("entries", DataType::Struct(entries), false)),
            false,
        )
    }

    #[test]
    fn views_become_plain_at_any_depth() {
        let cases = [
            (DataType::Utf8View, DataType::Utf8),
            (DataType::BinaryView, DataType::Binary),
            (list_of(DataType::Utf8View), list_of(DataType::Utf8)),
            (
                DataType::LargeList(Arc::new(Field::new("item", DataType::BinaryView, false))),
                DataType::LargeList(Arc::new(Field::new("item", DataType::Binary, false))),
            ),
            (
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Utf8View, true)), 3),
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Utf8, true)), 3),
            ),
            (
                DataType::Struct(Fields::from(vec![
                    Field::new("city", DataType::Utf8View, true),
                    Field::new("tags", list_of(DataType::Utf8View), false),
                    Field::new("n", DataType::Int32, false),
                ])),
                DataType::Struct(Fields::from(vec![
                    Field::new("city", DataType::Utf8, true),
                    Field::new("tags", list_of(DataType::Utf8), false),
                    Field::new("n", DataType::Int32, false),
                ])),
            ),
            (
                map_of(DataType::Utf8View, DataType::BinaryView),
                map_of(DataType::Utf8, DataType::Binary),
            ),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8View)),
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
        ];
        for (view, plain) in cases {
            assert_eq!(plain_type(&view), plain, "{view}");
        }
    }

    #[test]
    fn other_types_stay_as_they_are() {
        for t in [
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Binary,
            DataType::LargeBinary,
            DataType::Int64,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            list_of(DataType::LargeUtf8),
            map_of(DataType::Utf8, DataType::Float64),
        ] {
            assert_eq!(plain_type(&t), t, "{t}");
        }
    }

    #[test]
    fn fields_and_schemas_keep_names_nullability_and_metadata() {
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        let schema = Schema::new_with_metadata(
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8View, false).with_metadata(meta.clone()),
                Field::new("raw", DataType::LargeBinary, true),
            ],
            meta.clone(),
        );
        let plain = plain_schema(&schema);
        assert_eq!(
            plain,
            Schema::new_with_metadata(
                vec![
                    Field::new("id", DataType::Int64, false),
                    Field::new("name", DataType::Utf8, false).with_metadata(meta.clone()),
                    Field::new("raw", DataType::LargeBinary, true),
                ],
                meta,
            )
        );
    }
}
