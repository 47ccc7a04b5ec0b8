//! What the ingest job tests share: drop stores (a moto bucket, a local
//! directory), dropping files, running jobs, and reading datasets back.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow_flight::FlightClient;
use laker_flight_server::config::stores::StoreConfig;
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{action, fetch_all, info_for, status};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The bucket clients drop files into.
pub const BUCKET: &str = "drop";

/// A store on `moto`'s bucket [`BUCKET`] (created here), with the test keys
/// in a file under `dir`.
pub async fn moto_store(moto: &MotoServer, dir: &Path) -> StoreConfig {
    moto.create_bucket(BUCKET).await;
    StoreConfig {
        url: format!("s3://{BUCKET}"),
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        allow_http: true,
        credentials_file: Some(moto.credentials_file(dir)),
        ..Default::default()
    }
}

/// A store on the local directory `dir`.
pub fn dir_store(dir: &Path) -> StoreConfig {
    StoreConfig {
        url: url::Url::from_directory_path(dir).unwrap().to_string(),
        ..Default::default()
    }
}

/// Drops `body` at `key`.
pub async fn put(store: &dyn ObjectStore, key: &str, body: &str) {
    store
        .put(&ObjectPath::from(key), PutPayload::from(body.to_string()))
        .await
        .unwrap();
}

/// Runs DoAction `kind`, expecting success.
pub async fn ok(
    client: &mut FlightClient,
    kind: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    action(client, kind, body.clone())
        .await
        .unwrap_or_else(|e| panic!("{kind} {body}: {:?}", status(e)))
}

/// Runs job `name` now.
pub async fn run_job(
    client: &mut FlightClient,
    name: &str,
) -> Result<serde_json::Value, tonic::Status> {
    action(
        client,
        "run_ingest_job",
        serde_json::json!({ "name": name }),
    )
    .await
    .map_err(status)
}

/// The rows a download `spec` answers, in one batch.
pub async fn table(client: &mut FlightClient, spec: serde_json::Value) -> RecordBatch {
    let info = info_for(client, &spec).await.unwrap();
    let batches = fetch_all(client, &info).await.unwrap();
    match batches.first() {
        Some(first) => concat_batches(first.schema_ref(), &batches).unwrap(),
        None => RecordBatch::new_empty(Arc::new(info.try_decode_schema().unwrap())),
    }
}

/// The values of an Int64 column.
pub fn ints(batch: &RecordBatch, column: &str) -> Vec<i64> {
    let array = batch.column_by_name(column).unwrap();
    let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Int64).unwrap();
    let ints = array.as_any().downcast_ref::<Int64Array>().unwrap();
    (0..ints.len())
        .map(|i| if ints.is_null(i) { -1 } else { ints.value(i) })
        .collect()
}

/// The values of a string column (None for null).
pub fn strs(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap();
    let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).unwrap();
    let texts = array.as_any().downcast_ref::<StringArray>().unwrap();
    (0..texts.len())
        .map(|i| (!texts.is_null(i)).then(|| texts.value(i).to_string()))
        .collect()
}

/// The values of a boolean column.
pub fn flags(batch: &RecordBatch, column: &str) -> Vec<bool> {
    let array = batch.column_by_name(column).unwrap();
    let flags = array.as_any().downcast_ref::<BooleanArray>().unwrap();
    (0..flags.len()).map(|i| flags.value(i)).collect()
}

/// The ids in dataset `dataset`, sorted.
pub async fn ids(client: &mut FlightClient, dataset: &str) -> Vec<i64> {
    let batch = table(
        client,
        serde_json::json!({"dataset": dataset, "columns": ["id"]}),
    )
    .await;
    let mut ids = ints(&batch, "id");
    ids.sort_unstable();
    ids
}

/// The runs of job `job` in `system.ingest_runs`, oldest first.
pub async fn runs(client: &mut FlightClient, job: &str) -> RecordBatch {
    table(
        client,
        serde_json::json!({
            "dataset": "system.ingest_runs",
            "filter": format!("job = '{job}'"),
            "order_by": ["id"]
        }),
    )
    .await
}

/// The files job `job` took in `system.ingest_files`, by path then id.
pub async fn files(client: &mut FlightClient, job: &str) -> RecordBatch {
    table(
        client,
        serde_json::json!({
            "dataset": "system.ingest_files",
            "filter": format!("job = '{job}'"),
            "order_by": ["path", "id"]
        }),
    )
    .await
}

/// A CSV file of orders `ids` (amount: the id plus a half).
pub fn orders(ids: impl IntoIterator<Item = i64>) -> String {
    let mut csv = String::from("id,amount,city\n");
    for id in ids {
        csv.push_str(&format!("{id},{id}.5,Oslo\n"));
    }
    csv
}
