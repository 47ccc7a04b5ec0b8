//! Onboarding a client in one call, idempotently: its account and key,
//! and its project — a landing dataset fed by an ingest job with a
//! backfill, and a curated dataset the backfill flows into.

use std::time::Duration;

use arrow_flight::FlightClient;
use laker_catalog::rules::Transform;
use laker_catalog::{DatasetFormat, DatasetName, DatasetOptions, NewDataset};
use laker_integration_tests::{TestServer, action, fetch_all, info_for, list_names, status};
use tonic::Code;

use crate::ingest_support::{dir_store, ints, ok, orders, strs};

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

/// The curated query: the orders but id 2, the city in capitals, the
/// amount in cents, and the zones of the city from the reference dataset
/// `demo.zones` (which the client is granted).
const CURATED: &str = "SELECT o.id, upper(o.city) AS city, \
     CAST(round(o.amount * 100) AS BIGINT) AS cents, COALESCE(z.zones, 0) AS zones \
     FROM landing o LEFT JOIN \
     (SELECT upper(city) AS city, count(*) AS zones FROM demo.zones GROUP BY upper(city)) z \
     ON upper(o.city) = z.city WHERE o.id <> 2";

/// The (id, city, cents) rows of `shop.orders`, sorted; empty while it
/// cannot be read (its table is made by its first transform).
async fn curated_rows(client: &mut FlightClient) -> Vec<(i64, String, i64)> {
    let spec = serde_json::json!({"dataset": "shop.orders"});
    let Ok(info) = info_for(client, &spec).await else {
        return Vec::new();
    };
    let Ok(batches) = fetch_all(client, &info).await else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for batch in &batches {
        let cities = strs(batch, "city")
            .into_iter()
            .map(Option::unwrap_or_default);
        let ids = ints(batch, "id").into_iter().zip(cities);
        rows.extend(
            ids.zip(ints(batch, "cents"))
                .map(|((id, city), cents)| (id, city, cents)),
        );
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn onboarding_a_project_backfills_its_curated_dataset() {
    let dropped = tempfile::tempdir().unwrap();
    let inbox = dir_store(dropped.path());
    std::fs::write(dropped.path().join("a.csv"), orders(1..=3)).unwrap();
    std::fs::write(dropped.path().join("b.csv"), orders(4..=5)).unwrap();
    let s = TestServer::start_with(move |c| {
        c.stores.insert("inbox".into(), inbox);
    })
    .await;
    let mut admin = s.admin_client().await;
    let body = serde_json::json!({
        "client": "shop",
        "read": ["demo.zones"],
        "ingest_job": {"source": {"store": "inbox", "format": "csv"}, "backfill": true},
        "curated": [{"name": "orders", "sql": CURATED, "description": "Orders in cents"}]
    });
    let first = ok(&mut admin, "onboard", body.clone()).await;
    assert_eq!(
        first["created"],
        serde_json::json!([
            "namespace",
            "service_account",
            "grant",
            "grant",
            "grant",
            "api_key",
            "curated_dataset",
            "ingest_job"
        ])
    );
    assert_eq!(
        first["curated"],
        serde_json::json!([{
            "name": "shop.orders",
            "landing": "shop.landing",
            "created": true,
            "query_checked": true
        }])
    );
    let backfill = &first["ingest_job"]["backfill"];
    assert_eq!(
        (backfill["files"].as_u64(), backfill["rows"].as_u64()),
        (Some(2), Some(5)),
        "{backfill}"
    );

    // The backfill flows into the curated dataset (in the background).
    let want: Vec<(i64, String, i64)> = [1, 3, 4, 5]
        .into_iter()
        .map(|id| (id, "OSLO".to_string(), id * 100 + 50))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = curated_rows(&mut admin).await;
        if got == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "curated rows are {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It is the client's: its key reads it, and the transform runs as it.
    let key = first["api_key"].as_str().unwrap().to_string();
    let mut client = s.login("key", &key).await.unwrap();
    assert_eq!(curated_rows(&mut client).await, want);
    let name = laker_catalog::DatasetName::parse("shop.orders").unwrap();
    let dataset = s.catalog.dataset(&name).await.unwrap();
    let transform = dataset.options.transform.unwrap();
    assert_eq!(
        (transform.landing.as_str(), transform.run_as.as_str()),
        ("shop.landing", "shop")
    );
    assert_eq!(dataset.description, "Orders in cents");

    // Again: nothing new, nothing imported or transformed twice.
    let again = ok(&mut admin, "onboard", body).await;
    assert_eq!(again["created"], serde_json::json!([]));
    assert_eq!(again["curated"][0]["created"], false, "{again}");
    assert_eq!(again["ingest_job"]["backfill"]["files"], 0, "{again}");
    assert_eq!(curated_rows(&mut admin).await, want);

    // A curated query is planned before anything changes: one reading a
    // dataset the client will not be granted is refused.
    let e = status(
        action(
            &mut admin,
            "onboard",
            serde_json::json!({
                "client": "other",
                "ingest_job": {"source": {"store": "inbox", "format": "csv"}},
                "curated": [{"name": "trips", "sql": "SELECT l.id FROM landing l, demo.trips t"}]
            }),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("demo.trips"), "{}", e.message());
    assert!(s.catalog.user("other").await.unwrap().is_none());
    assert!(s.catalog.namespace("other").await.is_err());
    assert!(s.catalog.ingest_job("other_ingest").await.is_err());

    // Without files or a landing table the query cannot be planned yet: the
    // curated dataset is made, its query planned at the first landing commit.
    let solo = ok(
        &mut admin,
        "onboard",
        serde_json::json!({
            "client": "solo",
            "curated": [{"name": "clean", "sql": "SELECT DISTINCT * FROM landing"}]
        }),
    )
    .await;
    assert_eq!(
        solo["curated"],
        serde_json::json!([{
            "name": "solo.clean",
            "landing": "solo.landing",
            "created": true,
            "query_checked": false
        }])
    );
}

/// Registers `name`, with no files yet, at `dir` (through the catalog).
async fn register_at(s: &TestServer, name: &str, dir: &std::path::Path, options: DatasetOptions) {
    let name = DatasetName::parse(name).unwrap();
    s.catalog
        .ensure_namespace(&name.namespace, "")
        .await
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let format = if options.transform.is_some() {
        DatasetFormat::Delta
    } else {
        DatasetFormat::Parquet
    };
    s.catalog
        .register_dataset(NewDataset {
            name,
            description: String::new(),
            tags: vec![],
            format,
            location: url::Url::from_directory_path(dir).unwrap().to_string(),
            options,
            owner: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_curated_dataset_is_never_made_over_another_datasets_data() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    // Where acme's curated `sales` would be made (under the upload store)
    // lie the files of another dataset, which the admin reads in full.
    let dir = s.lake_dir().join("acme").join("sales");
    register_at(&s, "vault.secret", &dir, DatasetOptions::default()).await;
    let body = serde_json::json!({
        "client": "acme",
        "curated": [{"name": "sales", "sql": "SELECT * FROM landing"}]
    });
    let e = status(action(&mut admin, "onboard", body).await.unwrap_err());
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message()
            .contains("overlaps the location of dataset 'vault.secret'"),
        "{}",
        e.message()
    );
    assert!(
        !e.message().contains(&*dir.to_string_lossy()),
        "{}",
        e.message()
    );
    assert!(s.catalog.user("acme").await.unwrap().is_none());
    let curated = DatasetName::parse("acme.sales").unwrap();
    assert!(s.catalog.dataset(&curated).await.is_err());
}

#[tokio::test]
async fn an_existing_curated_dataset_run_as_someone_else_is_refused() {
    let s = TestServer::start().await;
    let mut admin = s.admin_client().await;
    let sql = "SELECT * FROM landing";
    let transform = Transform {
        landing: "acme.landing".into(),
        sql: sql.into(),
        run_as: "demo".into(),
    };
    let options = DatasetOptions {
        transform: Some(transform),
        ..DatasetOptions::default()
    };
    let dir = s.lake_dir().join("acme").join("sales");
    register_at(&s, "acme.sales", &dir, options).await;
    let body = serde_json::json!({
        "client": "acme",
        "curated": [{"name": "sales", "sql": sql}]
    });
    let e = status(action(&mut admin, "onboard", body).await.unwrap_err());
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("dataset 'acme.sales' exists"),
        "{}",
        e.message()
    );
    assert!(s.catalog.user("acme").await.unwrap().is_none());
    let kept = s
        .catalog
        .dataset(&DatasetName::parse("acme.sales").unwrap())
        .await
        .unwrap();
    assert_eq!(kept.options.transform.unwrap().run_as, "demo");
}

#[tokio::test]
async fn a_curated_query_may_read_what_the_clients_roles_read() {
    let dropped = tempfile::tempdir().unwrap();
    let inbox = dir_store(dropped.path());
    std::fs::write(dropped.path().join("a.csv"), orders(1..=3)).unwrap();
    let s = TestServer::start_with(move |c| {
        c.stores.insert("inbox".into(), inbox);
    })
    .await;
    let mut admin = s.admin_client().await;
    let job = serde_json::json!({"source": {"store": "inbox", "format": "csv"}, "backfill": true});
    // The landing table first, so the curated query is planned at once.
    let first = ok(
        &mut admin,
        "onboard",
        serde_json::json!({"client": "shop", "ingest_job": job}),
    )
    .await;
    assert_eq!(first["ingest_job"]["backfill"]["rows"], 3, "{first}");
    // The client reads demo.zones only through a role.
    ok(
        &mut admin,
        "create_role",
        serde_json::json!({"name": "refs"}),
    )
    .await;
    ok(
        &mut admin,
        "grant",
        serde_json::json!({"role": "refs", "pattern": "demo.zones", "action": "read"}),
    )
    .await;
    ok(
        &mut admin,
        "add_role_member",
        serde_json::json!({"role": "refs", "principal": "shop"}),
    )
    .await;
    let again = ok(
        &mut admin,
        "onboard",
        serde_json::json!({
            "client": "shop",
            "ingest_job": job,
            "curated": [{"name": "orders", "sql": CURATED}]
        }),
    )
    .await;
    assert_eq!(
        again["curated"],
        serde_json::json!([{
            "name": "shop.orders",
            "landing": "shop.landing",
            "created": true,
            "query_checked": true
        }])
    );
    // No direct grant on demo.zones was made for it.
    let grants = ok(
        &mut admin,
        "list_grants",
        serde_json::json!({"user": "shop"}),
    )
    .await;
    assert!(
        grants
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["pattern"] != "demo.zones"),
        "{grants}"
    );
}
