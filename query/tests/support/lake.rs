//! The test lake: a small hive-partitioned Parquet dataset (`region=…`
//! directories, one file each) in a temporary directory, registered as the
//! catalog would hold it, and the text of plans with its path replaced by
//! a placeholder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use laker_catalog::{
    Dataset, DatasetFormat, DatasetName, DatasetOptions, PartitionColumn, PartitionType,
};
use parquet::arrow::ArrowWriter;
use tempfile::TempDir;

/// The dataset's name.
pub const DATASET: &str = "demo.people";
/// What the lake's directory reads as in rendered plans and file names.
pub const LAKE: &str = "<lake>";
/// The partition values, one directory (and one file) each.
pub const REGIONS: [&str; 3] = ["APAC", "EU", "US"];

/// One row of the dataset.
pub struct Person {
    pub id: i64,
    pub name: &'static str,
    pub email: &'static str,
    pub amount: f64,
    /// The partition column (a directory name, not stored in the file).
    pub region: &'static str,
}

/// Every row, in `id` order.
pub static PEOPLE: [Person; 9] = [
    person(1, "ana", "ana@eu.example", 10.0, "EU"),
    person(2, "ben", "ben@eu.example", 250.0, "EU"),
    person(3, "cai", "cai@eu.example", 75.5, "EU"),
    person(4, "dan", "dan@us.example", 120.0, "US"),
    person(5, "eve", "eve@us.example", 5.0, "US"),
    person(6, "fay", "fay@us.example", 300.0, "US"),
    person(7, "gus", "gus@ap.example", 42.0, "APAC"),
    person(8, "hal", "hal@ap.example", 99.0, "APAC"),
    person(9, "ida", "ida@ap.example", 180.0, "APAC"),
];

const fn person(
    id: i64,
    name: &'static str,
    email: &'static str,
    amount: f64,
    region: &'static str,
) -> Person {
    Person {
        id,
        name,
        email,
        amount,
        region,
    }
}

/// The data file of one region, as it shows in (normalised) plans.
pub fn region_file(region: &str) -> String {
    format!("{LAKE}/people/region={region}/part-0.parquet")
}

/// The dataset on disk; removed when dropped.
pub struct Lake {
    _dir: TempDir,
    root: PathBuf,
    /// The catalog's record of the dataset.
    pub dataset: Dataset,
}

impl Lake {
    /// Writes the dataset into a new temporary directory.
    pub fn create() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("laker-golden")
            .tempdir()
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        let table = root.join("people");
        for region in REGIONS {
            write_region(&table, region);
        }
        let dataset = Dataset {
            name: DatasetName::parse(DATASET).unwrap(),
            description: String::new(),
            tags: Vec::new(),
            format: DatasetFormat::Parquet,
            location: format!("file://{}/", table.display()),
            options: DatasetOptions {
                partition_columns: Some(vec![PartitionColumn {
                    name: "region".into(),
                    data_type: PartitionType::String,
                }]),
                ..DatasetOptions::default()
            },
            owner: String::new(),
            created_at: 0,
            updated_at: 0,
            refreshed_at: 0,
            revision: 1,
        };
        Self {
            _dir: dir,
            root,
            dataset,
        }
    }

    /// `text` with the lake's directory (as a file system path, and as an
    /// object store path without the leading `/`) replaced by [`LAKE`].
    pub fn normalize(&self, text: &str) -> String {
        let root = self.root.to_string_lossy();
        let relative = root.trim_start_matches('/');
        text.replace(&*root, LAKE).replace(relative, LAKE)
    }
}

/// Writes `table/region=<region>/part-0.parquet` with that region's rows.
fn write_region(table: &Path, region: &str) {
    let rows: Vec<&Person> = PEOPLE.iter().filter(|p| p.region == region).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|p| p.id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|p| p.name))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|p| p.email))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|p| p.amount),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let dir = table.join(format!("region={region}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}
