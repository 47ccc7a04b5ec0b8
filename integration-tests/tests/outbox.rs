//! Durable commit notifications: the catalog's outbox claims, backs off and
//! marks delivered on each backend; a webhook that is down across a server
//! restart still gets every event, once per event id; an ingest run whose
//! server stopped between its commit and its announcement is announced by
//! the run that finishes it, once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use laker_catalog::CatalogError;
use laker_flight_server::ServerConfig;
use laker_ingest::jobs::announce::event_id as run_event_id;
use laker_ingest::notify::{Backoff, signature};
use laker_integration_tests::{TestServer, action, upload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::catalog::catalogs;
use crate::ingest_support::{dir_store, ints, ok, orders, run_job, runs};

const SECRET: &[u8] = b"a-shared-webhook-secret";

#[tokio::test]
async fn the_outbox_claims_backs_off_and_delivers() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let t0 = 1_000_000;
        c.enqueue_notification("e1", &["webhook", "nats"], r#"{"n":1}"#, t0)
            .await
            .unwrap();
        c.enqueue_notification("e2", &["webhook"], r#"{"n":2}"#, t0 + 1)
            .await
            .unwrap();
        // Recording an event again changes nothing.
        c.enqueue_notification("e1", &["webhook"], r#"{"n":"again"}"#, t0 + 2)
            .await
            .unwrap();
        assert_eq!(c.pending_notifications().await.unwrap(), 3, "{backend:?}");

        // Oldest first, in bounded batches; what one claimer holds, no other gets.
        let a = c
            .claim_notifications("webhook", "replica-a", t0 + 10, 60_000, 1)
            .await
            .unwrap();
        assert_eq!(a.len(), 1, "{backend:?}");
        assert_eq!(a[0].event_id, "e1");
        assert_eq!(a[0].payload, r#"{"n":1}"#);
        assert_eq!(a[0].attempts, 0);
        assert_eq!(a[0].claimed_by.as_deref(), Some("replica-a"));
        assert_eq!(a[0].claimed_until, t0 + 10 + 60_000);
        let b = c
            .claim_notifications("webhook", "replica-b", t0 + 10, 60_000, 10)
            .await
            .unwrap();
        let b_ids: Vec<&str> = b.iter().map(|n| n.event_id.as_str()).collect();
        assert_eq!(b_ids, ["e2"], "{backend:?}");
        let none = c
            .claim_notifications("webhook", "replica-c", t0 + 20, 60_000, 10)
            .await
            .unwrap();
        assert!(none.is_empty(), "{backend:?}: {none:?}");
        // Each sink has its own row of the event.
        let nats = c
            .claim_notifications("nats", "replica-b", t0 + 20, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(nats.len(), 1, "{backend:?}");
        assert_eq!(
            (nats[0].event_id.as_str(), nats[0].sink.as_str()),
            ("e1", "nats")
        );

        // A failure is recorded by the claimer only, and backs off.
        let not_mine = c
            .notification_failed("e1", "webhook", "replica-b", "refused", t0 + 1_000)
            .await
            .unwrap();
        assert!(!not_mine, "{backend:?}");
        let failed = c
            .notification_failed("e1", "webhook", "replica-a", "answered 500", t0 + 1_000)
            .await
            .unwrap();
        assert!(failed, "{backend:?}");
        let row = c.notification("e1", "webhook").await.unwrap().unwrap();
        assert_eq!(row.attempts, 1);
        assert_eq!(row.next_attempt_at, t0 + 1_000);
        assert_eq!(row.last_error.as_deref(), Some("answered 500"));
        assert_eq!((row.claimed_by, row.claimed_until), (None, 0));
        assert_eq!(row.delivered_at, None);
        let early = c
            .claim_notifications("webhook", "replica-a", t0 + 999, 60_000, 10)
            .await
            .unwrap();
        assert!(early.is_empty(), "{backend:?}: not due yet: {early:?}");
        let due = c
            .claim_notifications("webhook", "replica-a", t0 + 1_000, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{backend:?}");
        assert_eq!((due[0].event_id.as_str(), due[0].attempts), ("e1", 1));

        // Delivered once; a second report changes nothing.
        assert!(
            c.notification_delivered("e1", "webhook", t0 + 1_100)
                .await
                .unwrap()
        );
        assert!(
            !c.notification_delivered("e1", "webhook", t0 + 1_200)
                .await
                .unwrap()
        );
        let row = c.notification("e1", "webhook").await.unwrap().unwrap();
        assert_eq!((row.delivered_at, row.attempts), (Some(t0 + 1_100), 2));
        assert_eq!(c.pending_notifications().await.unwrap(), 2, "{backend:?}");

        // replica-b holds e2 and dies: its claim lapses, then another takes it.
        let held = c
            .claim_notifications("webhook", "replica-a", t0 + 60_009, 60_000, 10)
            .await
            .unwrap();
        assert!(held.is_empty(), "{backend:?}: {held:?}");
        let lapsed = c
            .claim_notifications("webhook", "replica-a", t0 + 60_010, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(lapsed.len(), 1, "{backend:?}");
        assert_eq!(lapsed[0].event_id, "e2");
        // Released claims are free at once.
        assert_eq!(c.release_notifications("replica-a").await.unwrap(), 1);
        let released = c
            .claim_notifications("webhook", "replica-c", t0 + 60_011, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(released.len(), 1, "{backend:?}");
        assert!(
            c.notification_delivered("e2", "webhook", t0 + 60_020)
                .await
                .unwrap()
        );
        assert!(
            c.notification_delivered("e1", "nats", t0 + 2_000)
                .await
                .unwrap()
        );
        assert_eq!(c.pending_notifications().await.unwrap(), 0, "{backend:?}");

        // Delivered rows past the retention go; the others stay.
        assert_eq!(c.prune_notifications(t0 + 1_101).await.unwrap(), 1);
        assert!(c.notification("e1", "webhook").await.unwrap().is_none());
        assert!(c.notification("e1", "nats").await.unwrap().is_some());
        assert!(c.notification("e2", "webhook").await.unwrap().is_some());

        let err = c
            .enqueue_notification("", &["webhook"], "{}", t0)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::InvalidArgument(_)),
            "{backend:?}: {err}"
        );
    }
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_notification() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let now = 5_000_000;
        for i in 0..40 {
            c.enqueue_notification(&format!("event-{i:02}"), &["webhook"], "{}", now + i)
                .await
                .unwrap();
        }
        let claims = futures::future::join_all((0..8).map(|k| {
            let c = c.clone();
            async move {
                c.claim_notifications("webhook", &format!("claimer-{k}"), now + 100, 60_000, 10)
                    .await
                    .unwrap()
            }
        }))
        .await;
        let rest = c
            .claim_notifications("webhook", "late", now + 100, 60_000, 100)
            .await
            .unwrap();
        let mut seen = BTreeSet::new();
        for n in claims.iter().flatten().chain(&rest) {
            assert!(
                seen.insert(n.event_id.clone()),
                "{backend:?}: {} claimed twice",
                n.event_id
            );
        }
        assert_eq!(
            seen.len(),
            40,
            "{backend:?}: every notification claimed once"
        );
    }
}

/// `hooks.events` rows with ids `ids`.
fn rows(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(ids.collect::<Vec<_>>()))],
    )
    .unwrap()
}

/// A webhook receiver on `listener` answering 200 to every request; hands
/// over each request's head (lower case) and body before it answers.
fn receive(listener: tokio::net::TcpListener) -> UnboundedReceiver<(String, Vec<u8>)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
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
            let _ = tx.send((head, body));
            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            socket.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    rx
}

/// Polls `check` every 50 ms until it holds; fails naming `what` after 60 s.
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_webhook_down_across_a_restart_gets_every_event_once() {
    // The receiver's port is bound but not listening: connections to it are
    // refused until it listens, and no other test can take it meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let configure = move |c: &mut ServerConfig| {
        c.notify.webhook_url = Some(format!("http://127.0.0.1:{port}/hooks/laker"));
        c.notify.webhook_secret_file = Some(secret_file.clone());
        c.notify_backoff = Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
        c.shutdown_grace = Duration::from_secs(2);
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    };
    let s = TestServer::start_with(&configure).await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "hooks"})),
        (
            "create_user",
            serde_json::json!({"name": "writer", "password": "writer-password-1"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "writer", "pattern": "hooks.*", "action": "write"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "writer", "pattern": "hooks.*", "action": "read"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    let mut writer = s.login("writer", "writer-password-1").await.unwrap();
    let mut committed = BTreeMap::new();
    for (mode, ids) in [("create", 0..4), ("append", 4..6), ("append", 6..7)] {
        let rows_written = ids.end - ids.start;
        let done = upload(&mut writer, "hooks.events", mode, None, vec![rows(ids)])
            .await
            .unwrap();
        committed.insert(done["version"].as_u64().unwrap(), (mode, rows_written));
    }
    assert_eq!(committed.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);

    // Sends are tried and fail; every event waits in the outbox.
    let notifier = s.server.state().uploads.notifier.clone();
    until("no failed send before the restart", || {
        let failed = notifier.counts().failed;
        async move { failed >= 1 }
    })
    .await;
    assert_eq!(notifier.counts().delivered, 0);
    assert_eq!(s.catalog.pending_notifications().await.unwrap(), 3);

    drop((admin, writer));
    let s = s.restart_with(&configure).await;
    let mut hooks = receive(socket.listen(64).unwrap());

    // Every event arrives after the restart.
    let mut received: Vec<(String, Vec<u8>)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ids: BTreeSet<String> = received.iter().map(|(_, body)| event_id(body)).collect();
        if ids.len() == 3 {
            break;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let next = tokio::time::timeout(left, hooks.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of 3 events arrived", ids.len()))
            .unwrap();
        received.push(next);
    }
    // Once the outbox has nothing pending, nothing more is sent: whatever
    // came is in the channel (the receiver hands it over before answering).
    let catalog = s.catalog.clone();
    until("notifications still pending", || {
        let catalog = catalog.clone();
        async move { catalog.pending_notifications().await.unwrap() == 0 }
    })
    .await;
    while let Ok(more) = hooks.try_recv() {
        received.push(more);
    }

    let mut by_id: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (head, body) in &received {
        let id = event_id(body);
        assert!(head.contains(&format!("x-laker-event-id: {id}")), "{head}");
        let signed = signature(SECRET, body);
        assert!(
            head.contains(&format!("x-laker-signature: {signed}")),
            "{head}"
        );
        by_id
            .entry(id)
            .or_default()
            .push(serde_json::from_slice(body).unwrap());
    }
    assert_eq!(by_id.len(), 3, "{by_id:?}");
    let mut versions = BTreeMap::new();
    for (id, events) in &by_id {
        assert_eq!(
            events.len(),
            1,
            "event {id} delivered {} times",
            events.len()
        );
        let event = &events[0];
        assert_eq!(event["dataset"], "hooks.events", "{event}");
        assert_eq!(event["principal"], "writer");
        versions.insert(event["version"].as_u64().unwrap(), event.clone());
        let row = s
            .catalog
            .notification(id, "webhook")
            .await
            .unwrap()
            .unwrap();
        assert!(row.delivered_at.is_some(), "{row:?}");
    }
    assert_eq!(
        versions.len(),
        3,
        "one event per committed version: {versions:?}"
    );
    for (version, (mode, rows_written)) in &committed {
        let event = &versions[version];
        assert_eq!(event["mode"], *mode, "{event}");
        assert_eq!(event["rows"], *rows_written, "{event}");
    }
    assert_eq!(s.server.state().uploads.notifier.counts().delivered, 3);
    let metrics = format!("http://{}/metrics", s.server.http_addr().unwrap());
    until("the metrics do not show the deliveries", || {
        let metrics = metrics.clone();
        async move {
            let page = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
            page.lines()
                .any(|l| l == "laker_notifications_delivered_total 3")
                && page.lines().any(|l| l == "laker_notifications_pending 0")
        }
    })
    .await;
}

/// The `event_id` of a received body.
fn event_id(body: &[u8]) -> String {
    let event: serde_json::Value = serde_json::from_slice(body).unwrap();
    event["event_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_ingest_run_recovered_after_a_crash_announces_its_commit_once() {
    // The webhook's port is bound but not listening until the end: every
    // send is refused, so every event stays in the outbox to be looked at.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let (dir, dropped) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let secret_file = dir.path().join("webhook.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let inbox = dir_store(dropped.path());
    let configure = move |c: &mut ServerConfig| {
        c.stores.insert("inbox".into(), inbox.clone());
        c.notify.webhook_url = Some(format!("http://127.0.0.1:{port}/hooks/laker"));
        c.notify.webhook_secret_file = Some(secret_file.clone());
        c.notify_backoff = Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
        c.shutdown_grace = Duration::from_secs(2);
    };
    let crashing = configure.clone();
    let s = TestServer::start_with(move |c| {
        crashing(&mut *c);
        c.ingest_crash_after_commit = true;
    })
    .await;
    s.catalog.ensure_namespace("crash", "").await.unwrap();
    let mut admin = s.admin_client().await;
    ok(
        &mut admin,
        "create_ingest_job",
        serde_json::json!({
            "name": "feed",
            "source": {"store": "inbox", "format": "csv"},
            "target": "crash.landing"
        }),
    )
    .await;
    std::fs::write(dropped.path().join("a.csv"), orders(1..=3)).unwrap();
    std::fs::write(dropped.path().join("b.csv"), orders(4..=4)).unwrap();
    // The run commits, then stops as if its server died before announcing.
    let stopped = run_job(&mut admin, "feed").await.unwrap_err();
    assert_eq!(stopped.code(), tonic::Code::Internal, "{stopped:?}");
    assert_eq!(s.catalog.pending_notifications().await.unwrap(), 0);

    drop(admin);
    let s = s.restart_with(&configure).await;
    let mut admin = s.admin_client().await;
    let next = run_job(&mut admin, "feed").await.unwrap();
    assert_eq!(next["files"], 0, "{next}");
    let recovered = next["recovered_runs"][0].as_i64().unwrap();
    // The run that finished it announced its commit, under the event id the
    // run itself announces with.
    let first = run_event_id("feed", recovered);
    let row = s
        .catalog
        .notification(&first, "webhook")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the recovered run's commit was not announced ({first})"));
    let event: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(event["event_id"], first.as_str(), "{event}");
    assert_eq!(event["dataset"], "crash.landing", "{event}");
    assert_eq!(event["version"], 0, "{event}");
    assert_eq!(event["rows"], 4, "{event}");
    assert_eq!(event["mode"], "ingest", "{event}");
    assert_eq!(event["principal"], "ingest-job:feed", "{event}");
    assert_eq!(s.catalog.pending_notifications().await.unwrap(), 1);
    // The recovered run records the version it committed.
    let recorded = runs(&mut admin, "feed").await;
    assert_eq!(ints(&recorded, "id")[0], recovered);
    assert_eq!(ints(&recorded, "delta_version")[0], 0);

    // Nothing new: nothing announced. A new file: its run's own event.
    assert_eq!(run_job(&mut admin, "feed").await.unwrap()["files"], 0);
    assert_eq!(s.catalog.pending_notifications().await.unwrap(), 1);
    std::fs::write(dropped.path().join("c.csv"), orders(5..=6)).unwrap();
    let later = run_job(&mut admin, "feed").await.unwrap();
    assert_eq!(later["files"], 1, "{later}");
    let second = run_event_id("feed", later["run_id"].as_i64().unwrap());
    let row = s
        .catalog
        .notification(&second, "webhook")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the later run's commit was not announced ({second})"));
    let event: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(
        (event["version"].as_u64(), event["rows"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(s.catalog.pending_notifications().await.unwrap(), 2);

    // The webhook comes up: each commit arrives once.
    let mut hooks = receive(socket.listen(64).unwrap());
    let catalog = s.catalog.clone();
    until("notifications still pending", || {
        let catalog = catalog.clone();
        async move { catalog.pending_notifications().await.unwrap() == 0 }
    })
    .await;
    let mut arrived: BTreeMap<String, usize> = BTreeMap::new();
    while let Ok((_, body)) = hooks.try_recv() {
        *arrived.entry(event_id(&body)).or_default() += 1;
    }
    assert_eq!(arrived, BTreeMap::from([(first, 1), (second, 1)]));
}
