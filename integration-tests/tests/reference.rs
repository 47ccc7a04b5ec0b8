//! Reference answers computed by DataFusion directly over the demo files.

use arrow::array::{Array, Int64Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use laker_integration_tests::demo_lake;

/// A session with `trips` and `zones` registered straight from the files.
pub async fn session() -> SessionContext {
    // Plain Utf8 strings, as the server sends them.
    let config = SessionConfig::new().set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(config);
    let lake = demo_lake().await.join("demo");
    let trips = format!("{}/", lake.join("trips").display());
    ctx.register_parquet(
        "trips",
        &trips,
        ParquetReadOptions::default().table_partition_cols(vec![("month".into(), DataType::Utf8)]),
    )
    .await
    .unwrap();
    let zones = format!("{}/", lake.join("zones").display());
    ctx.register_parquet("zones", &zones, ParquetReadOptions::default())
        .await
        .unwrap();
    ctx
}

/// Runs `sql` and returns the batches.
pub async fn query(sql: &str) -> Vec<RecordBatch> {
    session()
        .await
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

/// Runs a `SELECT count(*) …` and returns the count.
pub async fn count(sql: &str) -> usize {
    let batches = query(sql).await;
    let col = batches[0].column(0);
    let ints = col.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(ints.len(), 1);
    ints.value(0) as usize
}
