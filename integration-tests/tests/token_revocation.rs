//! Revoking one bearer token by its id (`revoke_token`): the token is
//! refused at its next call, saying it was revoked; the holder's other
//! tokens keep working; the revocation and the refusal are audited.

use laker_integration_tests::{TestServer, action, list_names, status};
use serde_json::json;
use tonic::Code;

/// The id of the token `client` calls with.
async fn token_id(client: &mut arrow_flight::FlightClient) -> String {
    let who = action(client, "whoami", json!({})).await.unwrap();
    who["token_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn one_token_is_revoked_and_the_others_keep_working() {
    let s = TestServer::start().await;
    let mut first = s.demo_client().await;
    let mut second = s.demo_client().await;
    let who = action(&mut first, "whoami", json!({})).await.unwrap();
    assert_eq!(who["name"], "demo");
    assert!(who["issuer"].is_null());
    let (first_id, second_id) = (token_id(&mut first).await, token_id(&mut second).await);
    assert_eq!(first_id.len(), 32);
    assert_ne!(first_id, second_id, "every token has its own id");

    // Only its own token, unless an admin.
    let err = status(
        action(&mut first, "revoke_token", json!({"token_id": second_id}))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    let mut admin = s.admin_client().await;
    let out = action(&mut admin, "revoke_token", json!({"token_id": first_id}))
        .await
        .unwrap();
    assert_eq!(out["revoked"], true);
    assert_eq!(out["already_revoked"], false);
    let err = status(list_names(&mut first, "").await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        err.message(),
        "this bearer token was revoked; authenticate again"
    );
    assert_eq!(
        list_names(&mut second, "").await.unwrap(),
        ["demo.trips", "demo.zones"],
        "the other token of the same user still works"
    );
    let again = action(&mut admin, "revoke_token", json!({"token_id": first_id}))
        .await
        .unwrap();
    assert_eq!(again["already_revoked"], true);

    // A holder ends its own token.
    action(&mut second, "revoke_token", json!({"token_id": second_id}))
        .await
        .unwrap();
    let err = status(list_names(&mut second, "").await.unwrap_err());
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("revoked"), "{}", err.message());
    let mut fresh = s.demo_client().await;
    assert_eq!(list_names(&mut fresh, "").await.unwrap().len(), 2);

    let err = status(
        action(&mut admin, "revoke_token", json!({"token_id": ""}))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    s.server.state().audit.flush().await;
    let records: Vec<_> = s
        .catalog
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let revocation = records
        .iter()
        .find(|r| r.action == "DoAction:revoke_token" && r.principal == "admin")
        .unwrap();
    assert_eq!(revocation.outcome, "ok");
    assert!(
        revocation.detail.contains(&first_id),
        "the audit names the token: {}",
        revocation.detail
    );
    assert!(
        records.iter().any(|r| r.principal == "demo"
            && r.action == "ListFlights"
            && r.outcome == "unauthenticated"
            && r.message.contains("revoked")),
        "the refused call is audited"
    );
}

#[tokio::test]
async fn the_http_api_shows_token_ids_and_revokes_by_them() {
    let s = TestServer::start_with(|c| c.http_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    s.admin_client().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1", s.server.http_addr().unwrap());
    let login = |user: &'static str, password: &'static str| {
        http.post(format!("{base}/login"))
            .json(&json!({"user": user, "password": password}))
            .send()
    };
    let demo: serde_json::Value = login("demo", "demo").await.unwrap().json().await.unwrap();
    let admin: serde_json::Value = login("admin", "admin-secret")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let demo_token = demo["token"].as_str().unwrap().to_string();
    let session = |token: &str| {
        http.get(format!("{base}/session"))
            .bearer_auth(token)
            .send()
    };
    let before: serde_json::Value = session(&demo_token).await.unwrap().json().await.unwrap();
    assert_eq!(before["token_id"], demo["token_id"]);
    let revoked = http
        .post(format!("{base}/admin/actions/revoke_token"))
        .bearer_auth(admin["token"].as_str().unwrap())
        .json(&json!({"token_id": demo["token_id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(session(&demo_token).await.unwrap().status(), 401);
}
