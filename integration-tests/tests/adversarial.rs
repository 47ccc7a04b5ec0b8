//! The attacks of the hardening review against the real `laker-server`
//! binary: after each one the process is alive and serving; many stalled
//! downloads stay within the configured memory and give it back once their
//! clients are gone; a process killed during a call has that call audited
//! when the next one starts.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::CompressionType;
use arrow_flight::{FlightClient, FlightDescriptor};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, TryStreamExt};
use laker_catalog::Catalog;
use laker_integration_tests::craft::{claiming, flight_data, truncated};
use laker_integration_tests::process::ServerProcess;
use laker_integration_tests::{fetch_all, info_for, rows, status};
use tonic::Code;
use tonic::transport::Channel;

const MEMORY_LIMIT_MB: u64 = 512;

async fn login(url: &str, user: &str, password: &str) -> FlightClient {
    let mut client = connect(url).await;
    let basic = STANDARD.encode(format!("{user}:{password}"));
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

/// A client on a connection of its own.
async fn connect(url: &str) -> FlightClient {
    let channel = Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightClient::new(channel)
}

async fn catalog(dir: &std::path::Path) -> Catalog {
    Catalog::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("catalog.db").display()
    ))
    .await
    .unwrap()
}

/// An administrator `admin` and a principal `nobody` without grants.
async fn principals(dir: &std::path::Path) {
    let catalog = catalog(dir).await;
    let hash = laker_auth::password::hash_password("adversary-pw").unwrap();
    for name in ["admin", "nobody"] {
        catalog.create_user(name, &hash).await.unwrap();
    }
    for action in ["admin", "read", "write"] {
        catalog.grant("admin", "*", action).await.unwrap();
    }
    catalog.ensure_namespace("up", "").await.unwrap();
}

async fn alive(server: &mut ServerProcess, what: &str) {
    assert!(server.alive(), "the server died after {what}");
    let mut demo = login(&server.url(), "demo", "demo").await;
    let info = info_for(&mut demo, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    assert!(
        rows(&fetch_all(&mut demo, &info).await.unwrap()) > 0,
        "the server stopped serving after {what}"
    );
}

async fn download(client: &mut FlightClient, spec: serde_json::Value) -> tonic::Status {
    match info_for(client, &spec).await {
        Err(e) => status(e),
        Ok(info) => status(fetch_all(client, &info).await.unwrap_err()),
    }
}

fn numbers() -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..2_000)),
            Arc::new(StringArray::from_iter_values(
                (0..2_000).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap()
}

async fn put(
    client: &mut FlightClient,
    mut messages: Vec<arrow_flight::FlightData>,
) -> tonic::Status {
    messages[0].flight_descriptor = Some(FlightDescriptor::new_path(vec![
        "up".into(),
        "target".into(),
    ]));
    client
        .add_header("x-laker-upload-mode", "create_append")
        .unwrap();
    match client
        .do_put(futures::stream::iter(messages.into_iter().map(Ok)))
        .await
    {
        Err(e) => status(e),
        Ok(results) => status(
            results
                .try_collect::<Vec<_>>()
                .await
                .expect_err("the attack was accepted"),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_binary_leave_it_serving_within_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let limit = MEMORY_LIMIT_MB.to_string();
    let flags = [
        "--demo",
        "--demo-rows",
        "400000",
        "--memory-limit-mb",
        limit.as_str(),
        "--max-streams-per-user",
        "200",
    ];
    let mut server = ServerProcess::start(dir.path(), &flags);
    principals(dir.path()).await;
    alive(&mut server, "starting").await;
    let url = server.url();
    let mut demo = login(&url, "demo", "demo").await;
    let mut admin = login(&url, "admin", "adversary-pw").await;

    // 1. Deep expressions: a download filter and a statement of a user without grants.
    let deep = vec!["1"; 2_000].join("+");
    let e = download(
        &mut demo,
        serde_json::json!({"dataset": "demo.trips", "filter": format!("trip_id > {deep}")}),
    )
    .await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let mut nobody = arrow_flight::sql::client::FlightSqlServiceClient::new(
        Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    nobody.handshake("nobody", "adversary-pw").await.unwrap();
    let e = nobody
        .execute(format!("SELECT {}", vec!["1"; 2_500].join("+")), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--max-expr-depth"), "{e}");
    alive(&mut server, "deep expressions").await;

    // 2. Compressed buffers claiming a terabyte, and a truncated body.
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let mut messages = flight_data(&numbers(), Some(codec));
        messages[1] = claiming(messages[1].clone(), 1 << 40);
        let e = put(&mut admin, messages).await;
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    }
    let mut messages = flight_data(&numbers(), None);
    messages[1] = truncated(messages[1].clone());
    assert_eq!(
        put(&mut admin, messages).await.code(),
        Code::InvalidArgument
    );
    alive(&mut server, "IPC bombs").await;

    // 3. Tiny filters asking for gigabytes.
    for filter in [
        "length(repeat('x', 500000000)) > 0",
        "cardinality(range(0, 100000000)) > 0",
    ] {
        let e = download(
            &mut demo,
            serde_json::json!({"dataset": "demo.trips", "filter": filter}),
        )
        .await;
        assert!(e.message().contains("--max-function-output-mb"), "{e:?}");
    }
    alive(&mut server, "allocation bombs").await;

    // 4. Many stalled downloads of the whole table, one stream each, each
    // client on its own connection (a stalled stream holds its connection's
    // flow-control window).
    let bearer = demo
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    let baseline = server.rss();
    let mut stalled = Vec::new();
    let mut refused = 0;
    for _ in 0..120 {
        let ticket = arrow_flight::Ticket::new(r#"{"dataset": "demo.trips"}"#);
        // Read the first batch, then stop reading.
        let mut client = connect(&url).await;
        client.add_header("authorization", &bearer).unwrap();
        let opened = tokio::time::timeout(Duration::from_secs(40), async {
            let mut stream = client.do_get(ticket).await.map_err(status)?;
            match stream.next().await {
                Some(Err(e)) => Err(status(e)),
                _ => Ok(stream),
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "opening a download hung; server log:\n{}",
                server.log_tail()
            )
        });
        match opened {
            Ok(stream) => stalled.push((client, stream)),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                refused += 1;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = server.rss();
    eprintln!(
        "stalled downloads: {} open, {refused} refused; RSS {} MB before, {} MB with them",
        stalled.len(),
        baseline >> 20,
        held >> 20
    );
    assert!(refused > 0, "the memory limit admitted every stream");
    assert!(
        held < baseline + (MEMORY_LIMIT_MB << 20) + (128 << 20),
        "RSS {} MB exceeds the baseline {} MB plus the {} MB limit",
        held >> 20,
        baseline >> 20,
        MEMORY_LIMIT_MB
    );
    drop(stalled);
    let settled = server.settle_below(baseline + (96 << 20), Duration::from_secs(90));
    eprintln!("after the clients left: RSS {} MB", settled >> 20);
    assert!(
        settled < baseline + (96 << 20),
        "memory did not come back: {} MB against {} MB",
        settled >> 20,
        baseline >> 20
    );
    alive(&mut server, "stalled downloads").await;

    // 5. Killed during a call: the next start audits it as interrupted.
    let ticket = arrow_flight::Ticket::new(r#"{"dataset": "demo.trips", "filter": "fare > 1"}"#);
    let mut running = demo.do_get(ticket).await.unwrap();
    let _ = running.next().await;
    server.kill();
    drop(running);
    let mut server = ServerProcess::start(dir.path(), &flags);
    alive(&mut server, "a restart").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let records = catalog(dir.path())
            .await
            .audit_page(0, 100_000)
            .await
            .unwrap();
        if records.iter().any(|(_, r)| {
            r.outcome == "interrupted" && r.action == "DoGet" && r.detail.contains("fare > 1")
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the interrupted download was not audited"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
