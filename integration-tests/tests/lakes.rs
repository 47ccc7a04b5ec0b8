//! The same lake — a hive-partitioned Parquet directory and a Delta table with
//! two versions, both written by the test — registered through the admin
//! actions and downloaded from each store: the local disk, S3 (a real
//! moto_server), Azure Blob Storage (a real Azurite) and Google Cloud Storage
//! (a real fake-gcs-server).

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow_flight::FlightClient;
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;
use laker_flight_server::config::stores::StoreConfig;
use laker_integration_tests::azurite::{self, Azurite};
use laker_integration_tests::fake_gcs::FakeGcs;
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, rows, status};
use laker_query::tables::delta::log_store;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use tonic::Code;
use url::Url;

/// Rows of `events` per year partition.
const EVENTS_2023: i64 = 1000;
const EVENTS_2024: i64 = 2000;

fn events_batch(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let kinds: Vec<&str> = ids
        .iter()
        .map(|i| ["a", "b", "c"][(i % 3) as usize])
        .collect();
    let amounts: Vec<f64> = ids.iter().map(|i| *i as f64 * 0.5).collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(kinds)),
            Arc::new(Float64Array::from(amounts)),
        ],
    )
    .unwrap()
}

fn ledger_batch(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let regions: Vec<&str> = ids
        .iter()
        .map(|i| if i % 2 == 0 { "north" } else { "south" })
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(regions)),
        ],
    )
    .unwrap()
}

/// Rows of the CSV, NDJSON and Arrow IPC datasets.
const SMALL_ROWS: i64 = 300;

fn csv_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_delimiter(b';')
        .build(&mut out);
    writer.write(batch).unwrap();
    drop(writer);
    out
}

fn ndjson_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    writer.into_inner()
}

fn ipc_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut writer = arrow::ipc::writer::FileWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

/// A lake under test: the store the test writes through, the URL prefix
/// data goes under, and the server's store config (none for the data dir).
struct Lake {
    kind: &'static str,
    root: Arc<dyn ObjectStore>,
    base: Url,
    config: Option<StoreConfig>,
}

/// Writes `events/year=YYYY/part-0.parquet` and the Delta table `ledger`
/// (version 0: ids 0..100, version 1: ids 100..150) under the lake's base.
/// Returns an instant between the two Delta commits.
async fn write_lake(lake: &Lake) -> chrono::DateTime<chrono::Utc> {
    for (year, from, to) in [
        (2023, 0, EVENTS_2023),
        (2024, EVENTS_2023, EVENTS_2023 + EVENTS_2024),
    ] {
        let path = ObjectPath::from_url_path(format!(
            "{}events/year={year}/part-0.parquet",
            lake.base.path()
        ))
        .unwrap();
        lake.root
            .put(
                &path,
                PutPayload::from(parquet_bytes(&events_batch(from, to))),
            )
            .await
            .unwrap();
    }
    // The same 300 rows as CSV (semicolon-delimited), NDJSON and Arrow IPC.
    let small = events_batch(0, SMALL_ROWS);
    for (format, file, bytes) in [
        ("csv", "part-0.csv", csv_bytes(&small)),
        ("json", "part-0.json", ndjson_bytes(&small)),
        ("arrow", "part-0.arrow", ipc_bytes(&small)),
    ] {
        let path =
            ObjectPath::from_url_path(format!("{}{format}/{file}", lake.base.path())).unwrap();
        lake.root.put(&path, PutPayload::from(bytes)).await.unwrap();
    }
    let url = lake.base.join("ledger/").unwrap();
    let table = DeltaTable::new(log_store(&url, Arc::clone(&lake.root)).unwrap());
    let table = table
        .write(vec![ledger_batch(0, 100)])
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_partition_columns(["region"])
        .await
        .unwrap();
    assert_eq!(table.version(), Some(0));
    let between = chrono::Utc::now();
    let table = table
        .write(vec![ledger_batch(100, 150)])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(table.version(), Some(1));
    between
}

/// Registers `<ns>.events` and `<ns>.ledger` through the admin actions.
async fn register(admin: &mut FlightClient, ns: &str, lake: &Lake) {
    action(admin, "create_namespace", serde_json::json!({"name": ns}))
        .await
        .unwrap();
    let events = action(
        admin,
        "register_dataset",
        serde_json::json!({
            "name": format!("{ns}.events"),
            "location": lake.base.join("events/").unwrap().as_str(),
            "format": "parquet",
            "options": {"partition_columns": [{"name": "year", "type": "int32"}]},
            "description": format!("events on {}", lake.kind),
            "tags": ["test", lake.kind],
            "owner": "data team",
        }),
    )
    .await
    .unwrap();
    let fields: Vec<&str> = events["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "kind", "amount", "year"]);
    let ledger = action(
        admin,
        "register_dataset",
        serde_json::json!({
            "name": format!("{ns}.ledger"),
            "location": lake.base.join("ledger/").unwrap().as_str(),
            "format": "delta",
        }),
    )
    .await
    .unwrap();
    assert_eq!(ledger["format"], "delta");
    for (format, options) in [
        ("csv", serde_json::json!({"csv": {"delimiter": ";"}})),
        ("json", serde_json::json!({})),
        ("arrow", serde_json::json!({})),
    ] {
        let registered = action(
            admin,
            "register_dataset",
            serde_json::json!({
                "name": format!("{ns}.{format}_events"),
                "location": lake.base.join(&format!("{format}/")).unwrap().as_str(),
                "format": format,
                "options": options,
            }),
        )
        .await
        .unwrap();
        assert_eq!(
            registered["schema"].as_array().unwrap().len(),
            3,
            "{format}"
        );
    }
}

fn ids(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    let mut out: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let col = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..col.len()).map(move |i| col.value(i))
        })
        .collect();
    out.sort_unstable();
    out
}

async fn download(
    client: &mut FlightClient,
    spec: serde_json::Value,
) -> (arrow_flight::FlightInfo, Vec<RecordBatch>) {
    let info = info_for(client, &spec).await.unwrap();
    let batches = fetch_all(client, &info).await.unwrap();
    (info, batches)
}

fn app_metadata(info: &arrow_flight::FlightInfo) -> serde_json::Value {
    serde_json::from_slice(&info.app_metadata).unwrap()
}

/// The download checks every lake must pass.
async fn check_lake(
    client: &mut FlightClient,
    ns: &str,
    between: chrono::DateTime<chrono::Utc>,
    exact_as_of: bool,
) {
    let events = format!("{ns}.events");
    let (info, all) = download(client, serde_json::json!({"dataset": events})).await;
    // One endpoint per file; each endpoint reads only its own files (no
    // work stealing between partitions that run in separate DoGets).
    assert_eq!(info.endpoint.len(), 2);
    assert_eq!(rows(&all), (EVENTS_2023 + EVENTS_2024) as usize);
    assert_eq!(
        all[0].schema().field_with_name("year").unwrap().data_type(),
        &DataType::Int32
    );

    // Projection, a filter on a partition and a data column, limit.
    let (_, some) = download(
        client,
        serde_json::json!({"dataset": events, "columns": ["id", "amount"],
                           "filter": "year = 2024 AND kind = 'a'"}),
    )
    .await;
    let got = ids(&some, "id");
    assert_eq!(got.len(), 666);
    assert!(got.iter().all(|i| *i >= EVENTS_2023 && i % 3 == 0));
    assert_eq!(some[0].num_columns(), 2);
    let (_, limited) = download(
        client,
        serde_json::json!({"dataset": events, "filter": "year = 2023", "limit": 10}),
    )
    .await;
    assert_eq!(rows(&limited), 10);
    assert!(ids(&limited, "id").iter().all(|i| *i < EVENTS_2023));

    // CSV, NDJSON and Arrow IPC: all rows, and a filter with a projection.
    for format in ["csv", "json", "arrow"] {
        let dataset = format!("{ns}.{format}_events");
        let (_, all) = download(client, serde_json::json!({"dataset": dataset})).await;
        assert_eq!(
            ids(&all, "id"),
            (0..SMALL_ROWS).collect::<Vec<_>>(),
            "{format}"
        );
        let (_, bs) = download(
            client,
            serde_json::json!({"dataset": dataset, "columns": ["id", "amount"],
                               "filter": "kind = 'b' AND amount >= 50"}),
        )
        .await;
        let want: Vec<i64> = (100..SMALL_ROWS).filter(|i| i % 3 == 1).collect();
        assert_eq!(ids(&bs, "id"), want, "{format}");
        // Values survive the round trip: amount is id / 2 on every row.
        for batch in &bs {
            let id = batch
                .column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let amount = batch
                .column_by_name("amount")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            for row in 0..batch.num_rows() {
                assert_eq!(amount.value(row), id.value(row) as f64 * 0.5, "{format}");
            }
        }
    }

    // describe_dataset reads Delta statistics and history from the log.
    let d = action(
        client,
        "describe_dataset",
        serde_json::json!({"name": format!("{ns}.ledger")}),
    )
    .await
    .unwrap();
    assert_eq!(d["statistics"]["rows"]["value"], 150, "{d}");
    assert_eq!(d["version"], 1);
    let versions: Vec<u64> = d["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 0]);
    assert_eq!(d["partition_columns"][0]["name"], "region");
    let id = d["statistics"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "id")
        .unwrap();
    assert_eq!(
        (id["min"].as_str(), id["max"].as_str()),
        (Some("0"), Some("149")),
        "{id}"
    );

    // Delta: latest, an older version, as-of a time, a filter on the
    // partition column, and versions that do not exist.
    let ledger = format!("{ns}.ledger");
    let (info, latest) = download(client, serde_json::json!({"dataset": ledger})).await;
    // Partition values reach clients as plain strings.
    assert_eq!(
        latest[0]
            .schema()
            .field_with_name("region")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    assert_eq!(ids(&latest, "id"), (0..150).collect::<Vec<_>>());
    assert_eq!(app_metadata(&info)["version"], 1);
    let (info, v0) = download(client, serde_json::json!({"dataset": ledger, "version": 0})).await;
    assert_eq!(ids(&v0, "id"), (0..100).collect::<Vec<_>>());
    assert_eq!(app_metadata(&info)["version"], 0);
    let (_, north) = download(
        client,
        serde_json::json!({"dataset": ledger, "version": 1, "filter": "region = 'north'", "columns": ["id"]}),
    )
    .await;
    assert_eq!(ids(&north, "id"), (0..150).step_by(2).collect::<Vec<_>>());
    if exact_as_of {
        let (_, at) = download(
            client,
            serde_json::json!({"dataset": ledger, "as_of": between.to_rfc3339()}),
        )
        .await;
        assert_eq!(rows(&at), 100, "as_of between the commits reads version 0");
    }
    let (info, future) = download(
        client,
        serde_json::json!({"dataset": ledger, "as_of": "2999-01-01"}),
    )
    .await;
    assert_eq!(rows(&future), 150);
    assert_eq!(app_metadata(&info)["version"], 1);
    let err = status(
        info_for(
            client,
            &serde_json::json!({"dataset": ledger, "version": 7}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("has no version 7"),
        "{}",
        err.message()
    );
    let err = status(
        info_for(
            client,
            &serde_json::json!({"dataset": ledger, "as_of": "2001-01-01"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("has no version as of"),
        "{}",
        err.message()
    );
    let err = status(
        info_for(
            client,
            &serde_json::json!({"dataset": events, "version": 0}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("apply to Delta tables only"),
        "{}",
        err.message()
    );
}

async fn run(lake: Lake, exact_as_of: bool) {
    let between = write_lake(&lake).await;
    serve_and_check(&lake, between, exact_as_of).await;
}

/// Starts a server with the lake's store, registers the datasets through
/// the admin actions and runs the download checks.
async fn serve_and_check(lake: &Lake, between: chrono::DateTime<chrono::Utc>, exact_as_of: bool) {
    let config = lake.config.clone();
    let kind = lake.kind;
    let s = TestServer::start_with(move |c| {
        if let Some(store) = config {
            c.stores.insert(kind.into(), store);
        }
    })
    .await;
    let mut admin = s.admin_client().await;
    register(&mut admin, "lake", lake).await;
    check_lake(&mut admin, "lake", between, exact_as_of).await;
    if exact_as_of {
        check_pinned_snapshot(&mut admin, lake).await;
    }
}

/// Tickets pin the Delta version planned at GetFlightInfo: a commit made
/// before they are redeemed does not change what they return, while the
/// next GetFlightInfo sees it without any refresh.
async fn check_pinned_snapshot(client: &mut FlightClient, lake: &Lake) {
    let spec = serde_json::json!({"dataset": "lake.ledger"});
    let before = info_for(client, &spec).await.unwrap();
    assert_eq!(app_metadata(&before)["version"], 1);
    let url = lake.base.join("ledger/").unwrap();
    let mut table = DeltaTable::new(log_store(&url, Arc::clone(&lake.root)).unwrap());
    table.load().await.unwrap();
    let table = table
        .write(vec![ledger_batch(150, 160)])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(table.version(), Some(2));
    assert_eq!(rows(&fetch_all(client, &before).await.unwrap()), 150);
    let (after, batches) = download(client, spec).await;
    assert_eq!(app_metadata(&after)["version"], 2);
    assert_eq!(rows(&batches), 160);
}

#[tokio::test]
async fn local_lake() {
    // The server's data directory is known only once it runs, so this lake
    // lives in a directory configured as a `file://` store.
    let dir = tempfile::tempdir().unwrap();
    let base = Url::from_directory_path(dir.path().canonicalize().unwrap()).unwrap();
    run(
        Lake {
            kind: "local",
            root: Arc::new(LocalFileSystem::new()),
            config: Some(StoreConfig {
                url: base.to_string(),
                ..Default::default()
            }),
            base,
        },
        true,
    )
    .await;
}

#[tokio::test]
async fn s3_lake() {
    let moto = MotoServer::start().await;
    moto.create_bucket("lake").await;
    let dir = tempfile::tempdir().unwrap();
    run(
        Lake {
            kind: "s3",
            root: moto.store("lake"),
            base: Url::parse("s3://lake/data/").unwrap(),
            config: Some(StoreConfig {
                url: "s3://lake/data/".into(),
                endpoint: Some(moto.endpoint.clone()),
                region: Some("us-east-1".into()),
                allow_http: true,
                credentials_file: Some(moto.credentials_file(dir.path())),
                ..Default::default()
            }),
        },
        false,
    )
    .await;
}

#[tokio::test]
async fn azure_lake() {
    let azurite = Azurite::start().await;
    azurite.create_container("lake").await;
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        format!("account_key = \"{}\"\n", azurite::ACCOUNT_KEY),
    )
    .unwrap();
    run(
        Lake {
            kind: "azure",
            root: azurite.store("lake"),
            base: Url::parse("az://lake/data/").unwrap(),
            config: Some(StoreConfig {
                url: "az://lake/data/".into(),
                endpoint: Some(azurite.endpoint.clone()),
                account: Some(azurite::ACCOUNT.into()),
                allow_http: true,
                credentials_file: Some(creds.path().to_path_buf()),
                ..Default::default()
            }),
        },
        false,
    )
    .await;
}

#[tokio::test]
async fn gcs_lake() {
    let gcs = FakeGcs::start().await;
    gcs.create_bucket("lake").await;
    // The emulator does not take object_store's XML uploads, so the lake is
    // written locally (by the same code) and uploaded through its JSON API;
    // the server reads it with the production GCS client.
    let dir = tempfile::tempdir().unwrap();
    let local = Lake {
        kind: "gcs",
        root: Arc::new(LocalFileSystem::new()),
        base: Url::from_directory_path(dir.path().canonicalize().unwrap()).unwrap(),
        config: None,
    };
    let between = write_lake(&local).await;
    gcs.upload_dir(dir.path(), "lake", "data/").await;
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key.path(),
        serde_json::json!({
            "gcs_base_url": gcs.base_url,
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        })
        .to_string(),
    )
    .unwrap();
    let remote = Lake {
        kind: "gcs",
        root: local.root,
        base: Url::parse("gs://lake/data/").unwrap(),
        config: Some(StoreConfig {
            url: "gs://lake/data/".into(),
            service_account_file: Some(key.path().to_path_buf()),
            ..Default::default()
        }),
    };
    serve_and_check(&remote, between, false).await;
}
