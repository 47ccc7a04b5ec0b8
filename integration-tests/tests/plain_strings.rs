//! A Parquet dataset whose file's Arrow schema asks for string and binary
//! views (as `tpchgen-cli` and other writers' do), downloaded through Flight
//! and Flight SQL with `--parquet-plain-strings` on (the default) and off:
//! the scan decodes plain arrays or views, and either way the same values
//! go out as plain strings and binaries.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, Int64Array, ListBuilder, RecordBatch,
    StringViewArray, StringViewBuilder, StructArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use laker_catalog::{DatasetFormat, DatasetName, DatasetOptions, NewDataset};
use laker_integration_tests::{TestServer, fetch_all, info_for};
use parquet::arrow::ArrowWriter;
use serde_json::json;

use crate::flight_sql::{query, sql_client, strings};

const LONG_NAME: &str = "a name longer than twelve bytes";
const LONG_PAYLOAD: &[u8] = b"a payload longer than twelve";

/// Three rows: strings and binaries short enough to sit in their views and
/// longer ones, nulls, a list of strings and a struct of one.
fn written() -> RecordBatch {
    let mut tags = ListBuilder::new(StringViewBuilder::new());
    tags.append_value([Some("x"), Some("a tag longer than twelve bytes")]);
    tags.append_null();
    tags.append_value([None, Some("y")]);
    let cities = StringViewArray::from(vec![Some("Oslo"), Some("a city longer than twelve"), None]);
    let place = StructArray::from(vec![(
        Arc::new(Field::new("city", DataType::Utf8View, true)),
        Arc::new(cities) as ArrayRef,
    )]);
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "name",
            Arc::new(StringViewArray::from(vec![
                Some("ana"),
                None,
                Some(LONG_NAME),
            ])) as ArrayRef,
        ),
        (
            "payload",
            Arc::new(BinaryViewArray::from(vec![
                Some(b"\x00\x01".as_slice()),
                None,
                Some(LONG_PAYLOAD),
            ])) as ArrayRef,
        ),
        ("tags", Arc::new(tags.finish()) as ArrayRef),
        ("place", Arc::new(place) as ArrayRef),
    ])
    .unwrap()
}

/// Writes the rows under `root` (the file's Arrow schema says views) and
/// registers them as `hinted.items`, readable by `demo`.
async fn register(s: &TestServer, root: &Path) {
    let batch = written();
    let file = std::fs::File::create(root.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    s.catalog
        .ensure_namespace("hinted", "Parquet files whose Arrow schema says views")
        .await
        .unwrap();
    s.catalog
        .register_dataset(NewDataset {
            name: DatasetName::new("hinted", "items").unwrap(),
            description: "strings and binaries written as views".into(),
            tags: vec![],
            format: DatasetFormat::Parquet,
            location: url::Url::from_directory_path(root).unwrap().to_string(),
            owner: String::new(),
            options: DatasetOptions::default(),
        })
        .await
        .unwrap();
    s.catalog.grant("demo", "hinted.*", "read").await.unwrap();
}

/// The schema sent: no views, at any depth.
fn assert_plain_schema(schema: &Schema, what: &str) {
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(
        types[..3],
        [&DataType::Int64, &DataType::Utf8, &DataType::Binary],
        "{what}"
    );
    assert!(
        matches!(types[3], DataType::List(item) if item.data_type() == &DataType::Utf8),
        "{what}: {:?}",
        types[3]
    );
    assert!(
        matches!(types[4], DataType::Struct(fields) if fields[0].data_type() == &DataType::Utf8),
        "{what}: {:?}",
        types[4]
    );
}

fn texts(array: &dyn Array) -> Vec<Option<String>> {
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn owned(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

/// The rows sent, in `id` order: plain arrays with the values written.
fn assert_plain_rows(batches: &[RecordBatch], what: &str) {
    let schema = batches[0].schema();
    assert_plain_schema(&schema, what);
    let rows = concat_batches(&schema, batches).unwrap();
    let ids = rows.column(0).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(ids, [1, 2, 3], "{what}");
    assert_eq!(
        texts(rows.column(1)),
        owned(&[Some("ana"), None, Some(LONG_NAME)]),
        "{what}"
    );
    let payloads: Vec<Option<&[u8]>> = rows.column(2).as_binary::<i32>().iter().collect();
    assert_eq!(
        payloads,
        [Some(b"\x00\x01".as_slice()), None, Some(LONG_PAYLOAD)],
        "{what}"
    );
    let tags = rows.column(3).as_list::<i32>();
    assert_eq!(
        texts(&tags.value(0)),
        owned(&[Some("x"), Some("a tag longer than twelve bytes")]),
        "{what}"
    );
    assert!(tags.is_null(1), "{what}");
    assert_eq!(texts(&tags.value(2)), owned(&[None, Some("y")]), "{what}");
    assert_eq!(
        texts(rows.column(4).as_struct().column(0)),
        owned(&[Some("Oslo"), Some("a city longer than twelve"), None]),
        "{what}"
    );
}

/// Downloads `hinted.items` through Flight and Flight SQL from a server
/// started with `--parquet-plain-strings <plain>`; returns the types the
/// scan reads `name` and `payload` as (`arrow_typeof`).
async fn download(plain: bool) -> Vec<String> {
    let s = TestServer::start_with(|c| c.parquet_plain_strings = plain).await;
    let dir = tempfile::tempdir().unwrap();
    register(&s, dir.path()).await;

    let mut client = s.demo_client().await;
    let spec = json!({"dataset": "hinted.items", "order_by": ["id"]});
    let info = info_for(&mut client, &spec).await.unwrap();
    assert_plain_schema(&info.clone().try_decode_schema().unwrap(), "announced");
    let batches = fetch_all(&mut client, &info).await.unwrap();
    assert_plain_rows(&batches, "Flight");

    let mut sql = sql_client(&s, "demo", "demo").await;
    let batches = query(
        &mut sql,
        "SELECT id, name, payload, tags, place FROM hinted.items ORDER BY id",
    )
    .await
    .unwrap();
    assert_plain_rows(&batches, "Flight SQL");
    let types = query(
        &mut sql,
        "SELECT arrow_typeof(name), arrow_typeof(payload) FROM hinted.items LIMIT 1",
    )
    .await
    .unwrap();
    [strings(&types, 0), strings(&types, 1)].concat()
}

#[tokio::test]
async fn parquet_views_are_decoded_as_plain_strings() {
    assert_eq!(download(true).await, ["Utf8", "Binary"]);
}

#[tokio::test]
async fn without_plain_strings_views_are_read_and_sent_as_plain_strings() {
    assert_eq!(download(false).await, ["Utf8View", "BinaryView"]);
}
