//! Signed tickets: only the server's own, unaltered, unexpired, for the caller.

use arrow_flight::{FlightDescriptor, Ticket};
use laker_auth::password::hash_password;
use laker_auth::secret::load_or_create_secret;
use laker_auth::token::unix_now;
use laker_flight_server::ticket::{TicketClaims, TicketCodec};
use laker_integration_tests::{TestServer, fetch, rows, status};
use laker_query::DownloadSpec;
use tonic::Code;

async fn first_ticket(s: &TestServer) -> Ticket {
    let mut c = s.demo_client().await;
    let info = c
        .get_flight_info(FlightDescriptor::new_cmd(r#"{"dataset": "demo.zones"}"#))
        .await
        .unwrap();
    info.endpoint[0].ticket.clone().unwrap()
}

#[tokio::test]
async fn genuine_ticket_works_and_is_self_contained() {
    let s = TestServer::start().await;
    let ticket = first_ticket(&s).await;
    assert!(ticket.ticket.starts_with(b"lkt1."));
    // A fresh connection (no state shared with the GetFlightInfo call) redeems it.
    let mut other = s.demo_client().await;
    assert_eq!(rows(&fetch(&mut other, ticket).await.unwrap()), 60);
}

#[tokio::test]
async fn tampered_ticket_is_refused() {
    let s = TestServer::start().await;
    let ticket = first_ticket(&s).await;
    let mut bytes = ticket.ticket.to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let mut c = s.demo_client().await;
    let e = status(fetch(&mut c, Ticket::new(bytes)).await.unwrap_err());
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "ticket signature is invalid")
    );
}

#[tokio::test]
async fn another_principals_ticket_is_refused() {
    let s = TestServer::start().await;
    let ticket = first_ticket(&s).await;
    s.catalog
        .create_user("dave", &hash_password("pw-dave").unwrap())
        .await
        .unwrap();
    s.catalog.grant("dave", "demo.*", "read").await.unwrap();
    let mut dave = s.login("dave", "pw-dave").await.unwrap();
    let e = status(fetch(&mut dave, ticket).await.unwrap_err());
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "ticket was issued to another principal"
        )
    );
}

fn claims(exp: u64) -> TicketClaims {
    TicketClaims {
        sub: "demo".into(),
        spec: DownloadSpec::from_json(br#"{"dataset": "demo.zones"}"#).unwrap(),
        partition: Some(0),
        partitions: 1,
        revision: 1,
        exp,
        iat_ms: laker_flight_server::ticket::now_ms(),
    }
}

#[tokio::test]
async fn expired_and_forged_tickets_are_refused() {
    let s = TestServer::start().await;
    let secret = load_or_create_secret(&s.dir.path().join("secret.key")).unwrap();
    let mut c = s.demo_client().await;

    let fresh = TicketCodec::new(&secret).sign(&claims(unix_now() + 60));
    assert_eq!(rows(&fetch(&mut c, Ticket::new(fresh)).await.unwrap()), 60);

    let expired = TicketCodec::new(&secret).sign(&claims(unix_now() - 1));
    let e = status(fetch(&mut c, Ticket::new(expired)).await.unwrap_err());
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("expired"), "{}", e.message());

    let forged = TicketCodec::new(&[7u8; 32]).sign(&claims(unix_now() + 60));
    let e = status(fetch(&mut c, Ticket::new(forged)).await.unwrap_err());
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "ticket signature is invalid")
    );
}

#[tokio::test]
async fn ticket_for_a_changed_plan_is_refused() {
    let s = TestServer::start().await;
    let secret = load_or_create_secret(&s.dir.path().join("secret.key")).unwrap();
    let mut stale = claims(unix_now() + 60);
    stale.revision = 99;
    let mut c = s.demo_client().await;
    let e = status(
        fetch(&mut c, Ticket::new(TicketCodec::new(&secret).sign(&stale)))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("call GetFlightInfo again"),
        "{}",
        e.message()
    );
}
