//! The data audit: every handshake, listing, GetFlightInfo, DoGet and admin
//! action leaves a record in the catalog, readable through `system.audit`
//! and summarised in `system.usage`; a flood of downloads loses none.

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow_flight::FlightClient;
use futures::{StreamExt, TryStreamExt};
use laker_integration_tests::{TestServer, action, fetch_all, info_for, status};
use tonic::Code;

const PASSWORD: &str = "correct-horse-battery";

/// One audit row: (principal, action, dataset, outcome, rows).
pub(crate) type AuditRow = (String, String, String, String, i64);

pub(crate) async fn audit_rows(admin: &mut FlightClient, filter: &str) -> Vec<AuditRow> {
    let spec = serde_json::json!({
        "dataset": "system.audit",
        "columns": ["principal", "action", "dataset", "outcome", "rows"],
        "filter": filter,
    });
    let info = info_for(admin, &spec).await.unwrap();
    let batches = fetch_all(admin, &info).await.unwrap();
    if batches.is_empty() {
        return Vec::new();
    }
    let batch = concat_batches(batches[0].schema_ref(), &batches).unwrap();
    let text = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    };
    let (p, a, d, o) = (text(0), text(1), text(2), text(3));
    let rows = batch
        .column(4)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    (0..batch.num_rows())
        .map(|i| {
            (
                p.value(i).to_string(),
                a.value(i).to_string(),
                d.value(i).to_string(),
                o.value(i).to_string(),
                rows.value(i),
            )
        })
        .collect()
}

pub(crate) fn row(p: &str, a: &str, d: &str, o: &str, rows: i64) -> AuditRow {
    (p.into(), a.into(), d.into(), o.into(), rows)
}

#[tokio::test]
async fn known_actions_leave_exact_audit_records() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_user",
        serde_json::json!({"name": "carol", "password": PASSWORD}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "carol", "pattern": "demo.zones", "action": "read"}),
    )
    .await
    .unwrap();
    // carol: a failed login, a login, a download of 7 zones, a denied read.
    assert!(s.login("carol", "wrong-password-here").await.is_err());
    let mut carol = s.login("carol", PASSWORD).await.unwrap();
    let spec = serde_json::json!({"dataset": "demo.zones", "limit": 7});
    let info = info_for(&mut carol, &spec).await.unwrap();
    let got: usize = fetch_all(&mut carol, &info)
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(got, 7);
    let denied = status(
        info_for(&mut carol, &serde_json::json!({"dataset": "demo.trips"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code(), Code::NotFound);
    // An upload without the write grant is refused and audited all the same.
    let put = carol
        .do_put(
            futures::stream::iter(vec![arrow_flight::FlightData {
                flight_descriptor: Some(arrow_flight::FlightDescriptor::new_path(vec![
                    "demo".into(),
                    "zones".into(),
                ])),
                ..Default::default()
            }])
            .map(Ok),
        )
        .await;
    let put = match put {
        Err(e) => status(e),
        Ok(s) => status(s.try_collect::<Vec<_>>().await.unwrap_err()),
    };
    assert_eq!(put.code(), Code::PermissionDenied, "{put:?}");

    let rows = audit_rows(&mut admin, "principal = 'carol'").await;
    assert_eq!(
        rows,
        vec![
            row("carol", "Handshake", "", "unauthenticated", 0),
            row("carol", "Handshake", "", "ok", 0),
            row("carol", "GetFlightInfo", "demo.zones", "ok", 0),
            row("carol", "DoGet", "demo.zones", "ok", 7),
            row("carol", "GetFlightInfo", "demo.trips", "not_found", 0),
            row("carol", "DoPut", "demo.zones", "permission_denied", 0),
        ]
    );
    let admin_actions = audit_rows(
        &mut admin,
        "principal = 'admin' AND action LIKE 'DoAction:%'",
    )
    .await;
    assert_eq!(
        admin_actions,
        vec![
            row("admin", "DoAction:create_user", "", "ok", 0),
            row("admin", "DoAction:grant", "demo.zones", "ok", 0),
        ]
    );
    // The password given to create_user is not in the audit.
    let spec = serde_json::json!({"dataset": "system.audit", "columns": ["detail"], "filter": "action = 'DoAction:create_user'"});
    let info = info_for(&mut admin, &spec).await.unwrap();
    let batches = fetch_all(&mut admin, &info).await.unwrap();
    let detail = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    assert!(
        detail.contains("carol") && !detail.contains(PASSWORD),
        "{detail}"
    );
    assert!(detail.contains("***"), "{detail}");

    // The usage summary counts carol's download.
    let spec = serde_json::json!({"dataset": "system.usage", "filter": "principal = 'carol'"});
    let info = info_for(&mut admin, &spec).await.unwrap();
    let batches = fetch_all(&mut admin, &info).await.unwrap();
    let batch = concat_batches(batches[0].schema_ref(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 1);
    let int = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!((int("downloads"), int("rows")), (1, 7));
    assert!(int("bytes") > 0);
}

#[tokio::test]
async fn the_audit_is_for_admins_only() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let e = status(
        info_for(&mut demo, &serde_json::json!({"dataset": "system.audit"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound);
    let mut admin = s.admin_client().await;
    let e = status(
        action(
            &mut admin,
            "delete_dataset",
            serde_json::json!({"name": "system.audit"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("built-in"), "{}", e.message());
    let e = status(
        action(
            &mut admin,
            "create_namespace",
            serde_json::json!({"name": "system"}),
        )
        .await
        .unwrap_err(),
    );
    assert!(e.message().contains("reserved"), "{}", e.message());
}

#[tokio::test]
async fn a_flood_of_downloads_loses_no_audit_record() {
    // A queue of two records: downloads must wait for the writer, not drop.
    let s = TestServer::start_with(|c| c.audit_queue = 2).await;
    let mut admin = s.admin_client().await;
    const DOWNLOADS: usize = 60;
    let mut tasks = Vec::new();
    for i in 0..DOWNLOADS {
        let mut client = s.demo_client().await;
        tasks.push(tokio::spawn(async move {
            let limit = (i % 5 + 1) as u64;
            let spec = serde_json::json!({"dataset": "demo.zones", "limit": limit});
            let info = info_for(&mut client, &spec).await.unwrap();
            let batches = fetch_all(&mut client, &info).await.unwrap();
            batches.iter().map(RecordBatch::num_rows).sum::<usize>()
        }));
    }
    let mut expected_rows = 0;
    for t in tasks {
        expected_rows += t.await.unwrap();
    }
    let rows = audit_rows(&mut admin, "principal = 'demo' AND action = 'DoGet'").await;
    assert_eq!(rows.len(), DOWNLOADS);
    assert!(rows.iter().all(|r| r.3 == "ok"));
    assert_eq!(
        rows.iter().map(|r| r.4 as usize).sum::<usize>(),
        expected_rows
    );
    let infos = audit_rows(
        &mut admin,
        "principal = 'demo' AND action = 'GetFlightInfo'",
    )
    .await;
    assert_eq!(infos.len(), DOWNLOADS);
}

#[tokio::test]
async fn retention_deletes_old_records() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    action(&mut admin, "list_users", serde_json::json!({}))
        .await
        .unwrap();
    assert!(
        !audit_rows(&mut admin, "action = 'DoAction:list_users'")
            .await
            .is_empty()
    );
    let deleted = s
        .catalog
        .delete_audit_before(chrono::Utc::now().timestamp_millis() + 1)
        .await
        .unwrap();
    assert!(deleted >= 2, "{deleted}");
    let left = audit_rows(&mut admin, "action = 'DoAction:list_users'").await;
    assert!(left.is_empty(), "{left:?}");
}
