//! Catalog administration through DoAction: who may do what, every bad input
//! refused with a status naming the problem and the catalog left unchanged,
//! refresh after the lake changed, describe with statistics, and the
//! discovery metadata on FlightInfo and GetSchema.

use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow_flight::{FlightClient, FlightDescriptor};
use futures::TryStreamExt;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, rows, status};
use parquet::arrow::ArrowWriter;
use tonic::Code;
use url::Url;

fn write_parquet(path: &std::path::Path, from: i64, to: i64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from((from..to).collect::<Vec<_>>()))],
    )
    .unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

async fn count(client: &mut FlightClient, dataset: &str) -> usize {
    let info = info_for(client, &serde_json::json!({"dataset": dataset}))
        .await
        .unwrap();
    rows(&fetch_all(client, &info).await.unwrap())
}

async fn refused(
    client: &mut FlightClient,
    kind: &str,
    body: serde_json::Value,
    code: Code,
    needle: &str,
) {
    let err = status(action(client, kind, body.clone()).await.unwrap_err());
    assert_eq!(err.code(), code, "{kind} {body}: {err:?}");
    assert!(
        err.message().contains(needle),
        "{kind} {body}: '{}' lacks '{needle}'",
        err.message()
    );
}

#[tokio::test]
async fn list_actions_describes_every_action() {
    let s = TestServer::start().await;
    let mut client = s.demo_client().await;
    let actions: Vec<_> = client
        .list_actions()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<&str> = actions.iter().map(|a| a.r#type.as_str()).collect();
    assert_eq!(
        names,
        [
            "register_dataset",
            "update_dataset",
            "delete_dataset",
            "refresh_dataset",
            "replay",
            "create_ingest_job",
            "list_ingest_jobs",
            "run_ingest_job",
            "delete_ingest_job",
            "describe_dataset",
            "create_namespace",
            "delete_namespace",
            "create_service_account",
            "create_api_key",
            "revoke_api_key",
            "refresh_token",
            "onboard",
            "create_user",
            "set_password",
            "set_user_disabled",
            "set_user_attributes",
            "delete_user",
            "list_users",
            "create_role",
            "delete_role",
            "list_roles",
            "add_role_member",
            "remove_role_member",
            "grant",
            "revoke",
            "list_grants",
            "logout",
            "revoke_tokens",
            "revoke_token",
            "whoami",
            "list_api_keys",
            "request_access",
            "list_access_requests",
            "approve_access_request",
            "reject_access_request"
        ]
    );
    assert!(actions.iter().all(|a| a.description.len() > 40));
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let lake = s.lake_dir();
    write_parquet(&lake.join("good/part-0.parquet"), 0, 10);
    std::fs::create_dir_all(lake.join("empty")).unwrap();
    std::fs::create_dir_all(lake.join("csvs")).unwrap();
    std::fs::write(lake.join("csvs/a.parquet"), "a,b\n1,2\n").unwrap();
    let url = |p: &str| Url::from_directory_path(lake.join(p)).unwrap().to_string();
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_namespace",
        serde_json::json!({"name": "t"}),
    )
    .await
    .unwrap();
    let before = s.catalog.datasets().await.unwrap();
    let reg = |name: &str, location: String, format: &str| serde_json::json!({"name": name, "location": location, "format": format});

    let mut demo = s.demo_client().await;
    refused(
        &mut demo,
        "register_dataset",
        reg("t.good", url("good"), "parquet"),
        Code::PermissionDenied,
        "may not admin dataset 't.good'",
    )
    .await;
    refused(
        &mut demo,
        "create_namespace",
        serde_json::json!({"name": "x"}),
        Code::PermissionDenied,
        "may not admin namespace 'x'",
    )
    .await;

    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", url("good"), "xlsx"),
        Code::InvalidArgument,
        "supported formats are: parquet, csv, json, arrow, delta",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", "s3://elsewhere/data/".into(), "parquet"),
        Code::FailedPrecondition,
        "not on a store this server has configured",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", "file:///etc/".into(), "csv"),
        Code::InvalidArgument,
        "outside the allowed prefix",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", format!("{}../../", url("good")), "parquet"),
        Code::InvalidArgument,
        "'..'",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("nope.good", url("good"), "parquet"),
        Code::NotFound,
        "namespace 'nope",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.empty", url("empty"), "parquet"),
        Code::FailedPrecondition,
        "No files found",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.csvs", url("csvs"), "parquet"),
        Code::FailedPrecondition,
        "cannot read dataset 't.csvs'",
    )
    .await;
    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", url("good"), "delta"),
        Code::FailedPrecondition,
        "no Delta transaction log",
    )
    .await;
    refused(&mut admin, "register_dataset",
        serde_json::json!({"name": "t.good", "location": url("good"), "format": "parquet", "colour": 1}),
        Code::InvalidArgument, "unknown field `colour`").await;
    refused(
        &mut admin,
        "register_dataset",
        serde_json::json!({"name": "t.good", "location": url("good"), "format": "parquet",
                           "options": {"csv": {"delimiter": ";"}}}),
        Code::InvalidArgument,
        "'csv' options apply to the csv format",
    )
    .await;
    refused(
        &mut admin,
        "frobnicate",
        serde_json::json!({}),
        Code::InvalidArgument,
        "unknown action 'frobnicate'",
    )
    .await;
    assert_eq!(
        s.catalog.datasets().await.unwrap(),
        before,
        "catalog unchanged"
    );

    action(
        &mut admin,
        "register_dataset",
        reg("t.good", url("good"), "parquet"),
    )
    .await
    .unwrap();
    refused(
        &mut admin,
        "register_dataset",
        reg("t.good", url("good"), "parquet"),
        Code::AlreadyExists,
        "dataset 't.good' already exists",
    )
    .await;
    refused(
        &mut admin,
        "delete_namespace",
        serde_json::json!({"name": "t"}),
        Code::FailedPrecondition,
        "still holds 1 dataset",
    )
    .await;
    refused(
        &mut admin,
        "update_dataset",
        serde_json::json!({"name": "t.good", "location": url("empty")}),
        Code::FailedPrecondition,
        "No files found",
    )
    .await;
    assert_eq!(
        s.catalog
            .dataset(&laker_catalog::DatasetName::parse("t.good").unwrap())
            .await
            .unwrap()
            .location,
        url("good"),
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn update_refresh_delete() {
    let s = TestServer::start().await;
    let lake = s.lake_dir();
    write_parquet(&lake.join("grow/part-0.parquet"), 0, 10);
    let location = Url::from_directory_path(lake.join("grow"))
        .unwrap()
        .to_string();
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_namespace",
        serde_json::json!({"name": "t", "description": "tests"}),
    )
    .await
    .unwrap();
    let reg = action(
        &mut admin,
        "register_dataset",
        serde_json::json!({"name": "t.grow", "location": location, "format": "parquet"}),
    )
    .await
    .unwrap();
    assert_eq!(reg["revision"], 1);
    assert_eq!(count(&mut admin, "t.grow").await, 10);

    let upd = action(
        &mut admin,
        "update_dataset",
        serde_json::json!({"name": "t.grow", "description": "grows", "tags": ["x", "x", "y"], "owner": "me"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (upd["revision"].as_i64(), upd["description"].as_str()),
        (Some(2), Some("grows"))
    );
    assert_eq!(upd["tags"], serde_json::json!(["x", "y"]));

    // New files are not seen until a refresh (schemas and listings are cached
    // per revision).
    assert_eq!(count(&mut admin, "t.grow").await, 10);
    write_parquet(&lake.join("grow/part-1.parquet"), 10, 25);
    assert_eq!(count(&mut admin, "t.grow").await, 10);
    let refreshed = action(
        &mut admin,
        "refresh_dataset",
        serde_json::json!({"name": "t.grow"}),
    )
    .await
    .unwrap();
    assert_eq!(refreshed["revision"], 3);
    assert!(refreshed["refreshed_at"].as_i64().unwrap() > 0);
    assert_eq!(count(&mut admin, "t.grow").await, 25);

    let described = action(
        &mut admin,
        "describe_dataset",
        serde_json::json!({"name": "t.grow"}),
    )
    .await
    .unwrap();
    assert_eq!(
        described["statistics"]["rows"],
        serde_json::json!({"value": 25, "exact": true})
    );
    assert_eq!(described["statistics"]["files"], 2);
    let n = &described["statistics"]["columns"][0];
    assert_eq!(
        (n["name"].as_str(), n["min"].as_str(), n["max"].as_str()),
        (Some("n"), Some("0"), Some("24"))
    );
    assert_eq!(n["null_count"]["value"], 0);

    action(
        &mut admin,
        "delete_dataset",
        serde_json::json!({"name": "t.grow"}),
    )
    .await
    .unwrap();
    let err = status(
        info_for(&mut admin, &serde_json::json!({"dataset": "t.grow"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::NotFound);
    refused(
        &mut admin,
        "delete_dataset",
        serde_json::json!({"name": "t.grow"}),
        Code::NotFound,
        "dataset 't.grow' not found",
    )
    .await;
    action(
        &mut admin,
        "delete_namespace",
        serde_json::json!({"name": "t"}),
    )
    .await
    .unwrap();
    assert!(s.catalog.namespace("t").await.is_err());
}

#[tokio::test]
async fn describe_and_discovery_metadata() {
    let s = TestServer::start().await;
    let mut demo = s.demo_client().await;
    let d = action(
        &mut demo,
        "describe_dataset",
        serde_json::json!({"name": "demo.trips"}),
    )
    .await
    .unwrap();
    assert_eq!(d["statistics"]["rows"]["value"], 2_000_000);
    assert_eq!(d["statistics"]["rows"]["exact"], true);
    assert_eq!(d["statistics"]["files"], 24);
    assert!(d["statistics"]["size_bytes"].as_u64().unwrap() > 10_000_000);
    assert_eq!(
        d["partition_columns"],
        serde_json::json!([{"name": "month", "type": "Utf8"}])
    );
    assert_eq!(d["owner"], "laker demo");
    let fare = d["statistics"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fare")
        .unwrap();
    assert!(fare["min"].is_string() && fare["max"].is_string(), "{fare}");

    let info = info_for(&mut demo, &serde_json::json!({"dataset": "demo.zones"}))
        .await
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&info.app_metadata).unwrap();
    assert_eq!(meta["name"], "demo.zones");
    assert!(meta["description"].as_str().unwrap().contains("Taxi zones"));
    assert_eq!(meta["tags"], serde_json::json!(["demo", "taxi", "lookup"]));
    let schema = info.try_decode_schema().unwrap();
    assert_eq!(schema.metadata()["laker:dataset"], "demo.zones");
    assert_eq!(
        schema.metadata()["laker:tags"],
        r#"["demo","taxi","lookup"]"#
    );
    let schema = demo
        .get_schema(FlightDescriptor::new_path(vec![
            "demo".into(),
            "zones".into(),
        ]))
        .await
        .unwrap();
    assert!(schema.metadata()["laker:description"].contains("Taxi zones"));

    let err = status(
        action(
            &mut demo,
            "describe_dataset",
            serde_json::json!({"name": "demo.nope"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(err.message().contains("dataset 'demo.nope' not found"));
}
