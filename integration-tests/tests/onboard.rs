//! Onboarding a client in one call, idempotently.

use laker_integration_tests::{TestServer, action, fetch_all, info_for, list_names, status};
use tonic::Code;

#[tokio::test]
async fn onboarding_creates_a_working_client_once() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    let body =
        serde_json::json!({"client": "acme", "read": ["demo.zones"], "description": "ACME Corp"});
    let first = action(&mut admin, "onboard", body.clone()).await.unwrap();
    assert_eq!(first["namespace"], "acme");
    assert_eq!(first["service_account"], "acme");
    assert_eq!(
        first["created"],
        serde_json::json!([
            "namespace",
            "service_account",
            "grant",
            "grant",
            "grant",
            "api_key"
        ])
    );
    let key = first["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("lk_"), "{key}");
    let python = first["python"].as_str().unwrap();
    assert!(
        python.contains(&key) && python.contains("authenticate_basic_token"),
        "{python}"
    );

    // The key works, and reads exactly what was granted.
    let mut client = s.login("key", &key).await.unwrap();
    let names = list_names(&mut client, "").await.unwrap();
    assert_eq!(names, vec!["demo.zones".to_string()]);
    let info = info_for(&mut client, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    assert_eq!(
        fetch_all(&mut client, &info)
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        60
    );
    let e = status(
        info_for(&mut client, &serde_json::json!({"dataset": "demo.trips"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound);

    // Again: nothing new, no second key.
    let second = action(&mut admin, "onboard", body).await.unwrap();
    assert_eq!(second["created"], serde_json::json!([]));
    assert!(second["api_key"].is_null());
    assert_eq!(second["key_id"], first["key_id"]);
    let keys = action(
        &mut admin,
        "list_api_keys",
        serde_json::json!({"name": "acme"}),
    )
    .await
    .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let grants = action(
        &mut admin,
        "list_grants",
        serde_json::json!({"user": "acme"}),
    )
    .await
    .unwrap();
    let grants: Vec<(String, String)> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["pattern"].as_str().unwrap().to_string(),
                g["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        vec![
            ("acme.*".to_string(), "read".to_string()),
            ("acme.*".to_string(), "write".to_string()),
            ("demo.zones".to_string(), "read".to_string()),
        ]
    );
}

#[tokio::test]
async fn onboarding_checks_everything_before_changing_anything() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    let e = status(
        action(
            &mut admin,
            "onboard",
            serde_json::json!({"client": "acme", "read": ["demo.nope"]}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound);
    assert!(s.catalog.user("acme").await.unwrap().is_none());
    assert!(s.catalog.namespace("acme").await.is_err());
    let e = status(
        action(&mut admin, "onboard", serde_json::json!({"client": "demo"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("existing user account"),
        "{}",
        e.message()
    );
    let e = status(
        action(
            &mut admin,
            "onboard",
            serde_json::json!({"client": "Bad Name!"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
}
