//! `demo.trips`: taxi-like trips over 2024, hive-partitioned by month
//! (`month=2024-01/part-0.parquet` …), each file sorted by pickup time in
//! small row groups so time filters prune.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Array, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};

use super::rng::Rng;
use super::write_parquet;
use crate::error::{Error, Result};

/// Months of data (2024-01 … 2024-12).
pub const MONTHS: u32 = 12;
/// Files per month partition.
pub const FILES_PER_MONTH: usize = 2;
/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;
/// Zones referenced by `pickup_zone`/`dropoff_zone` (ids 1..=ZONES).
pub const ZONES: i32 = 60;

const VENDORS: [&str; 3] = ["CMT", "VTS", "DDS"];
const VENDOR_WEIGHTS: [u32; 3] = [45, 40, 15];
const PAYMENTS: [&str; 4] = ["card", "cash", "mobile", "voucher"];
const PAYMENT_WEIGHTS: [u32; 4] = [55, 20, 22, 3];
const CITIES: [&str; 5] = ["Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø"];
const CITY_WEIGHTS: [u32; 5] = [50, 20, 14, 11, 5];
const PASSENGER_WEIGHTS: [u32; 6] = [60, 20, 8, 5, 4, 3];

/// The schema of the trip files (the `month` partition column comes from paths).
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("trip_id", DataType::Int64, false),
        Field::new("vendor", DataType::Utf8, false),
        Field::new("pickup_at", ts.clone(), false),
        Field::new("dropoff_at", ts, false),
        Field::new("passengers", DataType::Int32, true),
        Field::new("distance_km", DataType::Float64, false),
        Field::new("fare", DataType::Float64, false),
        Field::new("tip", DataType::Float64, true),
        Field::new("total", DataType::Float64, false),
        Field::new("payment_type", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("pickup_zone", DataType::Int32, false),
        Field::new("dropoff_zone", DataType::Int32, false),
    ]))
}

/// Rows in month `m` (0-based) when `total` rows are spread over the year.
pub fn rows_in_month(total: usize, m: u32) -> usize {
    let base = total / MONTHS as usize;
    base + usize::from((m as usize) < total % MONTHS as usize)
}

/// Writes month `m` (0-based) of a `total`-row dataset under `root`.
pub fn write_month(root: &Path, total: usize, m: u32) -> Result<()> {
    let rows = rows_in_month(total, m);
    let first_id: usize = (0..m).map(|i| rows_in_month(total, i)).sum();
    let start = month_start(m)?;
    let end = month_start(m + 1)?;
    let mut rng = Rng::new(0x1A4E_0000 + u64::from(m));
    let span = (end - start) as u64;
    let mut pickups: Vec<i64> = (0..rows).map(|_| start + rng.below(span) as i64).collect();
    pickups.sort_unstable();
    let dir = root.join(format!("month=2024-{:02}", m + 1));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(format!("demo data: {e}")))?;
    let per_file = rows.div_ceil(FILES_PER_MONTH).max(1);
    for (file, chunk) in pickups.chunks(per_file).enumerate() {
        let offset = first_id + file * per_file;
        let batch = trips_batch(&mut rng, offset as i64, chunk)?;
        write_parquet(
            &dir.join(format!("part-{file}.parquet")),
            &batch,
            ROW_GROUP_ROWS,
            Some(2),
        )?;
    }
    Ok(())
}

/// Microseconds since the epoch at the start of month `m` of 2024 (m may be 12).
fn month_start(m: u32) -> Result<i64> {
    let (year, month) = (2024 + (m / 12) as i32, m % 12 + 1);
    let date = NaiveDate::from_ymd_opt(year, month, 1)
        .ok_or_else(|| Error::Internal("demo data: bad month".into()))?;
    debug_assert_eq!(date.day(), 1);
    Ok(date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or_default())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn trips_batch(rng: &mut Rng, first_id: i64, pickups: &[i64]) -> Result<RecordBatch> {
    let n = pickups.len();
    let mut vendor = StringBuilder::with_capacity(n, n * 3);
    let mut dropoff = Vec::with_capacity(n);
    let mut passengers = Int32Builder::with_capacity(n);
    let mut distance = Float64Builder::with_capacity(n);
    let mut fare = Float64Builder::with_capacity(n);
    let mut tip = Float64Builder::with_capacity(n);
    let mut total = Float64Builder::with_capacity(n);
    let mut payment = StringBuilder::with_capacity(n, n * 5);
    let mut city = StringBuilder::with_capacity(n, n * 6);
    let mut pickup_zone = Int32Builder::with_capacity(n);
    let mut dropoff_zone = Int32Builder::with_capacity(n);
    for &pickup in pickups {
        let km = round2((-(1.0 - rng.unit()).ln() * 4.0 + 0.3).min(80.0));
        let minutes = km * 2.2 + rng.unit() * 12.0 + 1.0;
        dropoff.push(pickup + (minutes * 60_000_000.0) as i64);
        vendor.append_value(VENDORS[rng.weighted(&VENDOR_WEIGHTS)]);
        if rng.chance(0.02) {
            passengers.append_null();
        } else {
            passengers.append_value(rng.weighted(&PASSENGER_WEIGHTS) as i32 + 1);
        }
        let base = round2(3.5 + km * 1.65 + minutes * 0.45);
        let pay = PAYMENTS[rng.weighted(&PAYMENT_WEIGHTS)];
        let tip_value = match pay {
            _ if rng.chance(0.03) => None,
            "cash" | "voucher" => Some(0.0),
            _ => Some(round2(base * (0.05 + rng.unit() * 0.2))),
        };
        distance.append_value(km);
        fare.append_value(base);
        tip.append_option(tip_value);
        total.append_value(round2(base + tip_value.unwrap_or(0.0)));
        payment.append_value(pay);
        city.append_value(CITIES[rng.weighted(&CITY_WEIGHTS)]);
        pickup_zone.append_value(rng.below(ZONES as u64) as i32 + 1);
        dropoff_zone.append_value(rng.below(ZONES as u64) as i32 + 1);
    }
    let ids = Int64Array::from_iter_values(first_id..first_id + n as i64);
    let ts = |v: Vec<i64>| TimestampMicrosecondArray::from(v).with_timezone("UTC");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(vendor.finish()),
        Arc::new(ts(pickups.to_vec())),
        Arc::new(ts(dropoff)),
        Arc::new(passengers.finish()),
        Arc::new(distance.finish()),
        Arc::new(fare.finish()),
        Arc::new(tip.finish()),
        Arc::new(total.finish()),
        Arc::new(payment.finish()),
        Arc::new(city.finish()),
        Arc::new(pickup_zone.finish()),
        Arc::new(dropoff_zone.finish()),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|e| Error::Internal(format!("demo data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_add_up() {
        for total in [1, 11, 12, 13, 2_000_000] {
            let sum: usize = (0..MONTHS).map(|m| rows_in_month(total, m)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn batch_is_deterministic_and_plausible() {
        let pickups: Vec<i64> = (0..1000)
            .map(|i| 1_704_067_200_000_000 + i * 1_000_000)
            .collect();
        let a = trips_batch(&mut Rng::new(5), 0, &pickups).unwrap();
        let b = trips_batch(&mut Rng::new(5), 0, &pickups).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.num_rows(), 1000);
        let passengers = a.column_by_name("passengers").unwrap();
        assert!(passengers.null_count() > 0 && passengers.null_count() < 100);
    }
}
