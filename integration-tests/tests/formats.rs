//! CSV, newline-delimited JSON and Arrow IPC datasets with typed hive
//! partitions, served like Parquet.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_flight::Ticket;
use laker_catalog::{
    CsvOptions, DatasetFormat, DatasetName, DatasetOptions, NewDataset, PartitionColumn,
    PartitionType,
};
use laker_integration_tests::{TestServer, fetch, list_names, rows};

const YEARS: [i32; 2] = [2023, 2024];
const PER_FILE: i64 = 500;

/// Rows of year `y`, region `r`: ids are unique across files.
fn batch(y: i32, r: usize) -> RecordBatch {
    let base = i64::from(y - 2023) * 10_000 + r as i64 * 1_000;
    let ids: Vec<i64> = (base..base + PER_FILE).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("item-{i}")).collect();
    let scores: Vec<f64> = ids.iter().map(|i| (*i % 100) as f64 / 4.0).collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(scores)),
        ],
    )
    .unwrap()
}

/// Writes year=Y/region=R/part.EXT files with `write`.
fn write_tree(root: &Path, ext: &str, write: impl Fn(&Path, &RecordBatch)) {
    for y in YEARS {
        for (r, region) in ["eu", "us"].iter().enumerate() {
            let dir = root.join(format!("year={y}/region={region}"));
            fs::create_dir_all(&dir).unwrap();
            write(&dir.join(format!("part.{ext}")), &batch(y, r));
        }
    }
}

fn write_csv(path: &Path, b: &RecordBatch) {
    let file = fs::File::create(path).unwrap();
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .with_delimiter(b';')
        .build(file);
    w.write(b).unwrap();
}

fn write_json(path: &Path, b: &RecordBatch) {
    let file = fs::File::create(path).unwrap();
    let mut w = arrow::json::LineDelimitedWriter::new(file);
    w.write(b).unwrap();
    w.finish().unwrap();
}

fn write_arrow(path: &Path, b: &RecordBatch) {
    let file = fs::File::create(path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(file, &b.schema()).unwrap();
    w.write(b).unwrap();
    w.finish().unwrap();
}

async fn register(
    s: &TestServer,
    name: &str,
    root: &Path,
    format: DatasetFormat,
    csv: Option<CsvOptions>,
) {
    s.catalog
        .ensure_namespace("fmt", "format tests")
        .await
        .unwrap();
    s.catalog
        .register_dataset(NewDataset {
            name: DatasetName::new("fmt", name).unwrap(),
            description: format!("{name} test data"),
            tags: vec![],
            format,
            location: url::Url::from_directory_path(root).unwrap().to_string(),
            owner: String::new(),
            options: DatasetOptions {
                partition_columns: Some(vec![
                    PartitionColumn {
                        name: "year".into(),
                        data_type: PartitionType::Int32,
                    },
                    PartitionColumn {
                        name: "region".into(),
                        data_type: PartitionType::String,
                    },
                ]),
                csv,
                ..Default::default()
            },
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn csv_json_and_arrow_datasets_download_with_pushdown() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let csv_root = dir.path().join("csv");
    write_tree(&csv_root, "csv", write_csv);
    let json_root = dir.path().join("json");
    write_tree(&json_root, "json", write_json);
    let arrow_root = dir.path().join("arrow");
    write_tree(&arrow_root, "arrow", write_arrow);
    let semicolons = CsvOptions {
        has_header: true,
        delimiter: ";".into(),
    };
    register(
        &s,
        "items_csv",
        &csv_root,
        DatasetFormat::Csv,
        Some(semicolons),
    )
    .await;
    register(&s, "items_json", &json_root, DatasetFormat::Json, None).await;
    register(&s, "items_arrow", &arrow_root, DatasetFormat::Arrow, None).await;
    s.catalog.grant("demo", "fmt.*", "read").await.unwrap();

    let mut c = s.demo_client().await;
    for name in ["items_csv", "items_json", "items_arrow"] {
        let whole = fetch(
            &mut c,
            Ticket::new(format!(r#"{{"dataset": "fmt.{name}"}}"#)),
        )
        .await
        .unwrap();
        assert_eq!(rows(&whole), 4 * PER_FILE as usize, "{name}");
        let schema = whole[0].schema();
        assert_eq!(
            schema.field_with_name("id").unwrap().data_type(),
            &DataType::Int64,
            "{name}"
        );
        assert_eq!(
            schema.field_with_name("year").unwrap().data_type(),
            &DataType::Int32,
            "{name}"
        );

        // Typed partition filter prunes to one directory; the year is an integer.
        let before = s.store.bytes_read();
        let spec = format!(
            r#"{{"dataset": "fmt.{name}", "columns": ["id", "score"], "filter": "year = 2024 AND region = 'us' AND score >= 20", "order_by": ["id"]}}"#
        );
        let got = fetch(&mut c, Ticket::new(spec)).await.unwrap();
        let read = s.store.bytes_read() - before;
        let expected: Vec<i64> = (11_000..11_000 + PER_FILE)
            .filter(|i| i % 100 >= 80)
            .collect();
        let ids: Vec<i64> = got
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(ids, expected, "{name}");
        let one_file = fs::metadata(
            dir.path()
                .join(name.trim_start_matches("items_"))
                .join("year=2024/region=us")
                .join(format!("part.{}", name.trim_start_matches("items_"))),
        )
        .unwrap()
        .len();
        // Pruning leaves three of the four files unread (a footer may be read twice).
        assert!(
            read < 2 * one_file,
            "{name}: read {read} bytes, one file is {one_file}"
        );
    }

    // Search matches column names too.
    assert_eq!(
        list_names(&mut c, "SCORE").await.unwrap(),
        ["fmt.items_arrow", "fmt.items_csv", "fmt.items_json"]
    );
}

#[tokio::test]
async fn invalid_format_options_are_refused_at_registration() {
    let s = TestServer::start().await;
    s.catalog.ensure_namespace("fmt", "").await.unwrap();
    let bad = NewDataset {
        name: DatasetName::new("fmt", "bad").unwrap(),
        description: String::new(),
        tags: vec![],
        format: DatasetFormat::Parquet,
        location: "file:///tmp/nowhere/".into(),
        owner: String::new(),
        options: DatasetOptions {
            csv: Some(CsvOptions::default()),
            ..Default::default()
        },
    };
    let err = s
        .catalog
        .register_dataset(bad)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "'csv' options apply to the csv format, not parquet");
}
