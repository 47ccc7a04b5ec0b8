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
            iat_ms: None,
            key: None,
            roles: vec![],
            idp: None,
            attrs: Default::default(),
            jti: None,
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
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "dataset 'demo.trips' not found");
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
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "dataset 'secret.payroll' not found");

    s.catalog
        .grant("carol", "demo.zones", "read")
        .await
        .unwrap();
    assert_eq!(list_names(&mut carol, "").await.unwrap(), ["demo.zones"]);
    assert!(carol.get_flight_info(trips()).await.is_err());
    // Discover without read: listed, but reading is refused by name.
    s.catalog
        .grant("carol", "demo.trips", "discover")
        .await
        .unwrap();
    assert_eq!(
        list_names(&mut carol, "").await.unwrap(),
        ["demo.trips", "demo.zones"]
    );
    let e = status(carol.get_flight_info(trips()).await.unwrap_err());
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(e.message(), "'carol' may not read dataset 'demo.trips'");
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

#[tokio::test]
async fn service_accounts_log_in_with_api_keys() {
    use laker_integration_tests::action;
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let err = status(
        action(
            &mut demo,
            "create_service_account",
            serde_json::json!({"name": "etl"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("needs the 'admin' grant on '*'"),
        "{}",
        err.message()
    );

    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_service_account",
        serde_json::json!({"name": "etl"}),
    )
    .await
    .unwrap();
    s.catalog.grant("etl", "demo.zones", "read").await.unwrap();
    let created = action(
        &mut admin,
        "create_api_key",
        serde_json::json!({"principal": "etl", "description": "nightly load"}),
    )
    .await
    .unwrap();
    let key = created["api_key"].as_str().unwrap().to_string();
    let key_id = created["key_id"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("lk_{key_id}_")), "{key}");
    let secret = &key[format!("lk_{key_id}_").len()..];
    let stored = s.catalog.api_key(&key_id).await.unwrap().unwrap();
    assert!(stored.secret_hash.starts_with("$argon2id$") && !stored.secret_hash.contains(secret));

    // User name `key`, or the owner's name; the principal is the owner.
    let mut etl = s.login("key", &key).await.unwrap();
    assert_eq!(list_names(&mut etl, "").await.unwrap(), ["demo.zones"]);
    assert!(s.login("ETL", &key).await.is_ok());
    for (user, password, why) in [
        ("demo", key.clone(), "someone else's name"),
        ("etl", String::new(), "service accounts have no password"),
        (
            "key",
            format!("lk_{key_id}_{}x", &secret[..secret.len() - 1]),
            "tampered",
        ),
        ("key", "lk_0000000000000000_abc".to_string(), "unknown id"),
    ] {
        let err = status(s.login(user, &password).await.unwrap_err());
        assert_eq!(err.code(), Code::Unauthenticated, "{why}");
    }

    let listed = action(
        &mut admin,
        "list_api_keys",
        serde_json::json!({"name": "etl"}),
    )
    .await
    .unwrap();
    assert_eq!(listed[0]["id"], key_id.as_str());
    assert_eq!(listed[0]["description"], "nightly load");
    assert!(!listed.to_string().contains(secret) && !listed.to_string().contains("argon2"));

    action(
        &mut admin,
        "revoke_api_key",
        serde_json::json!({"key_id": key_id}),
    )
    .await
    .unwrap();
    let err = status(s.login("key", &key).await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "invalid or revoked API key");

    let (expired, text) =
        laker_auth::apikey::generate("etl", "old", chrono::Utc::now().timestamp_millis() - 1_000)
            .unwrap();
    s.catalog.insert_api_key(&expired).await.unwrap();
    assert_eq!(
        status(s.login("key", &text).await.unwrap_err()).code(),
        Code::Unauthenticated
    );
    let err = status(
        action(
            &mut admin,
            "create_api_key",
            serde_json::json!({"principal": "nobody"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = status(
        action(
            &mut admin,
            "create_api_key",
            serde_json::json!({"principal": "etl", "expires_in_secs": 0}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn refresh_token_swaps_a_valid_token_while_the_account_is_enabled() {
    use laker_integration_tests::action;
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let refreshed = action(&mut demo, "refresh_token", serde_json::json!({}))
        .await
        .unwrap();
    let token = refreshed["token"].as_str().unwrap();
    assert!(refreshed["expires_at"].as_u64().unwrap() > unix_now());
    // The new token works on its own.
    let mut fresh = s.anonymous().await;
    fresh
        .add_header("authorization", &format!("Bearer {token}"))
        .unwrap();
    assert_eq!(
        list_names(&mut fresh, "zones").await.unwrap(),
        ["demo.zones"]
    );
    let err = status(
        action(&mut demo, "refresh_token", serde_json::json!({"ttl": 5}))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument);
    // A disabled account cannot stretch its session.
    s.catalog.set_user_disabled("demo", true).await.unwrap();
    let err = status(
        action(&mut demo, "refresh_token", serde_json::json!({}))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "'demo' can no longer log in");
}

#[tokio::test]
async fn disabling_an_account_stops_its_tokens_and_tickets_at_the_next_call() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let info = demo.get_flight_info(trips()).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    s.catalog.set_user_disabled("demo", true).await.unwrap();
    let err = status(demo.do_get(ticket.clone()).await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated, "ticket refused");
    assert_eq!(err.message(), "'demo' can no longer log in");
    let err = status(list_names(&mut demo, "").await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated, "token refused");
    s.catalog.set_user_disabled("demo", false).await.unwrap();
    assert!(
        laker_integration_tests::fetch(&mut demo, ticket)
            .await
            .is_ok(),
        "re-enabled: the same token and ticket work again"
    );
}

#[tokio::test]
async fn revoked_tokens_stop_at_the_next_call_and_new_logins_work() {
    use laker_integration_tests::action;
    let s = TestServer::start().await;
    let mut first = s.demo_client().await;
    let mut second = s.demo_client().await;
    let info = second.get_flight_info(trips()).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // logout ends every token of the caller, the other session's too.
    let out = action(&mut first, "logout", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(out["tokens_revoked"], true);
    for client in [&mut first, &mut second] {
        let err = status(list_names(client, "").await.unwrap_err());
        assert_eq!(err.code(), Code::Unauthenticated);
        assert!(err.message().contains("revoked"), "{}", err.message());
    }
    let err = status(second.do_get(ticket.clone()).await.unwrap_err());
    assert_eq!(
        err.code(),
        Code::Unauthenticated,
        "tickets die with their tokens"
    );
    // A new login is a new session; a ticket cut before the logout stays
    // dead with it, a new ticket works.
    let mut again = s.demo_client().await;
    let err = status(
        laker_integration_tests::fetch(&mut again, ticket)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("logged out"), "{}", err.message());
    let info = again.get_flight_info(trips()).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    assert!(
        laker_integration_tests::fetch(&mut again, ticket)
            .await
            .is_ok()
    );
    // An admin can end someone else's sessions.
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "revoke_tokens",
        serde_json::json!({"name": "demo"}),
    )
    .await
    .unwrap();
    let err = status(list_names(&mut again, "").await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut demo = s.demo_client().await;
    let err = status(
        action(
            &mut demo,
            "revoke_tokens",
            serde_json::json!({"name": "admin"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::PermissionDenied);
}

/// Logs in as demo on `s` and returns the bearer token itself.
async fn demo_token(s: &TestServer) -> String {
    let mut client = s.anonymous().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("demo:demo");
    client
        .add_header("authorization", &format!("Basic {basic}"))
        .unwrap();
    String::from_utf8(client.handshake(Vec::<u8>::new()).await.unwrap().to_vec()).unwrap()
}

async fn with_bearer(s: &TestServer, token: &str) -> arrow_flight::FlightClient {
    let mut client = s.anonymous().await;
    client
        .add_header("authorization", &format!("Bearer {token}"))
        .unwrap();
    client
}

#[tokio::test]
async fn rotated_signing_secrets_keep_tokens_and_tickets_valid_until_dropped() {
    let keys = tempfile::tempdir().unwrap();
    let (old, new) = (keys.path().join("old.key"), keys.path().join("new.key"));
    load_or_create_secret(&old).unwrap();
    load_or_create_secret(&new).unwrap();
    let zones = FlightDescriptor::new_path(vec!["demo".into(), "zones".into()]);

    let o = old.clone();
    let before = TestServer::start_with(move |c| c.secret_file = o).await;
    let token = demo_token(&before).await;
    let mut client = with_bearer(&before, &token).await;
    let ticket = client
        .get_flight_info(zones.clone())
        .await
        .unwrap()
        .endpoint[0]
        .ticket
        .clone()
        .unwrap();

    // Rotated: new secret, the old one still accepted for verification.
    let (n, o) = (new.clone(), old.clone());
    let rotated = TestServer::start_with(move |c| {
        c.secret_file = n;
        c.previous_secret_files = vec![o];
    })
    .await;
    let mut client = with_bearer(&rotated, &token).await;
    let rows: usize = laker_integration_tests::fetch(&mut client, ticket.clone())
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 60, "old token and old ticket still work");
    let fresh = demo_token(&rotated).await;
    assert!(
        list_names(&mut with_bearer(&before, &fresh).await, "")
            .await
            .is_err(),
        "new tokens are signed with the new secret"
    );

    // The old secret dropped: its tokens are refused, new ones work.
    let n = new.clone();
    let dropped = TestServer::start_with(move |c| c.secret_file = n).await;
    let e = status(
        list_names(&mut with_bearer(&dropped, &token).await, "")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("no longer accepts"), "{}", e.message());
    assert!(
        list_names(&mut with_bearer(&dropped, &fresh).await, "")
            .await
            .is_ok()
    );
}
