//! Ingest jobs import files dropped into a bucket (a real moto_server) or a
//! directory: each file version once, bad files quarantined with their
//! reason (or the run failed whole), runs recorded in `system.ingest_runs`
//! and `system.ingest_files`, on a schedule or when asked.

use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::{TestServer, action, status};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tonic::Code;

use crate::ingest_support::{
    BUCKET, dir_store, files, flags, ids, ints, moto_store, ok, orders, put, run_job, runs, strs,
};

#[tokio::test]
async fn dropped_files_are_imported_once_and_bad_ones_quarantined() {
    let moto = MotoServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let drop_store = moto_store(&moto, keys.path()).await;
    let s3 = moto.store(BUCKET);
    let s = TestServer::start_with(|c| {
        c.stores.insert("drop".into(), drop_store);
    })
    .await;
    s.catalog.ensure_namespace("acme", "").await.unwrap();
    let mut admin = s.admin_client().await;
    let job = ok(
        &mut admin,
        "create_ingest_job",
        serde_json::json!({
            "name": "acme_drop",
            "source": {"store": "drop", "prefix": "acme/in/", "pattern": "*.csv", "format": "csv"},
            "target": "acme.landing",
            "schedule": "every 1d"
        }),
    )
    .await;
    assert_eq!(job["name"], "acme_drop");
    assert_eq!(job["spec"]["mode"], "per_file");
    assert!(job["next_run_at"].as_i64().unwrap() > chrono::Utc::now().timestamp_millis());

    // The first drop: two good files, two bad ones, and files not taken.
    put(s3.as_ref(), "acme/in/a_orders.csv", &orders(1..=2)).await;
    put(s3.as_ref(), "acme/in/b_orders.csv", &orders(3..=5)).await;
    put(
        s3.as_ref(),
        "acme/in/c_short_row.csv",
        "id,amount,city\n6,1.5,Oslo\n7,2.5\n",
    )
    .await;
    put(
        s3.as_ref(),
        "acme/in/d_bad_amount.csv",
        "id,amount,city\n8,abc,Oslo\n",
    )
    .await;
    put(s3.as_ref(), "acme/in/notes.txt", "not a csv").await;
    put(s3.as_ref(), "acme/in/_partial.csv", &orders(90..=99)).await;
    put(s3.as_ref(), "acme/elsewhere.csv", &orders(80..=89)).await;
    let first = run_job(&mut admin, "acme_drop").await.unwrap();
    assert_eq!(
        (
            first["outcome"].as_str(),
            first["files"].as_u64(),
            first["rows"].as_u64()
        ),
        (Some("ok"), Some(2), Some(5)),
        "{first}"
    );
    let rejected: Vec<&str> = first["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        rejected,
        ["acme/in/c_short_row.csv", "acme/in/d_bad_amount.csv"]
    );
    let bad_amount = first["rejected"][1]["reason"].as_str().unwrap();
    assert!(bad_amount.contains("abc"), "{bad_amount}");
    assert!(first["delta_version"].is_u64(), "{first}");
    assert_eq!(ids(&mut admin, "acme.landing").await, [1, 2, 3, 4, 5]);

    // Each rejected file is copied into quarantine with its reason beside it.
    let run1 = first["run_id"].as_i64().unwrap();
    let copy = ObjectPath::from(format!("_quarantine/acme_drop/{run1}/c_short_row.csv"));
    let copied = s3.get(&copy).await.unwrap().bytes().await.unwrap();
    assert_eq!(copied.as_ref(), b"id,amount,city\n6,1.5,Oslo\n7,2.5\n");
    let reason = format!("_quarantine/acme_drop/{run1}/d_bad_amount.csv.reason.json");
    let reason = ObjectPath::from(reason);
    let reason: serde_json::Value =
        serde_json::from_slice(&s3.get(&reason).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(reason["file"], "acme/in/d_bad_amount.csv");
    assert_eq!(reason["run_id"], run1);
    assert!(
        reason["reason"].as_str().unwrap().contains("abc"),
        "{reason}"
    );

    // The second drop: a copy of a file under a new name (imported: files
    // are told apart by name and version, not content) and a file uploaded
    // again under its name with new content (imported again, as a re-import).
    put(s3.as_ref(), "acme/in/e_copy_of_a.csv", &orders(1..=2)).await;
    put(s3.as_ref(), "acme/in/b_orders.csv", &orders(30..=30)).await;
    let second = run_job(&mut admin, "acme_drop").await.unwrap();
    assert_eq!(
        (
            second["files"].as_u64(),
            second["rows"].as_u64(),
            second["reimports"].as_u64()
        ),
        (Some(2), Some(3), Some(1)),
        "{second}"
    );
    assert_eq!(second["rejected"], serde_json::json!([]));
    assert_eq!(
        ids(&mut admin, "acme.landing").await,
        [1, 1, 2, 2, 3, 4, 5, 30]
    );
    // Nothing new: nothing imported, nothing committed.
    let third = run_job(&mut admin, "acme_drop").await.unwrap();
    assert_eq!(
        (third["files"].as_u64(), third["rows"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(third["delta_version"].is_null(), "{third}");

    // Every run is in system.ingest_runs.
    let recorded = runs(&mut admin, "acme_drop").await;
    assert_eq!(ints(&recorded, "files"), [2, 2, 0]);
    assert_eq!(ints(&recorded, "rows"), [5, 3, 0]);
    assert_eq!(ints(&recorded, "rejects"), [2, 0, 0]);
    assert_eq!(ints(&recorded, "reimports"), [0, 1, 0]);
    let outcomes = strs(&recorded, "outcome");
    assert!(
        outcomes.iter().all(|o| o.as_deref() == Some("ok")),
        "{outcomes:?}"
    );
    let causes = strs(&recorded, "cause");
    assert!(
        causes.iter().all(|c| c.as_deref() == Some("manual")),
        "{causes:?}"
    );
    assert_eq!(ints(&recorded, "id")[0], run1);

    // And every file taken is in system.ingest_files, rejects with reasons.
    let taken = files(&mut admin, "acme_drop").await;
    let paths: Vec<String> = strs(&taken, "path").into_iter().flatten().collect();
    assert_eq!(
        paths,
        [
            "acme/in/a_orders.csv",
            "acme/in/b_orders.csv",
            "acme/in/b_orders.csv",
            "acme/in/c_short_row.csv",
            "acme/in/d_bad_amount.csv",
            "acme/in/e_copy_of_a.csv",
        ]
    );
    let outcomes: Vec<String> = strs(&taken, "outcome").into_iter().flatten().collect();
    assert_eq!(
        outcomes,
        [
            "imported", "imported", "imported", "rejected", "rejected", "imported"
        ]
    );
    assert_eq!(ints(&taken, "rows"), [2, 3, 1, 0, 0, 2]);
    assert_eq!(
        flags(&taken, "reimport"),
        [false, false, true, false, false, false]
    );
    assert!(flags(&taken, "pending").iter().all(|p| !p));
    let reasons = strs(&taken, "reason");
    assert!(reasons[3].is_some() && reasons[4].is_some() && reasons[0].is_none());

    // The job is listed with its latest run; deleting it keeps the runs.
    let listed = ok(&mut admin, "list_ingest_jobs", serde_json::json!({})).await;
    assert_eq!(listed["jobs"][0]["name"], "acme_drop");
    assert_eq!(listed["jobs"][0]["last_run"]["files"], 0);
    ok(
        &mut admin,
        "delete_ingest_job",
        serde_json::json!({"name": "acme_drop"}),
    )
    .await;
    let gone = run_job(&mut admin, "acme_drop").await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    assert_eq!(
        ints(&runs(&mut admin, "acme_drop").await, "files"),
        [2, 2, 0]
    );
}

#[tokio::test]
async fn all_or_nothing_fails_the_run_until_the_bad_file_is_gone() {
    let dropped = tempfile::tempdir().unwrap();
    let store = dir_store(dropped.path());
    let s = TestServer::start_with(|c| {
        c.stores.insert("inbox".into(), store);
    })
    .await;
    s.catalog.ensure_namespace("strict", "").await.unwrap();
    let mut admin = s.admin_client().await;
    ok(
        &mut admin,
        "create_ingest_job",
        serde_json::json!({
            "name": "strict_feed",
            "source": {"store": "inbox", "format": "json"},
            "target": "strict.landing",
            "mode": "all_or_nothing"
        }),
    )
    .await;
    std::fs::write(
        dropped.path().join("good.json"),
        "{\"id\": 1}\n{\"id\": 2}\n",
    )
    .unwrap();
    std::fs::write(dropped.path().join("bad.json"), "{\"id\": 3}\n{not json\n").unwrap();
    let failed = run_job(&mut admin, "strict_feed").await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("1 file(s) rejected, e.g. '") && message.contains("all_or_nothing"),
        "{message}"
    );
    assert_eq!(failed["files"], 0);
    let e = s
        .catalog
        .dataset(&laker_catalog::DatasetName::parse("strict.landing").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, laker_catalog::CatalogError::NotFound { .. }),
        "{e}"
    );

    // The bad file goes; the next run takes the good one it left.
    std::fs::remove_file(dropped.path().join("bad.json")).unwrap();
    let done = run_job(&mut admin, "strict_feed").await.unwrap();
    assert_eq!(
        (done["outcome"].as_str(), done["files"].as_u64()),
        (Some("ok"), Some(1))
    );
    assert_eq!(ids(&mut admin, "strict.landing").await, [1, 2]);
    let recorded = runs(&mut admin, "strict_feed").await;
    let outcomes: Vec<String> = strs(&recorded, "outcome").into_iter().flatten().collect();
    assert_eq!(outcomes, ["failed", "ok"]);
}

#[tokio::test]
async fn the_scheduler_runs_due_jobs_by_itself() {
    let dropped = tempfile::tempdir().unwrap();
    let store = dir_store(dropped.path());
    let s = TestServer::start_with(|c| {
        c.stores.insert("inbox".into(), store);
    })
    .await;
    s.catalog.ensure_namespace("tick", "").await.unwrap();
    let mut admin = s.admin_client().await;
    std::fs::write(dropped.path().join("one.csv"), orders(1..=3)).unwrap();
    ok(
        &mut admin,
        "create_ingest_job",
        serde_json::json!({
            "name": "tick_feed",
            "source": {"store": "inbox", "format": "csv"},
            "target": "tick.landing",
            "schedule": "every 1s"
        }),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let recorded = runs(&mut admin, "tick_feed").await;
        if ints(&recorded, "files").first() == Some(&1) {
            assert_eq!(strs(&recorded, "cause")[0].as_deref(), Some("schedule"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled run imported the file"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ids(&mut admin, "tick.landing").await, [1, 2, 3]);
}

#[tokio::test]
async fn bad_jobs_are_refused_with_the_reason() {
    let dropped = tempfile::tempdir().unwrap();
    let store = dir_store(dropped.path());
    let s = TestServer::start_with(|c| {
        c.stores.insert("inbox".into(), store);
    })
    .await;
    s.catalog.ensure_namespace("acme", "").await.unwrap();
    let mut admin = s.admin_client().await;
    let job = |patch: serde_json::Value| {
        let mut body = serde_json::json!({
            "name": "j",
            "source": {"store": "inbox", "format": "csv"},
            "target": "acme.landing"
        });
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            job(serde_json::json!({"source": {"store": "nowhere", "format": "csv"}})),
            Code::InvalidArgument,
            "'source.store' names no configured store: 'nowhere'",
        ),
        (
            job(serde_json::json!({"schedule": "whenever"})),
            Code::InvalidArgument,
            "'schedule' must be",
        ),
        (
            job(serde_json::json!({"target": "nons.landing"})),
            Code::NotFound,
            "namespace 'nons' not found",
        ),
        (
            job(serde_json::json!({"target": "demo.trips"})),
            Code::FailedPrecondition,
            "ingest jobs land files in Delta datasets",
        ),
        (
            job(serde_json::json!({"source": {"store": "inbox", "format": "xlsx"}})),
            Code::InvalidArgument,
            "unknown variant `xlsx`",
        ),
        (
            job(serde_json::json!({"retries": 3})),
            Code::InvalidArgument,
            "unknown field `retries`",
        ),
    ];
    for (body, code, message) in cases {
        let e = status(
            action(&mut admin, "create_ingest_job", body.clone())
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code(), code, "{body}: {e:?}");
        assert!(e.message().contains(message), "{body}: {}", e.message());
    }
    ok(&mut admin, "create_ingest_job", job(serde_json::json!({}))).await;
    let twice = status(
        action(&mut admin, "create_ingest_job", job(serde_json::json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(twice.code(), Code::AlreadyExists, "{twice:?}");
    // Only admins on * manage jobs.
    let mut demo = s.demo_client().await;
    let e = run_job(&mut demo, "j").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}
