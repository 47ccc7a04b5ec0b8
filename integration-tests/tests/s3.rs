//! Datasets on S3 (a real moto_server on loopback) download like local ones.

use std::path::Path;

use arrow_flight::{FlightDescriptor, Ticket};
use laker_catalog::{
    DatasetFormat, DatasetName, DatasetOptions, NewDataset, PartitionColumn, PartitionType,
};
use laker_flight_server::config::stores::StoreConfig;
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{TestServer, demo_lake, fetch, rows, status};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tonic::Code;

use crate::reference;

const BUCKET: &str = "laker-lake";

/// Uploads `dir` (relative paths kept) under `prefix`, skipping non-data files
/// outside the months kept.
async fn upload(store: &dyn ObjectStore, root: &Path, dir: &Path, keep: &dyn Fn(&str) -> bool) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            Box::pin(upload(store, root, &path, keep)).await;
            continue;
        }
        let key = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if keep(&key) {
            let bytes = std::fs::read(&path).unwrap();
            store
                .put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes))
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn s3_datasets_download_like_local_ones() {
    let moto = MotoServer::start().await;
    moto.create_bucket(BUCKET).await;
    let s3 = moto.store(BUCKET);
    let lake = demo_lake().await;
    let two_months = |key: &str| {
        key.ends_with(".parquet")
            && (key.contains("zones")
                || key.contains("month=2024-01")
                || key.contains("month=2024-02"))
    };
    upload(s3.as_ref(), lake, &lake.join("demo"), &two_months).await;

    let creds_dir = tempfile::tempdir().unwrap();
    let creds = moto.credentials_file(creds_dir.path());
    let endpoint = moto.endpoint.clone();
    let s = TestServer::start_with(move |c| {
        c.stores.insert(
            "lake".into(),
            StoreConfig {
                url: format!("s3://{BUCKET}"),
                endpoint: Some(endpoint),
                region: Some("us-east-1".into()),
                allow_http: true,
                credentials_file: Some(creds),
                ..Default::default()
            },
        );
    })
    .await;
    s.catalog
        .ensure_namespace("s3", "datasets on S3")
        .await
        .unwrap();
    for (name, partitions) in [
        ("zones", None),
        (
            "trips",
            Some(vec![PartitionColumn {
                name: "month".into(),
                data_type: PartitionType::String,
            }]),
        ),
    ] {
        s.catalog
            .register_dataset(NewDataset {
                name: DatasetName::new("s3", name).unwrap(),
                description: String::new(),
                tags: vec![],
                format: DatasetFormat::Parquet,
                location: format!("s3://{BUCKET}/demo/{name}/"),
                owner: String::new(),
                options: DatasetOptions {
                    partition_columns: partitions,
                    ..Default::default()
                },
            })
            .await
            .unwrap();
    }
    s.catalog.grant("demo", "s3.*", "read").await.unwrap();
    let mut c = s.demo_client().await;

    let remote = fetch(&mut c, Ticket::new(r#"{"dataset": "s3.zones"}"#))
        .await
        .unwrap();
    let local = fetch(&mut c, Ticket::new(r#"{"dataset": "demo.zones"}"#))
        .await
        .unwrap();
    assert_eq!(rows(&remote), 60);
    assert_eq!(remote, local);

    let info = c
        .get_flight_info(FlightDescriptor::new_path(vec![
            "s3".into(),
            "trips".into(),
        ]))
        .await
        .unwrap();
    let two_month_rows =
        reference::count("SELECT count(*) FROM trips WHERE month <= '2024-02'").await;
    assert_eq!(info.total_records, two_month_rows as i64);
    assert!(
        info.endpoint.len() > 1,
        "several endpoints for parallel download"
    );
    let all = laker_integration_tests::fetch_all(&mut c, &info)
        .await
        .unwrap();
    assert_eq!(
        rows(&all),
        two_month_rows,
        "endpoints add up to the dataset"
    );

    let filter = "fare > 30 AND passengers >= 2 AND month = '2024-02'";
    let got = fetch(
        &mut c,
        Ticket::new(format!(
            r#"{{"dataset": "s3.trips", "columns": ["trip_id", "fare"], "filter": "{filter}"}}"#
        )),
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&got),
        reference::count(&format!("SELECT count(*) FROM trips WHERE {filter}")).await
    );
}

#[tokio::test]
async fn datasets_on_unconfigured_stores_say_so() {
    let s = TestServer::start().await;
    s.catalog.ensure_namespace("s3", "").await.unwrap();
    s.catalog
        .register_dataset(NewDataset {
            name: DatasetName::new("s3", "orphan").unwrap(),
            description: String::new(),
            tags: vec![],
            format: DatasetFormat::Parquet,
            location: "s3://nobody-configured-this/x/".into(),
            owner: String::new(),
            options: DatasetOptions::default(),
        })
        .await
        .unwrap();
    s.catalog.grant("demo", "s3.*", "read").await.unwrap();
    let mut c = s.demo_client().await;
    let e = status(
        fetch(&mut c, Ticket::new(r#"{"dataset": "s3.orphan"}"#))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.message(),
        "dataset 's3.orphan' is on a store this server has not configured"
    );
}
