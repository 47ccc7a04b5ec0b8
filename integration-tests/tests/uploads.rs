//! Uploads through DoPut into Delta datasets: create, append, replace,
//! idempotent retries, schema checks, and nothing visible after a refusal.

use std::sync::Arc;

use arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightClient, FlightData, FlightDescriptor};
use futures::TryStreamExt;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, rows, status, upload};
use tonic::Code;

const PASSWORD: &str = "writer-password-1";

fn events(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let kinds: Vec<String> = ids.clone().map(|i| format!("k{}", i % 3)).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.collect::<Vec<_>>())),
            Arc::new(StringArray::from(kinds)),
        ],
    )
    .unwrap()
}

/// Uploads `batches` to `up.events` with `mode` and an optional upload id;
/// returns the DoPut result's JSON.
async fn put(
    client: &mut FlightClient,
    mode: &str,
    upload_id: Option<&str>,
    batches: Vec<RecordBatch>,
) -> Result<serde_json::Value, tonic::Status> {
    upload(client, "up.events", mode, upload_id, batches).await
}

async fn count(client: &mut FlightClient) -> usize {
    let info = info_for(client, &serde_json::json!({"dataset": "up.events"}))
        .await
        .unwrap();
    rows(&fetch_all(client, &info).await.unwrap())
}

async fn writer_server() -> (TestServer, FlightClient) {
    let (s, writer, _admin) = writer_server_with(|_| {}).await;
    (s, writer)
}

/// A server (configured by `tweak`) with namespace `up`, a `writer` who may
/// read and write it, and an admin client.
async fn writer_server_with(
    tweak: impl FnOnce(&mut laker_flight_server::ServerConfig),
) -> (TestServer, FlightClient, FlightClient) {
    let s = TestServer::start_with(tweak).await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "up"})),
        (
            "create_user",
            serde_json::json!({"name": "writer", "password": PASSWORD}),
        ),
        (
            "grant",
            serde_json::json!({"user": "writer", "pattern": "up.*", "action": "write"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "writer", "pattern": "up.*", "action": "read"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    let writer = s.login("writer", PASSWORD).await.unwrap();
    (s, writer, admin)
}

#[tokio::test]
async fn create_append_retry_and_replace() {
    let (_s, mut w, mut admin) = writer_server_with(|_| {}).await;
    let created = put(&mut w, "create", None, vec![events(0..10)])
        .await
        .unwrap();
    assert_eq!(created["version"], 0);
    assert_eq!(created["rows"], 10);
    assert_eq!(count(&mut w).await, 10);

    let appended = put(
        &mut w,
        "append",
        Some("batch-1"),
        vec![events(10..15), events(15..20)],
    )
    .await
    .unwrap();
    assert_eq!(appended["version"], 1);
    assert_eq!(appended["rows"], 10);
    assert_eq!(appended["duplicate"], false);
    // A retry of the same upload commits nothing.
    let retried = put(&mut w, "append", Some("batch-1"), vec![events(10..20)])
        .await
        .unwrap();
    assert_eq!(retried["duplicate"], true, "{retried}");
    assert_eq!(count(&mut w).await, 20);

    // Creating it again is refused.
    let e = put(&mut w, "create", None, vec![events(0..1)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    let replaced = put(&mut w, "replace", None, vec![events(100..103)])
        .await
        .unwrap();
    assert_eq!(replaced["version"], 2);
    assert_eq!(count(&mut w).await, 3);

    // Each upload is audited with its dataset, outcome and rows.
    use crate::audit::{audit_rows, row};
    let puts = audit_rows(&mut admin, "principal = 'writer' AND action = 'DoPut'").await;
    assert_eq!(
        puts,
        vec![
            row("writer", "DoPut", "up.events", "ok", 10),
            row("writer", "DoPut", "up.events", "ok", 10),
            row("writer", "DoPut", "up.events", "ok", 0),
            row("writer", "DoPut", "up.events", "already_exists", 0),
            row("writer", "DoPut", "up.events", "ok", 3),
        ]
    );
    // The record's detail is the answer: the version and the upload id.
    let spec = serde_json::json!({
        "dataset": "system.audit",
        "columns": ["detail"],
        "filter": "principal = 'writer' AND action = 'DoPut' AND outcome = 'ok'",
    });
    let info = info_for(&mut admin, &spec).await.unwrap();
    let answers: Vec<serde_json::Value> = fetch_all(&mut admin, &info)
        .await
        .unwrap()
        .iter()
        .flat_map(|b| {
            let details = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            details
                .iter()
                .map(|d| serde_json::from_str(d.unwrap()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[1]["version"], 1);
    assert_eq!(answers[1]["upload_id"], "batch-1");
    assert_eq!(answers[2]["duplicate"], true);
    assert_eq!(answers[3]["version"], 2);
}

#[tokio::test]
async fn refused_uploads_leave_the_dataset_unchanged() {
    let (s, mut w) = writer_server().await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();

    // A column of the wrong type.
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"]))],
    )
    .unwrap();
    let e = put(&mut w, "append", None, vec![wrong]).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .contains("column 'id' is Int64 in the dataset but the upload sends Utf8"),
        "{}",
        e.message()
    );

    // Nulls in a required column, after a good batch: the whole upload is refused.
    let nullable = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let batch = |ids: Vec<Option<i64>>| {
        let kinds = StringArray::from(vec![Some("k"); ids.len()]);
        RecordBatch::try_new(
            Arc::clone(&nullable),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(kinds)],
        )
        .unwrap()
    };
    let good = batch(vec![Some(5), Some(6), Some(7)]);
    let bad = batch(vec![Some(8), None]);
    let e = put(&mut w, "append", None, vec![good, bad])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .contains("rule 'not null' violated: column 'id'"),
        "{}",
        e.message()
    );
    assert!(e.message().contains("rows 4"), "{}", e.message());
    assert_eq!(
        count(&mut w).await,
        5,
        "nothing of the refused uploads is visible"
    );

    // Widening and a new nullable column are accepted.
    let widened = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("note", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int32Array::from(vec![50, 51])),
            Arc::new(StringArray::from(vec![Some("n"), None])),
        ],
    )
    .unwrap();
    let ok = put(&mut w, "append", None, vec![widened]).await.unwrap();
    assert_eq!(ok["rows"], 2);
    assert_eq!(count(&mut w).await, 7);

    // Garbage instead of Arrow.
    let garbage = FlightData {
        flight_descriptor: Some(FlightDescriptor::new_path(vec![
            "up".into(),
            "events".into(),
        ])),
        data_header: b"not arrow at all".to_vec().into(),
        ..Default::default()
    };
    let e = status(
        w.do_put(futures::stream::iter([Ok::<_, FlightError>(garbage)]))
            .await
            .err()
            .unwrap(),
    );
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Without the write grant.
    let mut demo = s.demo_client().await;
    let e = put(&mut demo, "append", None, vec![events(0..1)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert_eq!(count(&mut w).await, 7);
}

#[tokio::test]
async fn uploads_over_the_limits_are_resource_exhausted() {
    let (_s, mut w, _admin) = writer_server_with(|c| c.upload_limits.max_rows = 5).await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let e = put(&mut w, "append", None, vec![events(5..8), events(8..11)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("limit of 5 rows"), "{}", e.message());
    assert_eq!(count(&mut w).await, 5);
}

#[tokio::test]
async fn a_client_that_goes_away_midway_commits_nothing() {
    let (s, mut w) = writer_server().await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let descriptor = FlightDescriptor::new_path(vec!["up".into(), "events".into()]);
    // Two good batches, then the client's stream breaks.
    let batches = futures::stream::iter(vec![
        Ok(events(5..10)),
        Ok(events(10..15)),
        Err(FlightError::protocol("client crashed")),
    ]);
    let data = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(descriptor))
        .build(batches);
    let outcome = match w.do_put(data).await {
        Ok(results) => results.try_collect::<Vec<_>>().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the upload cannot have succeeded");
    assert_eq!(
        count(&mut w).await,
        5,
        "nothing of the broken upload is visible"
    );
    // The files the broken upload wrote are deleted again (by the server,
    // after the client has gone: poll for it).
    let table = s.lake_dir().join("up/events");
    let data_files = || {
        std::fs::read_dir(&table)
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_type().unwrap().is_file()
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while data_files() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} data files in the table, 1 committed",
            data_files()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The dataset takes the next upload as usual.
    let next = put(&mut w, "append", None, vec![events(5..7)])
        .await
        .unwrap();
    assert_eq!(next["version"], 1);
    assert_eq!(count(&mut w).await, 7);
}

#[tokio::test]
async fn dataset_rules_refuse_whole_uploads_and_name_the_rows() {
    let (_s, mut w, mut admin) = writer_server_with(|_| {}).await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let rules = serde_json::json!([
        {"range": {"column": "id", "min": 0, "max": 1000}},
        {"allowed": {"column": "kind", "values": ["k0", "k1", "k2"]}},
        {"check": {"name": "even_k0", "sql": "kind <> 'k0' OR id % 2 = 0 OR id % 3 = 0"}},
        {"unique": {"columns": ["id"]}}
    ]);
    action(
        &mut admin,
        "update_dataset",
        serde_json::json!({"name": "up.events", "options": {"rules": rules}}),
    )
    .await
    .unwrap();

    // A key repeated across two batches of one upload.
    let e = put(&mut w, "append", None, vec![events(10..20), events(15..16)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .contains("rule unique(id) violated by 1 row(s) of this batch, e.g. row 10 (id=15)"),
        "{}",
        e.message()
    );
    // Out of range.
    let e = put(&mut w, "append", None, vec![events(999..1002)])
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("rule range(id) violated by 1 row(s) of this batch, e.g. row 2 (id=1001)"),
        "{}",
        e.message()
    );
    assert_eq!(
        count(&mut w).await,
        5,
        "refused uploads leave nothing behind"
    );
    // A bad rule is refused when it is declared.
    let e = status(
        action(
            &mut admin,
            "update_dataset",
            serde_json::json!({"name": "up.events", "options": {"rules": [{"range": {"column": "id"}}]}}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    // Rows that meet every rule go in.
    let ok = put(&mut w, "append", None, vec![events(100..110)])
        .await
        .unwrap();
    assert_eq!(ok["rows"], 10);
    assert_eq!(count(&mut w).await, 15);
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 to the first request
/// and 200 after, and hands over each request's headers and body.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/laker", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut buf).await.unwrap();
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break (head, data[end + 4..end + 4 + length].to_vec());
                    }
                }
                if n == 0 {
                    return;
                }
            };
            served += 1;
            let status = if served == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let reply =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            socket.write_all(reply.as_bytes()).await.unwrap();
            let _ = tx.send((head, body));
        }
    });
    (url, rx)
}

#[tokio::test]
async fn commits_are_announced_by_a_signed_webhook_with_retries() {
    let (url, mut hooks) = webhook_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook.secret");
    std::fs::write(&secret_file, "a-shared-webhook-secret").unwrap();
    let webhook_url = url.clone();
    let (_s, mut w, _admin) = writer_server_with(move |c| {
        c.notify.webhook_url = Some(webhook_url);
        c.notify.webhook_secret_file = Some(secret_file);
        c.notify_backoff = laker_ingest::notify::Backoff {
            first: std::time::Duration::from_millis(20),
            max: std::time::Duration::from_millis(100),
        };
    })
    .await;
    let done = put(&mut w, "create", Some("first-load"), vec![events(0..4)])
        .await
        .unwrap();
    assert_eq!(done["version"], 0);

    // The webhook: refused once (500), then delivered again, signed.
    let wait = std::time::Duration::from_secs(30);
    let (_, first) = tokio::time::timeout(wait, hooks.recv())
        .await
        .unwrap()
        .unwrap();
    let (head, body) = tokio::time::timeout(wait, hooks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, body, "the retry carries the same event");
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["dataset"], "up.events");
    assert_eq!(event["version"], 0);
    assert_eq!(event["rows"], 4);
    assert_eq!(event["principal"], "writer");
    assert_eq!(event["upload_id"], "first-load");
    assert_eq!(event["mode"], "create");
    let expected = laker_ingest::notify::signature(b"a-shared-webhook-secret", &body);
    assert!(
        head.contains(&format!("x-laker-signature: {expected}")),
        "{head}"
    );
    // The event's id, in the body and a header, is a UUID.
    let id = event["event_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.matches('-').count(), 4, "{id}");
    assert!(head.contains(&format!("x-laker-event-id: {id}")), "{head}");
}

#[tokio::test]
async fn a_table_left_without_its_catalog_entry_is_found_again() {
    let (_s, mut w, mut admin) = writer_server_with(|_| {}).await;
    put(&mut w, "create", None, vec![events(0..4)])
        .await
        .unwrap();
    // The catalog entry goes; the Delta table stays in the lake.
    action(
        &mut admin,
        "delete_dataset",
        serde_json::json!({"name": "up.events"}),
    )
    .await
    .unwrap();
    let e = put(&mut w, "create", None, vec![events(4..6)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(
        e.message().contains("a Delta table already exists"),
        "{}",
        e.message()
    );
    // create_append appends to that table (no second version 0) and registers it.
    let again = put(&mut w, "create_append", None, vec![events(4..6)])
        .await
        .unwrap();
    assert_eq!(again["version"], 1);
    assert_eq!(count(&mut w).await, 6);
}

/// `up.events`-shaped rows whose `id` column is nullable; `null_at` puts a
/// null there.
fn nullable_events(ids: std::ops::Range<i64>, null_at: Option<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let kinds: Vec<String> = ids
        .clone()
        .map(|i| format!("{:x}", i.wrapping_mul(0x1E37_79B9_7F4A_7C15)))
        .collect();
    let values: Vec<Option<i64>> = ids.map(|i| (Some(i) != null_at).then_some(i)).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(values)),
            Arc::new(StringArray::from(kinds)),
        ],
    )
    .unwrap()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
        .count()
}

#[tokio::test]
async fn a_refused_upload_deletes_the_files_it_wrote() {
    // Small data files, so an upload writes several before it ends.
    let (s, mut w, _admin) = writer_server_with(|c| {
        c.upload_limits.target_file_bytes = 64 << 10;
    })
    .await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let table = s.lake_dir().join("up/events");
    assert_eq!(files_in(&table), 1);
    let many = |start: i64, null_at: Option<i64>| {
        (0..20)
            .map(|b| nullable_events(start + b * 5000..start + (b + 1) * 5000, null_at))
            .collect::<Vec<_>>()
    };
    // An upload of this size is written as several files.
    put(&mut w, "append", None, many(1_000, None))
        .await
        .unwrap();
    let after_good = files_in(&table);
    assert!(after_good >= 4, "{after_good} files");
    // The same, with a null id in its last batch: refused after the earlier
    // batches were written, and their files are gone when the answer comes.
    let refused = put(&mut w, "append", None, many(200_000, Some(299_999)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(files_in(&table), after_good);
    assert_eq!(count(&mut w).await, 5 + 100_000);
}

#[tokio::test]
async fn a_download_started_before_a_commit_reads_the_old_version() {
    let (_s, mut w) = writer_server().await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let before = info_for(&mut w, &serde_json::json!({"dataset": "up.events"}))
        .await
        .unwrap();
    put(&mut w, "replace", None, vec![events(100..102)])
        .await
        .unwrap();
    put(&mut w, "append", None, vec![events(102..103)])
        .await
        .unwrap();
    // The tickets handed out before the commits read version 0.
    let old = fetch_all(&mut w, &before).await.unwrap();
    assert_eq!(rows(&old), 5);
    // A download started after them reads the latest version.
    assert_eq!(count(&mut w).await, 3);
}

#[tokio::test]
async fn concurrent_retries_of_one_upload_commit_once() {
    let (s, mut w) = writer_server().await;
    put(&mut w, "create", None, vec![events(0..5)])
        .await
        .unwrap();
    let s = &s;
    let attempts = (0..8).map(|_| async move {
        let mut client = s.login("writer", PASSWORD).await.unwrap();
        put(
            &mut client,
            "append",
            Some("same-batch"),
            vec![events(5..15)],
        )
        .await
        .unwrap()
    });
    let answers = futures::future::join_all(attempts).await;
    let fresh = answers.iter().filter(|a| a["duplicate"] == false).count();
    assert_eq!(fresh, 1, "{answers:?}");
    assert_eq!(count(&mut w).await, 15);
}

#[tokio::test]
async fn uploads_create_datasets_in_the_configured_upload_store() {
    let shared = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(shared.path()).unwrap();
    let (s, mut w, mut admin) = writer_server_with(|c| {
        c.stores.insert(
            "shared".into(),
            laker_flight_server::config::stores::StoreConfig {
                url: url.to_string(),
                ..Default::default()
            },
        );
        c.upload_store = Some("shared".into());
    })
    .await;
    let created = put(&mut w, "create", None, vec![events(0..10)])
        .await
        .unwrap();
    assert_eq!(created["rows"], 10);
    assert_eq!(count(&mut w).await, 10);
    let described = action(
        &mut admin,
        "describe_dataset",
        serde_json::json!({"name": "up.events"}),
    )
    .await
    .unwrap();
    assert_eq!(
        described["location"],
        format!("{url}up/events/"),
        "{described}"
    );
    let log = shared.path().join("up/events/_delta_log");
    assert!(log.join("00000000000000000000.json").is_file());
    assert!(
        !s.lake_dir().join("up").exists(),
        "nothing in the data directory's lake"
    );

    let e = laker_flight_server::start(
        &{
            let mut c = laker_flight_server::ServerConfig::with_data_dir(s.dir.path());
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.upload_store = Some("nowhere".into());
            c
        },
        Default::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--upload-store 'nowhere' is not a configured store"
    );
}
