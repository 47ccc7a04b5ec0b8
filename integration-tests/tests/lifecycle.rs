//! The HTTP side port (/healthz, /readyz, /metrics), gRPC health, and
//! shutdown: not ready at once, running calls given the grace period.

use std::net::SocketAddr;
use std::time::Duration;

use arrow_flight::Ticket;
use futures::StreamExt;
use laker_integration_tests::{TestServer, fetch, info_for, rows, status};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// `GET path` over HTTP/1.1: status, content type and body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_string();
    Some((code, content_type, body.to_string()))
}

/// The value of the sample `name` (with its labels) in a metrics page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn health(s: &TestServer, service: &str) -> Result<ServingStatus, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(s.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let answer = client
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await?;
    Ok(answer.into_inner().status())
}

fn with_http(c: &mut laker_flight_server::ServerConfig) {
    c.http_listen = Some("127.0.0.1:0".parse().unwrap());
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let s = TestServer::start_with(with_http).await;
    let http = s.server.http_addr().expect("HTTP port served");

    assert_eq!(get(http, "/healthz").await.unwrap().2, "ok\n");
    let (code, _, body) = get(http, "/readyz").await.unwrap();
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    assert_eq!(get(http, "/nope").await.unwrap().0, 404);

    // gRPC health needs no token.
    assert_eq!(health(&s, "").await.unwrap(), ServingStatus::Serving);
    let flight = "arrow.flight.protocol.FlightService";
    assert_eq!(health(&s, flight).await.unwrap(), ServingStatus::Serving);
    let e = health(&s, "no.such.Service").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);

    let mut client = s.demo_client().await;
    let info = info_for(&mut client, &json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let zones = rows(&fetch(&mut client, ticket).await.unwrap());
    let mut anonymous = s.anonymous().await;
    let e = status(anonymous.list_flights("").await.err().expect("refused"));
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = status(
        fetch(&mut client, Ticket::new("not a ticket"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    let (code, content_type, page) = get(http, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let calls = |rpc: &str, code: &str| {
        sample(
            &page,
            &format!("laker_rpc_requests_total{{rpc=\"{rpc}\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(calls("Handshake", "Ok"), Some(1.0), "{page}");
    assert_eq!(calls("GetFlightInfo", "Ok"), Some(1.0));
    assert_eq!(calls("DoGet", "Ok"), Some(1.0));
    assert_eq!(calls("DoGet", "InvalidArgument"), Some(1.0));
    assert_eq!(calls("ListFlights", "Unauthenticated"), Some(1.0));
    assert_eq!(calls("Check", "Ok"), Some(2.0));
    assert_eq!(calls("Check", "NotFound"), Some(1.0));
    assert_eq!(
        sample(&page, "laker_rpc_duration_seconds_count{rpc=\"DoGet\"}"),
        Some(2.0)
    );
    assert_eq!(sample(&page, "laker_rows_sent_total"), Some(zones as f64));
    assert_eq!(
        sample(&page, "laker_bytes_sent_total"),
        Some(s.server.metrics().bytes_sent() as f64)
    );
    assert_eq!(sample(&page, "laker_download_streams_total"), Some(1.0));
    assert_eq!(sample(&page, "laker_download_streams_active"), Some(0.0));
    assert!(sample(&page, "laker_table_cache_misses_total") >= Some(1.0));
    assert!(sample(&page, "laker_audit_queue_depth").is_some());
}

#[tokio::test]
async fn shutdown_reports_not_ready_then_cuts_and_audits_what_outlives_the_grace() {
    let s = TestServer::start_with(|c| {
        with_http(c);
        c.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    let http = s.server.http_addr().unwrap();
    let mut client = s.demo_client().await;
    let info = info_for(&mut client, &json!({"dataset": "demo.trips"}))
        .await
        .unwrap();
    // A download left open: the client reads one batch and stops reading.
    let mut open = client
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap();
    assert!(open.next().await.unwrap().unwrap().num_rows() > 0);
    assert_eq!(s.server.metrics().active_streams(), 1);

    let TestServer {
        server,
        dir,
        catalog,
        ..
    } = s;
    let shutdown = tokio::spawn(server.shutdown());
    let mut not_ready = None;
    for _ in 0..200 {
        not_ready = get(http, "/readyz").await;
        if not_ready.as_ref().is_some_and(|r| r.0 == 503) || shutdown.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (code, _, body) = not_ready.expect("the HTTP port stays up while calls drain");
    assert_eq!((code, body.as_str()), (503, "shutting down\n"));
    // The open stream would hold the server forever; the grace period ends it.
    tokio::time::timeout(Duration::from_secs(60), shutdown)
        .await
        .expect("shutdown ends after the grace period")
        .unwrap();
    assert!(get(http, "/healthz").await.is_none(), "HTTP port closed");
    // The cut download ends with an error, never as a complete stream.
    let mut ended = None;
    while let Some(item) = open.next().await {
        if let Err(e) = item {
            ended = Some(e);
            break;
        }
    }
    assert!(ended.is_some(), "a cut download must not look complete");
    // ... and is in the audit, which was flushed before shutdown returned.
    let records = catalog.audit_page(0, 1000).await.unwrap();
    let download = records
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.action == "DoGet" && r.dataset == "demo.trips")
        .expect("the cut download is audited");
    assert_eq!(download.outcome, "cancelled", "{download:?}");
    assert!(download.rows > 0);
    drop(dir);
}
