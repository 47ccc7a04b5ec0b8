//! Retention on a clock and Delta checkpoints: a dataset nothing lands in
//! any more is pruned by the server's retention passes, and the files they
//! removed from its table are deleted from the store after the deletion
//! delay (not before) while its current files stay; a table with hundreds
//! of commits gets checkpoints and still downloads whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;
use laker_flight_server::{RunningServer, ServerConfig, ServerOptions};
use laker_integration_tests::{TestServer, action, fetch_all, info_for, upload};
use laker_query::tables::delta::log_store;
use object_store::local::LocalFileSystem;
use tonic::transport::Channel;
use url::Url;

/// How long a background effect may take to show.
const DEADLINE: Duration = Duration::from_secs(60);

/// The password `TestServer::admin_client` gives the `admin` user.
const ADMIN_PASSWORD: &str = "admin-secret";

fn ids_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(ids))]).unwrap()
}

/// The ids `spec` downloads, sorted.
async fn ids(client: &mut FlightClient, spec: serde_json::Value) -> Vec<i64> {
    let info = info_for(client, &spec).await.unwrap();
    let batches = fetch_all(client, &info).await.unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("id").unwrap();
            let ids = column.as_any().downcast_ref::<Int64Array>().unwrap();
            ids.values().to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The Parquet files directly in `dir`, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Makes the file the Delta commit at `commit` added look landed `days` ago.
fn age(commit: &Path, days: i64) {
    let log = std::fs::read_to_string(commit).unwrap();
    let then = chrono::Utc::now().timestamp_millis() - days * 86_400_000;
    let key = "\"modificationTime\":";
    let start = log.find(key).unwrap() + key.len();
    let end = start + log[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let aged = format!("{}{then}{}", &log[..start], &log[end..]);
    std::fs::write(commit, aged).unwrap();
}

/// Waits until `done` holds (a background pass did its work).
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of `server` signed in as the admin.
async fn admin_of(server: &RunningServer) -> FlightClient {
    let channel = Channel::from_shared(format!("http://{}", server.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightClient::new(channel);
    let basic = STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    client
        .add_header("authorization", &format!("Basic {basic}"))
        .unwrap();
    let token = client.handshake(Vec::<u8>::new()).await.unwrap();
    let token = String::from_utf8(token.to_vec()).unwrap();
    client
        .add_header("authorization", &format!("Bearer {token}"))
        .unwrap();
    client
}

#[tokio::test]
async fn an_idle_dataset_is_pruned_on_the_clock_and_removed_files_deleted_after_the_delay() {
    let s = TestServer::start_with(|c| {
        c.retention_interval = Some(Duration::from_secs(1));
    })
    .await;
    let mut admin = s.admin_client().await;
    // A Delta table written before Laker knew it, which nothing uploads to:
    // version 0 (ids 1, 2) landed ten days ago, version 1 (id 3) now.
    let dir = s.lake_dir().join("idle/events");
    std::fs::create_dir_all(&dir).unwrap();
    let url = Url::from_directory_path(&dir).unwrap();
    let table = DeltaTable::new(log_store(&url, Arc::new(LocalFileSystem::new())).unwrap());
    let table = table
        .write(vec![ids_batch(1..3)])
        .with_save_mode(SaveMode::ErrorIfExists)
        .await
        .unwrap();
    let old = parquet_files(&dir);
    assert_eq!(old.len(), 1);
    let table = table
        .write(vec![ids_batch(3..4)])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(table.version(), Some(1));
    let current: Vec<PathBuf> = parquet_files(&dir)
        .into_iter()
        .filter(|p| !old.contains(p))
        .collect();
    assert_eq!(current.len(), 1);
    age(&dir.join("_delta_log/00000000000000000000.json"), 10);

    action(
        &mut admin,
        "create_namespace",
        serde_json::json!({"name": "idle"}),
    )
    .await
    .unwrap();
    let registered = action(
        &mut admin,
        "register_dataset",
        serde_json::json!({
            "name": "idle.events",
            "location": url.as_str(),
            "format": "delta",
            "options": {"retention_days": 7},
        }),
    )
    .await
    .unwrap();
    assert_eq!(registered["options"]["retention_days"], 7, "{registered}");

    // No upload: the clock removes the old file from the table.
    let spec = serde_json::json!({"dataset": "idle.events"});
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let got = ids(&mut admin, spec.clone()).await;
        if got == [3] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows still there: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counted = s.server.metrics().retention();
    until("a file removed", || counted.files_removed() == 1).await;
    // A whole pass later the file is still in the store: it is deleted only
    // a day (the default delay) after its removal.
    let passes = counted.passes();
    until("one more pass", || counted.passes() > passes).await;
    assert!(old[0].exists(), "deleted before the delay");
    assert!(current[0].exists());
    assert_eq!((counted.files_deleted(), counted.failures()), (0, 0));

    // Restarted with no deletion delay, the server deletes the removed file
    // and keeps the current one.
    let TestServer {
        server, dir: data, ..
    } = s;
    server.shutdown().await;
    let mut config = ServerConfig::with_data_dir(data.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.retention_interval = Some(Duration::from_secs(1));
    config.retention_delete_after = Duration::ZERO;
    let restarted = laker_flight_server::start(&config, ServerOptions::default())
        .await
        .unwrap();
    let counted = restarted.metrics().retention();
    until("a file deleted", || counted.files_deleted() == 1).await;
    assert!(!old[0].exists(), "the removed file is still in the store");
    assert!(current[0].exists(), "the current file was deleted");
    assert_eq!(counted.files_removed(), 0, "nothing more to remove");
    let mut admin = admin_of(&restarted).await;
    assert_eq!(ids(&mut admin, spec).await, [3]);
    restarted.shutdown().await;
}

#[tokio::test]
async fn a_table_of_hundreds_of_commits_is_checkpointed_and_downloads_whole() {
    const COMMITS: i64 = 250;
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "cp"})),
        (
            "grant",
            serde_json::json!({"user": "admin", "pattern": "cp.*", "action": "write"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    for i in 0..COMMITS {
        let mode = if i == 0 { "create" } else { "append" };
        let done = upload(
            &mut admin,
            "cp.events",
            mode,
            None,
            vec![ids_batch(i..i + 1)],
        )
        .await
        .unwrap();
        assert_eq!(done["version"], i, "{done}");
    }
    // The commits that reached versions 99 and 199 wrote checkpoints; the
    // hint names the newest, so a load reads it and the 50 commits after.
    let log = s.lake_dir().join("cp/events/_delta_log");
    let hint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(hint["version"], 199, "{hint}");
    for version in [99, 199] {
        let checkpoint = log.join(format!("{version:020}.checkpoint.parquet"));
        assert!(checkpoint.is_file(), "no {}", checkpoint.display());
    }
    // Log files younger than the log retention (30 days) are all kept.
    assert!(log.join("00000000000000000000.json").is_file());

    let all = ids(&mut admin, serde_json::json!({"dataset": "cp.events"})).await;
    assert_eq!(all, (0..COMMITS).collect::<Vec<_>>());
    // Time travel before the checkpoints still works.
    let spec = serde_json::json!({"dataset": "cp.events", "version": 10});
    assert_eq!(ids(&mut admin, spec).await, (0..11).collect::<Vec<_>>());
}
