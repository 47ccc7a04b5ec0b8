//! Handshake, bearer tokens, grants.

use std::time::Duration;

use arrow_flight::{Criteria, FlightDescriptor};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use laker_auth::password::hash_password;
use laker_auth::secret::load_or_create_secret;
use laker_auth::token::{Claims, ISSUER, unix_now};
use laker_integration_tests::{TestServer, list_names, status};
use tonic::Code;

fn trips() -> FlightDescriptor {
    FlightDescriptor::new_path(vec!["demo".into(), "trips".into()])
}

#[tokio::test]
async fn handshake_returns_a_bearer_that_authorises_calls() {
    let s = TestServer::start().await;
    let mut c = s.demo_client().await;
    let info = c.get_flight_info(trips()).await.unwrap();
    assert!(!info.endpoint.is_empty());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let s = TestServer::start().await;
    let a = status(s.login("demo", "wrong").await.err().unwrap());
    let b = status(s.login("nobody", "demo").await.err().unwrap());
    assert_eq!(a.code(), Code::Unauthenticated);
    assert_eq!(a.message(), "invalid user name or password");
    assert_eq!((b.code(), b.message()), (a.code(), a.message()));
}

#[tokio::test]
async fn disabled_user_cannot_log_in() {
    let s = TestServer::start().await;
    s.catalog.set_user_disabled("demo", true).await.unwrap();
    let e = status(s.login("demo", "demo").await.err().unwrap());
    assert_eq!(e.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn calls_without_a_valid_bearer_are_unauthenticated() {
    let s = TestServer::start().await;
    let mut anon = s.anonymous().await;
    let e = status(anon.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("Handshake"), "{}", e.message());

    let e = status(
        anon.list_flights(Criteria::default().expression)
            .await
            .err()
            .unwrap(),
    );
    assert_eq!(e.code(), Code::Unauthenticated);

    let mut garbage = s.anonymous().await;
    garbage
        .add_header("authorization", "Bearer not.a.jwt")
        .unwrap();
    let e = status(garbage.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unauthenticated, "bearer token is invalid")
    );
}

/// Signs claims with the server's own secret, as an attacker who cannot
/// would not be able to; proves expiry is enforced independently of the signature.
fn token_with(s: &TestServer, claims: &Claims) -> String {
    let secret = load_or_create_secret(&s.dir.path().join("secret.key")).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_and_alg_none_tokens_are_refused() {
    let s = TestServer::start().await;
    let expired = token_with(
        &s,
        &Claims {
            sub: "demo".into(),
            iss: ISSUER.into(),
            iat: unix_now() - 7200,
            exp: unix_now() - 600,
        },
    );
    let mut c = s.anonymous().await;
    c.add_header("authorization", &format!("Bearer {expired}"))
        .unwrap();
    let e = status(c.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("expired"), "{}", e.message());

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sub":"demo","iss":"laker","iat":{},"exp":{}}}"#,
        unix_now(),
        unix_now() + 3600
    ));
    let mut c = s.anonymous().await;
    c.add_header("authorization", &format!("Bearer {header}.{body}."))
        .unwrap();
    let e = status(c.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let s = TestServer::start_with(|c| c.token_ttl = Duration::from_secs(90)).await;
    let mut c = s.anonymous().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("demo:demo");
    c.add_header("authorization", &format!("Basic {basic}"))
        .unwrap();
    let token = c.handshake(Vec::<u8>::new()).await.unwrap();
    let token = String::from_utf8(token.to_vec()).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 90);
    assert_eq!(claims["sub"], "demo");
}

#[tokio::test]
async fn users_see_and_read_only_granted_datasets() {
    let s = TestServer::start().await;
    let hash = hash_password("pw-of-carol").unwrap();
    s.catalog.create_user("carol", &hash).await.unwrap();
    let mut carol = s.login("carol", "pw-of-carol").await.unwrap();

    let listed = list_names(&mut carol, "").await.unwrap();
    assert!(listed.is_empty(), "no grants, nothing listed: {listed:?}");
    let e = status(carol.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(e.message(), "'carol' may not read dataset 'demo.trips'");
    // Not granted and not existing look the same: nothing leaks.
    let e = status(
        carol
            .get_flight_info(FlightDescriptor::new_path(vec![
                "secret".into(),
                "payroll".into(),
            ]))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::PermissionDenied);

    s.catalog
        .grant("carol", "demo.zones", "read")
        .await
        .unwrap();
    assert_eq!(list_names(&mut carol, "").await.unwrap(), ["demo.zones"]);
    assert!(carol.get_flight_info(trips()).await.is_err());
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_user_and_address() {
    let s = TestServer::start_with(|c| {
        c.login_limits = laker_auth::LoginLimits {
            per_user: 3,
            per_address: 6,
            window: Duration::from_secs(60),
        };
    })
    .await;
    let hash = hash_password("pw-of-bob").unwrap();
    s.catalog.create_user("bob", &hash).await.unwrap();
    for _ in 0..3 {
        let err = status(s.login("demo", "wrong").await.unwrap_err());
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    // Locked out: even the right password is not checked now.
    let err = status(s.login("demo", "demo").await.unwrap_err());
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message()
            .starts_with("too many failed logins for user 'demo'; retry in"),
        "{}",
        err.message()
    );
    let retry: u64 = err
        .metadata()
        .get("retry-after")
        .expect("retry-after")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    // Another user from the same address is not affected …
    assert!(s.login("bob", "pw-of-bob").await.is_ok());
    // … until the address itself has failed too often.
    for user in ["x1", "x2", "x3"] {
        let err = status(s.login(user, "guess").await.unwrap_err());
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let err = status(s.login("bob", "pw-of-bob").await.unwrap_err());
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("address 127.0.0.1"),
        "{}",
        err.message()
    );
}
