//! Behind a trusted proxy the client is the address it forwards: the
//! failed-login limits and the audit count that, on the Flight port and
//! the HTTP API alike. From a peer that is not a trusted proxy (or with
//! none configured) the header is ignored.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use laker_flight_server::ServerConfig;
use laker_flight_server::proxies::Cidr;
use laker_integration_tests::{TestServer, status};
use serde_json::json;
use tonic::Code;

/// Few failures per address, many per user: only the address limit bites.
fn limits(c: &mut ServerConfig) {
    c.login_limits.per_address = 2;
    c.login_limits.per_user = 100;
}

/// A handshake of `user` with a wrong password, sending `forwarded_for`.
async fn wrong_login(s: &TestServer, user: &str, forwarded_for: &str) -> tonic::Status {
    let mut client = s.anonymous().await;
    client.add_header("x-forwarded-for", forwarded_for).unwrap();
    let basic = STANDARD.encode(format!("{user}:wrong-password"));
    client
        .add_header("authorization", &format!("Basic {basic}"))
        .unwrap();
    status(client.handshake(Vec::<u8>::new()).await.unwrap_err())
}

#[tokio::test]
async fn forwarded_clients_have_their_own_login_limits_behind_a_trusted_proxy() {
    let s = TestServer::start_with(|c| {
        limits(c);
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for user in ["u1", "u2"] {
        let refused = wrong_login(&s, user, "203.0.113.7").await;
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    }
    let limited = wrong_login(&s, "u3", "203.0.113.7").await;
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert!(
        limited.message().contains("address 203.0.113.7"),
        "{}",
        limited.message()
    );
    // Another client behind the same proxy is not limited.
    let other = wrong_login(&s, "u4", "198.51.100.1").await;
    assert_eq!(other.code(), Code::Unauthenticated, "{other:?}");
    // A hop the client made up, left of the one the proxy added, changes nothing.
    let forged = wrong_login(&s, "u5", "198.51.100.99, 203.0.113.7").await;
    assert_eq!(forged.code(), Code::ResourceExhausted, "{forged:?}");

    // The HTTP API: the same limits, by the same forwarded address.
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/login", s.server.http_addr().unwrap());
    let login = |forwarded_for: &'static str, user: &'static str| {
        http.post(&url)
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"user": user, "password": "wrong-password"}))
            .send()
    };
    assert_eq!(login("203.0.113.7", "u6").await.unwrap().status(), 429);
    assert_eq!(login("192.0.2.44", "u7").await.unwrap().status(), 401);

    s.server.state().audit.flush().await;
    let records = s.catalog.audit_page(0, 10_000).await.unwrap();
    let sources: BTreeSet<String> = records
        .iter()
        .filter(|(_, r)| r.action == "Handshake" || r.action == "HTTP:login")
        .map(|(_, r)| r.source.clone())
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from([
            "192.0.2.44".to_string(),
            "198.51.100.1".to_string(),
            "203.0.113.7".to_string()
        ]),
        "the audit records the forwarded clients, never the proxy"
    );
}

#[tokio::test]
async fn the_header_is_ignored_without_a_trusted_proxy() {
    // None configured; one configured that the peer is not.
    let outside: Cidr = "10.0.0.0/8".parse().unwrap();
    for ranges in [Vec::new(), vec![outside]] {
        let s = TestServer::start_with(move |c| {
            limits(c);
            c.trusted_proxies = ranges;
        })
        .await;
        for (user, forwarded_for) in [("u1", "203.0.113.7"), ("u2", "198.51.100.1")] {
            let refused = wrong_login(&s, user, forwarded_for).await;
            assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        }
        let limited = wrong_login(&s, "u3", "192.0.2.1").await;
        assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
        assert!(
            limited.message().contains("address 127.0.0.1"),
            "{}",
            limited.message()
        );
    }
}
