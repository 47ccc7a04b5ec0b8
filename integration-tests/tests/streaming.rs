//! Pushdown, backpressure and cancellation, observed through the bytes the
//! server reads from the object store and its live counters.

use std::time::{Duration, Instant};

use arrow_flight::{FlightDescriptor, Ticket};
use futures::StreamExt;
use laker_integration_tests::{DEMO_ROWS, TestServer, fetch, rows};

use crate::reference;

/// Total size of the `.parquet` files under `dir`.
fn parquet_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            total += parquet_bytes(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            total += std::fs::metadata(&path).unwrap().len();
        }
    }
    total
}

/// Bytes the server reads to serve `spec` (metadata already cached).
async fn bytes_for(s: &TestServer, spec: &str) -> (u64, usize) {
    let mut c = s.demo_client().await;
    let before = s.store.bytes_read();
    let n = rows(&fetch(&mut c, Ticket::new(spec.to_string())).await.unwrap());
    (s.store.bytes_read() - before, n)
}

/// Polls `cond` until it holds or `limit` passes.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test]
async fn selective_downloads_read_a_fraction_of_the_bytes() {
    let s = TestServer::start().await;
    // Warm the metadata caches so only data reads are compared.
    bytes_for(&s, r#"{"dataset": "demo.trips", "limit": 1}"#).await;

    let (full, n) = bytes_for(&s, r#"{"dataset": "demo.trips"}"#).await;
    assert_eq!(n, DEMO_ROWS);
    let on_disk = parquet_bytes(&s.dataset_dir("trips").await);
    assert!(
        full > on_disk / 2,
        "a full scan reads most of the files: {full} of {on_disk}"
    );

    let day = "pickup_at >= '2024-03-10T00:00:00Z' AND pickup_at < '2024-03-11T00:00:00Z'";
    let spec = format!(
        r#"{{"dataset": "demo.trips", "columns": ["trip_id", "fare"], "filter": "{day}"}}"#
    );
    let (selective, n) = bytes_for(&s, &spec).await;
    assert_eq!(
        n,
        reference::count(&format!("SELECT count(*) FROM trips WHERE {day}")).await
    );
    assert!(n > 1000, "{n}");
    eprintln!("bytes read: full scan {full}, one day x 2 columns {selective}");
    assert!(
        selective * 50 < full,
        "one day, two columns should read <2% of a full scan: {selective} vs {full}"
    );

    let (month, n) = bytes_for(
        &s,
        r#"{"dataset": "demo.trips", "filter": "month = '2024-03'"}"#,
    )
    .await;
    assert_eq!(
        n,
        reference::count("SELECT count(*) FROM trips WHERE month = '2024-03'").await
    );
    assert!(
        month * 8 < full,
        "partition pruning reads one month: {month} vs {full}"
    );
}

#[tokio::test]
async fn planning_reuses_cached_schema_listing_and_footers() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let path = FlightDescriptor::new_path(vec!["demo".into(), "trips".into()]);
    c.get_flight_info(path.clone()).await.unwrap();
    assert!(
        s.store.lists() > 0 && s.store.requests() > 0,
        "first call reads the lake"
    );
    let (lists, requests) = (s.store.lists(), s.store.requests());
    let spec = FlightDescriptor::new_cmd(r#"{"dataset": "demo.trips", "filter": "fare > 20"}"#);
    for _ in 0..3 {
        c.get_flight_info(path.clone()).await.unwrap();
        c.get_flight_info(spec.clone()).await.unwrap();
        c.get_schema(path.clone()).await.unwrap();
    }
    assert_eq!(
        s.store.lists(),
        lists,
        "files are not re-listed per request"
    );
    assert_eq!(
        s.store.requests(),
        requests,
        "schemas and footers are not re-read per request"
    );
}

#[tokio::test]
async fn huge_batches_are_split_under_the_grpc_message_limit() {
    // 400k-row batches are ~40 MB of Arrow data; a client with tonic's default
    // 4 MiB message limit still reads them, because messages are split.
    let s = TestServer::start_with(|c| c.batch_size = 400_000).await;
    let mut c = s.demo_client().await;
    let batches = fetch(
        &mut c,
        Ticket::new(r#"{"dataset": "demo.trips", "filter": "month <= '2024-02'"}"#),
    )
    .await
    .unwrap();
    let expected = reference::count("SELECT count(*) FROM trips WHERE month <= '2024-02'").await;
    assert_eq!(rows(&batches), expected);
    assert!(
        batches.len() > expected / 400_000,
        "split into many messages: {}",
        batches.len()
    );
    assert!(s.server.metrics().bytes_sent() > 4 << 20);
}

#[tokio::test]
async fn slow_client_slows_the_scan_and_nothing_is_lost() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let mut stream = c
        .do_get(Ticket::new(r#"{"dataset": "demo.trips"}"#))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    let mut received = first.num_rows();
    // The client stops reading. The server may fill the flow-control windows,
    // then must wait: it neither runs ahead through the dataset nor buffers it.
    let metrics = s.server.metrics().clone();
    let sent_then = metrics.rows_sent();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_later = metrics.rows_sent();
    eprintln!(
        "paused client: server sent {sent_then} then {sent_later} rows; read {} bytes",
        s.store.bytes_read()
    );
    assert!(
        sent_later < (DEMO_ROWS / 10) as u64,
        "server ran ahead of a paused client: {sent_then} -> {sent_later} rows of {DEMO_ROWS}"
    );
    let on_disk = parquet_bytes(&s.dataset_dir("trips").await);
    assert!(
        s.store.bytes_read() < on_disk / 2,
        "scan ran ahead: read {} of {on_disk}",
        s.store.bytes_read()
    );
    // Resuming delivers everything.
    while let Some(batch) = stream.next().await {
        received += batch.unwrap().num_rows();
    }
    assert_eq!(received, DEMO_ROWS);
    assert!(eventually(Duration::from_secs(10), || metrics.active_streams() == 0).await);
}

#[tokio::test]
async fn disconnect_cancels_the_scan() {
    let s = TestServer::start().await;
    let metrics = s.server.metrics().clone();
    let pool = s
        .server
        .state()
        .engine
        .state()
        .runtime_env()
        .memory_pool
        .clone();
    assert_eq!(metrics.active_streams(), 0);
    {
        let mut c = s.demo_client().await;
        let mut stream = c
            .do_get(Ticket::new(
                r#"{"dataset": "demo.trips", "order_by": ["fare"]}"#,
            ))
            .await
            .unwrap();
        // A sort holds memory from the pool while it runs.
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.num_rows() > 0);
        assert_eq!(metrics.active_streams(), 1);
        assert!(
            pool.reserved() > 0,
            "the sort holds its data while streaming"
        );
        // Client goes away mid-stream.
    }
    assert!(
        eventually(Duration::from_secs(10), || metrics.active_streams() == 0).await,
        "the server kept the stream open after the client left"
    );
    assert!(
        eventually(Duration::from_secs(10), || pool.reserved() == 0).await,
        "query memory not returned: {} bytes",
        pool.reserved()
    );
    // The scan stopped: no more bytes are read afterwards.
    let read = s.store.bytes_read();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.store.bytes_read(), read);

    {
        let mut c = s.demo_client().await;
        let mut stream = c
            .do_get(Ticket::new(r#"{"dataset": "demo.trips"}"#))
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
    }
    assert!(eventually(Duration::from_secs(10), || metrics.active_streams() == 0).await);
    let on_disk = parquet_bytes(&s.dataset_dir("trips").await);
    let before = s.store.bytes_read();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.store.bytes_read(),
        before,
        "scan continued after disconnect"
    );
    assert!(
        before - read < on_disk / 2,
        "cancelled scan read {} of {on_disk}",
        before - read
    );
}

#[tokio::test]
async fn full_downloads_read_large_batches_within_their_permits() {
    let s = TestServer::start_with(|c| c.stream_limits.large_batch_streams = 1).await;
    let admission = &s.server.state().admission;
    assert_eq!(admission.large_batches_free(), 1);
    let mut c = s.demo_client().await;
    let mut first = c
        .do_get(Ticket::new(r#"{"dataset": "demo.trips"}"#))
        .await
        .unwrap();
    let head = first.next().await.unwrap().unwrap();
    assert_eq!(
        admission.large_batches_free(),
        0,
        "the first stream holds it"
    );
    // Meanwhile another stream reads batches of --batch-size.
    let mut other = s.demo_client().await;
    let slice = fetch(
        &mut other,
        Ticket::new(r#"{"dataset": "demo.trips", "filter": "month <= '2024-02'"}"#),
    )
    .await
    .unwrap();
    let expected = reference::count("SELECT count(*) FROM trips WHERE month <= '2024-02'").await;
    assert_eq!(rows(&slice), expected);
    let largest = |batches: &[arrow::record_batch::RecordBatch]| {
        batches.iter().map(|b| b.num_rows()).max().unwrap_or(0)
    };
    assert!(largest(&slice) <= 8192, "{}", largest(&slice));
    let mut batches = vec![head];
    while let Some(batch) = first.next().await {
        batches.push(batch.unwrap());
    }
    assert_eq!(rows(&batches), DEMO_ROWS);
    assert!(
        largest(&batches) > 8192,
        "large batches: the largest had {} rows",
        largest(&batches)
    );
    drop(first);
    assert!(
        eventually(Duration::from_secs(10), || admission.large_batches_free()
            == 1)
        .await
    );
    // A filter that calls a function reads batches of --batch-size (the
    // plan guard's bounds assume them), with the same rows.
    let called = fetch(
        &mut c,
        Ticket::new(r#"{"dataset": "demo.trips", "filter": "length(vendor) > 0"}"#),
    )
    .await
    .unwrap();
    assert_eq!(rows(&called), DEMO_ROWS);
    assert!(largest(&called) <= 8192, "{}", largest(&called));
    assert!(
        eventually(Duration::from_secs(10), || admission.large_batches_free()
            == 1)
        .await
    );
}

#[tokio::test]
async fn large_batches_can_be_turned_off() {
    let s = TestServer::start_with(|c| c.stream_limits.large_batch_rows = 0).await;
    let mut c = s.demo_client().await;
    let batches = fetch(&mut c, Ticket::new(r#"{"dataset": "demo.trips"}"#))
        .await
        .unwrap();
    assert_eq!(rows(&batches), DEMO_ROWS);
    assert!(batches.iter().all(|b| b.num_rows() <= 8192));
    assert_eq!(s.server.state().admission.large_batches_free(), 0);
}
