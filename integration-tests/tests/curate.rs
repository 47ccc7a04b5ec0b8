//! Landing → curated: a transform declared on a curated dataset runs over
//! each landing commit; `replay` rebuilds the curated table from a range of
//! landing versions; commit events reach NATS JetStream.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightClient;
use laker_integration_tests::{TestServer, action, fetch_all, info_for, status, upload};
use tonic::Code;

const PASSWORD: &str = "landing-writer-pw";

fn orders(rows: &[(i64, &str, f64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// The curated dataset's rows as (id, city, cents), sorted by id.
async fn curated(client: &mut FlightClient) -> Vec<(i64, String, i64)> {
    let Ok(info) = info_for(client, &serde_json::json!({"dataset": "cur.orders"})).await else {
        return Vec::new();
    };
    let Ok(batches) = fetch_all(client, &info).await else {
        return Vec::new();
    };
    if batches.is_empty() {
        return Vec::new();
    }
    let all = concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = all.column_by_name("id").unwrap();
    let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
    let cities = all.column_by_name("city").unwrap();
    let cities = arrow::compute::cast(cities, &DataType::Utf8).unwrap();
    let cities = cities.as_any().downcast_ref::<StringArray>().unwrap();
    let cents = all.column_by_name("cents").unwrap();
    let cents = cents.as_any().downcast_ref::<Int64Array>().unwrap();
    let mut out: Vec<_> = (0..all.num_rows())
        .map(|i| (ids.value(i), cities.value(i).to_string(), cents.value(i)))
        .collect();
    out.sort();
    out
}

/// Polls the curated dataset until it holds `want` (the transform runs in
/// the background after each landing commit).
async fn until_curated(client: &mut FlightClient, want: &[(i64, &str, i64)]) {
    let want: Vec<_> = want
        .iter()
        .map(|(i, c, n)| (*i, c.to_string(), *n))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = curated(client).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "curated rows are {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The admin client, with namespace `raw` created and writable by the admin.
async fn raw_admin(s: &TestServer) -> FlightClient {
    let mut admin = s.admin_client().await;
    action(
        &mut admin,
        "create_namespace",
        serde_json::json!({"name": "raw"}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "admin", "pattern": "raw.*", "action": "write"}),
    )
    .await
    .unwrap();
    admin
}

/// Deduplicates, normalises, casts, drops bad rows and joins the demo's
/// reference dataset `demo.zones` (zones per city).
const TRANSFORM: &str = "SELECT o.id, upper(o.city) AS city, CAST(round(o.amount * 100) AS BIGINT) AS cents, \
     COALESCE(z.zones, 0) AS zones \
     FROM (SELECT DISTINCT id, city, amount FROM landing) o \
     LEFT JOIN (SELECT upper(city) AS city, count(*) AS zones FROM demo.zones GROUP BY upper(city)) z \
     ON upper(o.city) = z.city \
     WHERE o.amount >= 0";

#[tokio::test]
async fn landing_commits_feed_the_curated_dataset_and_replay_rebuilds_it() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    for (kind, body) in [
        ("create_namespace", serde_json::json!({"name": "raw"})),
        ("create_namespace", serde_json::json!({"name": "cur"})),
        (
            "create_user",
            serde_json::json!({"name": "lander", "password": PASSWORD}),
        ),
        (
            "grant",
            serde_json::json!({"user": "lander", "pattern": "raw.*", "action": "write"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "lander", "pattern": "cur.*", "action": "read"}),
        ),
        (
            "grant",
            serde_json::json!({"user": "admin", "pattern": "cur.*", "action": "write"}),
        ),
    ] {
        action(&mut admin, kind, body).await.unwrap();
    }
    let mut lander = s.login("lander", PASSWORD).await.unwrap();

    // Landing version 0: a duplicate and a negative amount.
    upload(
        &mut lander,
        "raw.orders",
        "create",
        None,
        vec![orders(&[
            (1, "oslo", 1.5),
            (2, "bergen", 2.0),
            (2, "bergen", 2.0),
            (3, "molde", -1.0),
        ])],
    )
    .await
    .unwrap();

    // The transform is checked when it is declared.
    let location = format!("{}/", s.lake_dir().join("cur/orders").display());
    let location = format!("file://{location}");
    let declare = |sql: &str| {
        serde_json::json!({
            "name": "cur.orders",
            "location": location,
            "format": "delta",
            "options": {"transform": {"landing": "raw.orders", "sql": sql}},
        })
    };
    let bad = action(
        &mut admin,
        "register_dataset",
        declare("SELECT nope FROM landing"),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("transform 'sql'"), "{bad:?}");
    let ddl = action(
        &mut admin,
        "register_dataset",
        declare("DROP TABLE landing"),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(ddl.code(), Code::PermissionDenied, "{ddl:?}");
    let by_lander = action(&mut lander, "register_dataset", declare(TRANSFORM))
        .await
        .map_err(status)
        .unwrap_err();
    assert_eq!(by_lander.code(), Code::PermissionDenied);

    // Declared on a dataset whose table does not exist yet: the first run
    // creates it from landing version 0.
    let registered = action(&mut admin, "register_dataset", declare(TRANSFORM))
        .await
        .unwrap();
    assert_eq!(
        registered["options"]["transform"]["run_as"], "admin",
        "{registered}"
    );
    until_curated(&mut lander, &[(1, "OSLO", 150), (2, "BERGEN", 200)]).await;

    // Each later landing commit is transformed on its own.
    upload(
        &mut lander,
        "raw.orders",
        "append",
        None,
        vec![orders(&[(4, "tromsø", 4.25), (5, "bodø", 0.5)])],
    )
    .await
    .unwrap();
    until_curated(
        &mut lander,
        &[
            (1, "OSLO", 150),
            (2, "BERGEN", 200),
            (4, "TROMSØ", 425),
            (5, "BODØ", 50),
        ],
    )
    .await;

    // The reference data joined in: Tromsø has demo zones, Bodø none.
    let info = info_for(
        &mut lander,
        &serde_json::json!({"dataset": "cur.orders", "columns": ["id", "zones"], "filter": "id IN (4, 5)"}),
    )
    .await
    .unwrap();
    let batches = fetch_all(&mut lander, &info).await.unwrap();
    let all = concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = all.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let zones = all.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    let zones_of = |id: i64| {
        (0..all.num_rows())
            .find(|&i| ids.value(i) == id)
            .map(|i| zones.value(i))
    };
    assert!(zones_of(4).unwrap() > 0);
    assert_eq!(zones_of(5), Some(0));

    // Replay is for admins of the curated dataset.
    let denied = action(
        &mut lander,
        "replay",
        serde_json::json!({"name": "cur.orders"}),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let out_of_range = action(
        &mut admin,
        "replay",
        serde_json::json!({"name": "cur.orders", "from_version": 1, "to_version": 9}),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(out_of_range.code(), Code::InvalidArgument);
    assert!(
        out_of_range.message().contains("to_version <= 1"),
        "{out_of_range:?}"
    );

    // Rebuilt from landing version 1 alone, in one commit.
    let replayed = action(
        &mut admin,
        "replay",
        serde_json::json!({"name": "cur.orders", "from_version": 1, "to_version": 1}),
    )
    .await
    .unwrap();
    assert_eq!(replayed["rows"], 2, "{replayed}");
    assert_eq!(
        curated(&mut lander).await,
        vec![(4, "TROMSØ".to_string(), 425), (5, "BODØ".to_string(), 50)]
    );

    // The feed continues after the replayed range.
    upload(
        &mut lander,
        "raw.orders",
        "append",
        None,
        vec![orders(&[(6, "alta", 1.0)])],
    )
    .await
    .unwrap();
    until_curated(
        &mut lander,
        &[(4, "TROMSØ", 425), (5, "BODØ", 50), (6, "ALTA", 100)],
    )
    .await;

    // A full replay gives back everything, each version transformed alone.
    let full = action(
        &mut admin,
        "replay",
        serde_json::json!({"name": "cur.orders"}),
    )
    .await
    .unwrap();
    assert_eq!(full["to_version"], 2);
    assert_eq!(full["rows"], 5);
    assert_eq!(curated(&mut lander).await.len(), 5);
}

#[tokio::test]
async fn commits_are_published_to_nats_jetstream() {
    let url = std::env::var("LAKER_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string());
    let unique = format!(
        "T{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let stream_name = format!("LAKER_TEST_{unique}");
    let prefix = format!("laker.test.{unique}");
    let (nats_url, stream_for_server, prefix_for_server) =
        (url.clone(), stream_name.clone(), prefix.clone());
    let s = TestServer::start_with(move |c| {
        c.notify.nats_url = Some(nats_url);
        c.notify.nats_stream = stream_for_server;
        c.notify.nats_subject_prefix = prefix_for_server;
    })
    .await;
    let mut admin = raw_admin(&s).await;
    upload(
        &mut admin,
        "raw.orders",
        "create",
        Some("nats-load-1"),
        vec![orders(&[(1, "oslo", 1.0), (2, "bergen", 2.0)])],
    )
    .await
    .unwrap();

    let client = async_nats::connect(url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{prefix}.raw.orders");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let message = loop {
        if let Ok(stream) = js.get_stream(&stream_name).await
            && let Ok(m) = stream.get_last_raw_message_by_subject(&subject).await
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event on {subject}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(event["dataset"], "raw.orders");
    assert_eq!(event["version"], 0);
    assert_eq!(event["rows"], 2);
    assert_eq!(event["principal"], "admin");
    assert_eq!(event["upload_id"], "nats-load-1");
    assert_eq!(event["mode"], "create");
    let id = message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(id, event["event_id"].as_str().unwrap(), "{event}");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    js.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test]
async fn landed_files_past_retention_leave_the_table() {
    let s = TestServer::start().await;
    let mut admin = raw_admin(&s).await;
    upload(
        &mut admin,
        "raw.old",
        "create",
        None,
        vec![orders(&[(1, "oslo", 1.0), (2, "bergen", 2.0)])],
    )
    .await
    .unwrap();
    // Version 0's file landed ten days ago, as far as the log knows.
    let table = s.lake_dir().join("raw/old");
    let commit = table.join("_delta_log/00000000000000000000.json");
    let log = std::fs::read_to_string(&commit).unwrap();
    let ten_days_ago = chrono::Utc::now().timestamp_millis() - 10 * 86_400_000;
    let start = log.find("\"modificationTime\":").unwrap() + "\"modificationTime\":".len();
    let end = start + log[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let aged = format!("{}{ten_days_ago}{}", &log[..start], &log[end..]);
    std::fs::write(&commit, aged).unwrap();
    let old_files: Vec<_> = std::fs::read_dir(&table)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(old_files.len(), 1);

    let updated = action(
        &mut admin,
        "update_dataset",
        serde_json::json!({"name": "raw.old", "options": {"retention_days": 7}}),
    )
    .await
    .unwrap();
    assert_eq!(updated["options"]["retention_days"], 7, "{updated}");
    upload(
        &mut admin,
        "raw.old",
        "append",
        None,
        vec![orders(&[(3, "molde", 3.0)])],
    )
    .await
    .unwrap();

    // Only the fresh upload is left; the old file stays in the store for a day.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = info_for(&mut admin, &serde_json::json!({"dataset": "raw.old"}))
            .await
            .unwrap();
        let batches = fetch_all(&mut admin, &info).await.unwrap();
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                let ids = b.column_by_name("id").unwrap();
                let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
                ids.values().to_vec()
            })
            .collect();
        if ids == vec![3] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows still there: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(old_files[0].exists());
    let zero = action(
        &mut admin,
        "update_dataset",
        serde_json::json!({"name": "raw.old", "options": {"retention_days": 0}}),
    )
    .await
    .map_err(status)
    .unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
}
