//! Writes with the upload store on each kind of object store: the local
//! disk, S3 (a real moto_server) and Azure Blob Storage (a real Azurite).
//! On each, uploads create, append, retry and race (two concurrent appends
//! both land), a curated transform follows the landing commits, an ingest
//! job imports dropped files into a new dataset in the store, and 120
//! commits leave a Delta checkpoint in the store.
//!
//! Every commit relies on the store refusing to overwrite a Delta commit
//! file, atomically (`PutMode::Create`: `If-None-Match: *` on S3 and
//! Azure, as object_store sends it by default; a hard link on the local
//! disk); the tests check that each store refuses. moto checks the header
//! and then stores the object with no lock between, so racing writers could
//! both win where S3 lets one: the S3 tests run moto one request at a time
//! ([`MotoServer::start_serial`]), which makes its conditional writes atomic
//! as S3's are. Azurite checks and stores in one step. GCS is not here:
//! fake-gcs-server does not take the XML API uploads object_store writes
//! with (see docs/uploads.md).

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightClient;
use futures::TryStreamExt;
use laker_flight_server::config::stores::StoreConfig;
use laker_integration_tests::azurite::{self, Azurite};
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, upload};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use crate::ingest_support::{ints, ok, orders, put, run_job, strs, table};

/// The bucket (or container, or directory) both stores are folders of.
const BUCKET: &str = "writes";

/// One kind of object store under test: the server's two stores on it
/// (`lake`, the upload store, at `<bucket>/lake/`, and `inbox`, the store
/// `drop` where files are dropped for ingest jobs, at `<bucket>/drop/`) and
/// a client on the whole bucket.
struct WriteStore {
    kind: &'static str,
    lake: StoreConfig,
    inbox: StoreConfig,
    bucket: Arc<dyn ObjectStore>,
    /// The emulator and the credentials, alive as long as the store.
    _running: Box<dyn std::any::Any>,
}

/// A directory on the local disk.
async fn local() -> WriteStore {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let store = |folder: &str| {
        let path = root.join(folder);
        std::fs::create_dir_all(&path).unwrap();
        StoreConfig {
            url: url::Url::from_directory_path(path).unwrap().to_string(),
            ..Default::default()
        }
    };
    WriteStore {
        kind: "local",
        lake: store("lake"),
        inbox: store("drop"),
        bucket: Arc::new(LocalFileSystem::new_with_prefix(&root).unwrap()),
        _running: Box::new(dir),
    }
}

/// A bucket of a moto serving one request at a time.
async fn s3() -> WriteStore {
    let moto = MotoServer::start_serial().await;
    moto.create_bucket(BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    let credentials = moto.credentials_file(keys.path());
    let store = |folder: &str| StoreConfig {
        url: format!("s3://{BUCKET}/{folder}/"),
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        allow_http: true,
        credentials_file: Some(credentials.clone()),
        ..Default::default()
    };
    let (lake, inbox) = (store("lake"), store("drop"));
    WriteStore {
        kind: "s3",
        lake,
        inbox,
        bucket: moto.store(BUCKET),
        _running: Box::new((moto, keys)),
    }
}

/// A container of an Azurite.
async fn azure() -> WriteStore {
    let azurite = Azurite::start().await;
    azurite.create_container(BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    let credentials = keys.path().join("azure-credentials.toml");
    std::fs::write(
        &credentials,
        format!("account_key = \"{}\"\n", azurite::ACCOUNT_KEY),
    )
    .unwrap();
    let store = |folder: &str| StoreConfig {
        url: format!("az://{BUCKET}/{folder}/"),
        endpoint: Some(azurite.endpoint.clone()),
        account: Some(azurite::ACCOUNT.into()),
        allow_http: true,
        credentials_file: Some(credentials.clone()),
        ..Default::default()
    };
    let (lake, inbox) = (store("lake"), store("drop"));
    WriteStore {
        kind: "azure",
        lake,
        inbox,
        bucket: azurite.store(BUCKET),
        _running: Box::new((azurite, keys)),
    }
}

/// Runs scenario `$scenario` (an async fn taking a [`WriteStore`]) on each
/// store named, as the tests `<scenario>::<store>` (`local`, `s3`, `azure`).
macro_rules! on_stores {
    ($scenario:ident: $($store:ident),+) => {
        mod $scenario {
            $(
                #[tokio::test]
                async fn $store() {
                    super::$scenario(super::$store().await).await;
                }
            )+
        }
    };
}

// On Azure, connections Azurite closed after 5 idle seconds were once
// picked from the client's pool and reset under the next request (a
// concurrent one needs a second connection, idle since the last): a Delta
// commit, a conditional create, is not retried by object_store on a reset.
// The server's Azure stores now drop idle connections after 3 s and retry
// such a create, taking an object holding its own bytes as its own
// (`flight-server/src/config/retried.rs`, docs/uploads.md).
on_stores!(uploads_and_transform: local, s3, azure);
on_stores!(ingest_job: local, s3, azure);
on_stores!(checkpoint: local, s3, azure);

/// A server whose upload store is `store`'s `lake` (and which has its
/// `drop`), with namespace `w` the admin may write; the admin's client.
async fn serve(store: &WriteStore) -> (TestServer, FlightClient) {
    let (lake, inbox) = (store.lake.clone(), store.inbox.clone());
    let s = TestServer::start_with(move |c| {
        c.stores.insert("lake".into(), lake);
        c.stores.insert("drop".into(), inbox);
        c.upload_store = Some("lake".into());
    })
    .await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "w"})),
        (
            "grant",
            serde_json::json!({"user": "admin", "pattern": "w.*", "action": "write"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    (s, admin)
}

/// Rows `ids`, each with kind `k<id % 3>`.
fn events(ids: RangeInclusive<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let kinds: Vec<String> = ids.clone().map(|i| format!("k{}", i % 3)).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(kinds)),
        ],
    )
    .unwrap()
}

/// The (id, kind) rows [`events`] makes of `ids`.
fn expected(ids: RangeInclusive<i64>) -> Vec<(i64, String)> {
    ids.map(|i| (i, format!("k{}", i % 3))).collect()
}

/// The (id, kind) rows a download `spec` answers, sorted.
async fn id_kinds(client: &mut FlightClient, spec: serde_json::Value) -> Vec<(i64, String)> {
    let batch = table(client, spec).await;
    let kinds = strs(&batch, "kind")
        .into_iter()
        .map(Option::unwrap_or_default);
    let mut rows: Vec<(i64, String)> = ints(&batch, "id").into_iter().zip(kinds).collect();
    rows.sort();
    rows
}

/// The path in the bucket of `file` in the Delta log of the dataset at
/// `<lake>/<table>/`.
fn log_file(table: &str, file: &str) -> ObjectPath {
    ObjectPath::from(format!("lake/{table}/_delta_log/{file}"))
}

/// The names of the files in the Delta log of the dataset at
/// `<lake>/<table>/`, listed in the bucket, sorted.
async fn log_names(bucket: &dyn ObjectStore, table: &str) -> Vec<String> {
    let log = ObjectPath::from(format!("lake/{table}/_delta_log"));
    let mut names: Vec<String> = bucket
        .list(Some(&log))
        .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
        .try_collect()
        .await
        .unwrap();
    names.sort();
    names
}

/// The Delta commit file names of versions `versions`.
fn commits(versions: RangeInclusive<u64>) -> Vec<String> {
    versions.map(|v| format!("{v:020}.json")).collect()
}

/// The commit files (`<version>.json`) in the Delta log of the dataset at
/// `<lake>/<table>/`, sorted.
async fn commit_names(bucket: &dyn ObjectStore, table: &str) -> Vec<String> {
    let mut names = log_names(bucket, table).await;
    names.retain(|n| n.ends_with(".json"));
    names
}

/// The location the catalog holds for `dataset`.
async fn location(s: &TestServer, dataset: &str) -> String {
    let name = laker_catalog::DatasetName::parse(dataset).unwrap();
    s.catalog.dataset(&name).await.unwrap().location
}

/// Upload `w.events` (create, append, a retry, two appends at once) and a
/// curated dataset `w.curated` transformed from it, both in the store.
async fn uploads_and_transform(store: WriteStore) {
    let kind = store.kind;
    let (s, mut admin) = serve(&store).await;

    // Version 0 creates the dataset under the upload store.
    let created = upload(&mut admin, "w.events", "create", None, vec![events(1..=3)])
        .await
        .unwrap();
    assert_eq!(
        (created["version"].as_u64(), created["rows"].as_u64()),
        (Some(0), Some(3)),
        "{kind}: {created}"
    );
    assert_eq!(
        location(&s, "w.events").await,
        format!("{}w/events/", store.lake.url),
        "{kind}"
    );
    // The store refuses to overwrite a commit: what makes concurrent
    // commits safe (the loser of a version retries on top of the winner).
    let first = log_file("w/events", "00000000000000000000.json");
    let before = store
        .bucket
        .get(&first)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let again = store
        .bucket
        .put_opts(
            &first,
            PutPayload::from_static(b"{}\n"),
            PutMode::Create.into(),
        )
        .await;
    assert!(
        matches!(again, Err(object_store::Error::AlreadyExists { .. })),
        "{kind}: a Delta commit file was not protected: {again:?}"
    );
    let after = store
        .bucket
        .get(&first)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(before, after, "{kind}: the commit file changed");

    // A curated dataset in the store, transformed from the landing one:
    // its first run creates it from landing version 0.
    let declared = action(
        &mut admin,
        "register_dataset",
        serde_json::json!({
            "name": "w.curated",
            "location": format!("{}w/curated/", store.lake.url),
            "format": "delta",
            "options": {"transform": {
                "landing": "w.events",
                "sql": "SELECT id, upper(kind) AS kind, id * 10 AS tens FROM landing WHERE id % 2 = 1",
            }},
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        declared["options"]["transform"]["run_as"], "admin",
        "{kind}: {declared}"
    );
    until_curated(&mut admin, kind, &curated_of(1..=3)).await;
    let curated_log = commit_names(store.bucket.as_ref(), "w/curated").await;
    assert_eq!(
        curated_log.first(),
        commits(0..=0).first(),
        "{kind}: the curated table is not in the store"
    );

    // An append with an upload id, and its retry: committed once.
    let appended = upload(
        &mut admin,
        "w.events",
        "append",
        Some("batch-1"),
        vec![events(4..=5)],
    )
    .await
    .unwrap();
    assert_eq!(
        (
            appended["version"].as_u64(),
            appended["duplicate"].as_bool()
        ),
        (Some(1), Some(false)),
        "{kind}: {appended}"
    );
    let retried = upload(
        &mut admin,
        "w.events",
        "append",
        Some("batch-1"),
        vec![events(4..=5)],
    )
    .await
    .unwrap();
    assert_eq!(retried["duplicate"], true, "{kind}: {retried}");
    assert!(retried["version"].is_null(), "{kind}: {retried}");

    // Two appends at once: both land, in versions of their own.
    let mut one = s.admin_client().await;
    let mut two = s.admin_client().await;
    let (a, b) = tokio::join!(
        upload(
            &mut one,
            "w.events",
            "append",
            Some("together-1"),
            vec![events(6..=7)]
        ),
        upload(
            &mut two,
            "w.events",
            "append",
            Some("together-2"),
            vec![events(8..=9)]
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut versions = [a["version"].as_u64(), b["version"].as_u64()];
    versions.sort_unstable();
    assert_eq!(versions, [Some(2), Some(3)], "{kind}: {a} {b}");
    assert_eq!(
        commit_names(store.bucket.as_ref(), "w/events").await,
        commits(0..=3),
        "{kind}: one commit per upload"
    );

    // Every row once, with its values; the transform followed each commit.
    assert_eq!(
        id_kinds(&mut admin, serde_json::json!({"dataset": "w.events"})).await,
        expected(1..=9),
        "{kind}"
    );
    until_curated(&mut admin, kind, &curated_of(1..=9)).await;
}

/// What the transform makes of the landing rows `ids`: the odd ids, the
/// kind in capitals, ten times the id.
fn curated_of(ids: RangeInclusive<i64>) -> Vec<(i64, String, i64)> {
    expected(ids)
        .into_iter()
        .filter(|(id, _)| id % 2 == 1)
        .map(|(id, kind)| (id, kind.to_uppercase(), id * 10))
        .collect()
}

/// The rows of `w.curated`, sorted; `None` while it cannot be read.
async fn curated(client: &mut FlightClient) -> Option<Vec<(i64, String, i64)>> {
    let spec = serde_json::json!({"dataset": "w.curated"});
    let info = info_for(client, &spec).await.ok()?;
    let batches = fetch_all(client, &info).await.ok()?;
    let first = batches.first()?;
    let all = concat_batches(first.schema_ref(), &batches).ok()?;
    let mut rows: Vec<(i64, String, i64)> = ints(&all, "id")
        .into_iter()
        .zip(strs(&all, "kind"))
        .zip(ints(&all, "tens"))
        .map(|((id, kind), tens)| (id, kind.unwrap_or_default(), tens))
        .collect();
    rows.sort();
    Some(rows)
}

/// Polls `w.curated` until it holds `want` (transforms run in the
/// background after each landing commit).
async fn until_curated(client: &mut FlightClient, kind: &str, want: &[(i64, String, i64)]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = curated(client).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind}: curated rows are {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An ingest job takes the files dropped under `drop/in/` and lands them
/// in a new dataset `w.dropped`, made under the upload store.
async fn ingest_job(store: WriteStore) {
    let kind = store.kind;
    let (s, mut admin) = serve(&store).await;
    let bucket = store.bucket.as_ref();
    put(bucket, "drop/in/a_orders.csv", &orders(1..=2)).await;
    put(bucket, "drop/in/b_orders.csv", &orders(3..=4)).await;
    put(bucket, "drop/elsewhere.csv", &orders(90..=91)).await;
    ok(
        &mut admin,
        "create_ingest_job",
        serde_json::json!({
            "name": "w_drop",
            "source": {"store": "drop", "prefix": "in/", "pattern": "*.csv", "format": "csv"},
            "target": "w.dropped",
        }),
    )
    .await;
    let report = run_job(&mut admin, "w_drop").await.unwrap();
    assert_eq!(
        (
            report["outcome"].as_str(),
            report["files"].as_u64(),
            report["rows"].as_u64(),
            report["delta_version"].as_u64()
        ),
        (Some("ok"), Some(2), Some(4), Some(0)),
        "{kind}: {report}"
    );
    assert_eq!(
        report["rejected"],
        serde_json::json!([]),
        "{kind}: {report}"
    );
    assert_eq!(
        location(&s, "w.dropped").await,
        format!("{}w/dropped/", store.lake.url),
        "{kind}"
    );
    assert_eq!(
        commit_names(bucket, "w/dropped").await,
        commits(0..=0),
        "{kind}: the dataset is not in the store"
    );

    let batch = table(&mut admin, serde_json::json!({"dataset": "w.dropped"})).await;
    let mut rows: Vec<(i64, Option<String>, Option<String>)> = ints(&batch, "id")
        .into_iter()
        .zip(strs(&batch, "amount"))
        .zip(strs(&batch, "city"))
        .map(|((id, amount), city)| (id, amount, city))
        .collect();
    rows.sort();
    let want: Vec<(i64, Option<String>, Option<String>)> = (1..=4)
        .map(|id| (id, Some(format!("{id}.5")), Some("Oslo".to_string())))
        .collect();
    assert_eq!(rows, want, "{kind}");
}

/// 120 one-row uploads: the commit that makes version 99 writes a
/// checkpoint into the store, and downloads still return every row.
async fn checkpoint(store: WriteStore) {
    const COMMITS: i64 = 120;
    let kind = store.kind;
    let (_s, mut admin) = serve(&store).await;
    for i in 0..COMMITS {
        let mode = if i == 0 { "create" } else { "append" };
        let done = upload(&mut admin, "w.many", mode, None, vec![events(i..=i)])
            .await
            .unwrap();
        assert_eq!(done["version"], i, "{kind}: {done}");
    }
    let names = log_names(store.bucket.as_ref(), "w/many").await;
    for file in [
        "_last_checkpoint",
        "00000000000000000099.checkpoint.parquet",
    ] {
        assert!(
            names.iter().any(|n| n == file),
            "{kind}: no {file} in {names:?}"
        );
    }
    let hint = store
        .bucket
        .get(&log_file("w/many", "_last_checkpoint"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let hint: serde_json::Value = serde_json::from_slice(&hint).unwrap();
    assert_eq!(hint["version"], 99, "{kind}: {hint}");

    assert_eq!(
        id_kinds(&mut admin, serde_json::json!({"dataset": "w.many"})).await,
        expected(0..=COMMITS - 1),
        "{kind}"
    );
    // Time travel to before the checkpoint still reads the JSON commits.
    let spec = serde_json::json!({"dataset": "w.many", "version": 10});
    assert_eq!(id_kinds(&mut admin, spec).await, expected(0..=10), "{kind}");
}
