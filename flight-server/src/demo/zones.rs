//! `demo.zones`: the small lookup table the trips' zone ids refer to.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::trips::ZONES;
use super::write_parquet;
use crate::error::{Error, Result};

const CITIES: [&str; 5] = ["Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø"];
const KINDS: [&str; 6] = ["Sentrum", "Havn", "Stasjon", "Nord", "Sør", "Flyplass"];

/// Writes `zones.parquet` into `dir`.
pub fn write(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Internal(format!("demo data: {e}")))?;
    let ids: Vec<i32> = (1..=ZONES).collect();
    let city: Vec<&str> = ids
        .iter()
        .map(|i| CITIES[(*i as usize - 1) % CITIES.len()])
        .collect();
    let name: Vec<String> = ids
        .iter()
        .map(|i| {
            let kind = KINDS[(*i as usize - 1) / CITIES.len() % KINDS.len()];
            format!("{} {kind} {}", city[*i as usize - 1], (*i - 1) / 30 + 1)
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("zone_id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(ids)),
        Arc::new(StringArray::from(name)),
        Arc::new(StringArray::from(city)),
    ];
    let batch = RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::Internal(format!("demo data: {e}")))?;
    write_parquet(&dir.join("zones.parquet"), &batch, 1024, None)
}
