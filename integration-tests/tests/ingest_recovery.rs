//! Ingest jobs import each file version exactly once across a server that
//! stops between its Delta commit and its manifest, across two replicas on
//! one PostgreSQL catalog, and in a backfill of a thousand files; the
//! catalog's leases, slots and manifest on both backends.

use futures::StreamExt;
use laker_catalog::{CatalogError, ManifestFile, RunSummary};
use laker_integration_tests::moto::MotoServer;
use laker_integration_tests::postgres::PgDatabase;
use laker_integration_tests::{TestServer, action};
use tonic::Code;

use crate::catalog::catalogs;
use crate::ingest_support::{
    BUCKET, dir_store, files, flags, ids, ints, moto_store, ok, orders, put, run_job, runs, strs,
};

fn feed(store: &str, target: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "feed",
        "source": {"store": store, "format": "csv"},
        "target": target
    })
}

#[tokio::test]
async fn a_run_that_stopped_after_its_commit_is_finished_not_repeated() {
    let dropped = tempfile::tempdir().unwrap();
    let inbox = dir_store(dropped.path());
    let settings = move |c: &mut laker_flight_server::ServerConfig| {
        c.stores.insert("inbox".into(), inbox.clone());
    };
    let crashing = settings.clone();
    let s = TestServer::start_with(move |c| {
        crashing(&mut *c);
        c.ingest_crash_after_commit = true;
    })
    .await;
    s.catalog.ensure_namespace("crash", "").await.unwrap();
    let mut admin = s.admin_client().await;
    ok(
        &mut admin,
        "create_ingest_job",
        feed("inbox", "crash.landing"),
    )
    .await;
    for (name, range) in [("a.csv", 1..=3), ("b.csv", 4..=4), ("c.csv", 5..=6)] {
        std::fs::write(dropped.path().join(name), orders(range)).unwrap();
    }
    // The run commits to the table, then stops as if its server died.
    let stopped = run_job(&mut admin, "feed").await.unwrap_err();
    assert_eq!(stopped.code(), Code::Internal, "{stopped:?}");

    let s = s.restart_with(settings).await;
    let mut admin = s.admin_client().await;
    let next = run_job(&mut admin, "feed").await.unwrap();
    assert_eq!(next["files"], 0, "nothing imported twice: {next}");
    assert_eq!(
        next["recovered_runs"].as_array().unwrap().len(),
        1,
        "{next}"
    );
    assert_eq!(ids(&mut admin, "crash.landing").await, [1, 2, 3, 4, 5, 6]);
    let recorded = runs(&mut admin, "feed").await;
    let outcomes: Vec<String> = strs(&recorded, "outcome").into_iter().flatten().collect();
    assert_eq!(outcomes, ["recovered", "ok"]);
    assert_eq!(ints(&recorded, "files"), [3, 0]);
    assert_eq!(ints(&recorded, "rows"), [6, 0]);
    assert_eq!(
        ints(&recorded, "id")[0],
        next["recovered_runs"][0].as_i64().unwrap()
    );
    let taken = files(&mut admin, "feed").await;
    assert_eq!(taken.num_rows(), 3);
    assert!(flags(&taken, "pending").iter().all(|p| !p));

    // A file dropped since is imported by the next run, once.
    std::fs::write(dropped.path().join("d.csv"), orders(7..=7)).unwrap();
    assert_eq!(run_job(&mut admin, "feed").await.unwrap()["files"], 1);
    assert_eq!(
        ids(&mut admin, "crash.landing").await,
        [1, 2, 3, 4, 5, 6, 7]
    );
}

#[tokio::test]
async fn a_run_whose_commit_answer_was_lost_is_finished_not_repeated() {
    let dropped = tempfile::tempdir().unwrap();
    let inbox = dir_store(dropped.path());
    let s = TestServer::start_with(move |c| {
        c.stores.insert("inbox".into(), inbox);
    })
    .await;
    s.catalog.ensure_namespace("lost", "").await.unwrap();
    let mut admin = s.admin_client().await;
    ok(
        &mut admin,
        "create_ingest_job",
        feed("inbox", "lost.landing"),
    )
    .await;
    std::fs::write(dropped.path().join("a.csv"), orders(1..=3)).unwrap();
    assert_eq!(run_job(&mut admin, "feed").await.unwrap()["files"], 1);
    std::fs::write(dropped.path().join("b.csv"), orders(4..=6)).unwrap();
    // The next commit is stored, but its answer is lost and the Delta log
    // cannot be read back: the run cannot tell whether it committed.
    s.store.lose_next_commit();
    let stopped = run_job(&mut admin, "feed").await.unwrap_err();
    assert_ne!(stopped.code(), Code::FailedPrecondition, "{stopped:?}");
    s.store.heal();

    // Its files stay taken: the next run finds its commit and finishes it.
    let next = run_job(&mut admin, "feed").await.unwrap();
    assert_eq!(next["files"], 0, "nothing imported twice: {next}");
    assert_eq!(
        next["recovered_runs"].as_array().unwrap().len(),
        1,
        "{next}"
    );
    assert_eq!(ids(&mut admin, "lost.landing").await, [1, 2, 3, 4, 5, 6]);
    let recorded = runs(&mut admin, "feed").await;
    let outcomes: Vec<String> = strs(&recorded, "outcome").into_iter().flatten().collect();
    assert_eq!(outcomes, ["ok", "recovered", "ok"]);
    assert_eq!(ints(&recorded, "files"), [1, 1, 0]);
    let taken = files(&mut admin, "feed").await;
    assert_eq!(taken.num_rows(), 2);
    assert!(flags(&taken, "pending").iter().all(|p| !p));
}

#[tokio::test]
async fn two_replicas_running_one_job_import_each_file_once() {
    let Some(db) = PgDatabase::create().await else {
        panic!(
            "LAKER_TEST_POSTGRES_URL is not set; .ci/run sets it (postgres://postgres@127.0.0.1:5432/test)"
        );
    };
    let (dropped, lake) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (inbox, shared) = (dir_store(dropped.path()), dir_store(lake.path()));
    let url = db.url.clone();
    let settings = move |c: &mut laker_flight_server::ServerConfig| {
        c.catalog_url = url.clone();
        c.stores.insert("inbox".into(), inbox.clone());
        c.stores.insert("shared".into(), shared.clone());
        c.upload_store = Some("shared".into());
    };
    let a = TestServer::start_with(settings.clone()).await;
    let b = TestServer::start_with(settings).await;
    a.catalog.ensure_namespace("twin", "").await.unwrap();
    let mut on_a = a.admin_client().await;
    let mut on_b = b.admin_client().await;
    ok(
        &mut on_a,
        "create_ingest_job",
        feed("inbox", "twin.landing"),
    )
    .await;
    for i in 0..20 {
        let body = orders(i * 10..i * 10 + 3);
        std::fs::write(dropped.path().join(format!("f{i:02}.csv")), body).unwrap();
    }
    let (first, second) = tokio::join!(run_job(&mut on_a, "feed"), run_job(&mut on_b, "feed"));
    let mut imported = 0;
    for answer in [first, second] {
        match answer {
            Ok(report) => imported += report["files"].as_u64().unwrap(),
            // The other replica held the job's lease.
            Err(e) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
                assert!(e.message().contains("is running already"), "{e:?}");
            }
        }
    }
    // Whichever ran (or both, one after the other), each file once.
    let again = run_job(&mut on_b, "feed").await.unwrap();
    imported += again["files"].as_u64().unwrap();
    assert_eq!(imported, 20);
    let expected: Vec<i64> = (0..20).flat_map(|i| i * 10..i * 10 + 3).collect();
    assert_eq!(ids(&mut on_b, "twin.landing").await, expected);
    assert_eq!(ids(&mut on_a, "twin.landing").await, expected);
    assert_eq!(files(&mut on_a, "feed").await.num_rows(), 20);
    drop((a, b, db));
}

#[tokio::test]
async fn onboarding_backfills_a_thousand_files_in_one_run() {
    let moto = MotoServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let store = moto_store(&moto, keys.path()).await;
    let s3 = moto.store(BUCKET);
    // A file of 1 to 3 rows each, dropped before the client was onboarded.
    let rows_of = |i: i64| i % 3 + 1;
    futures::stream::iter(0..1000_i64)
        .for_each_concurrent(16, |i| {
            let s3 = &s3;
            async move {
                let first = i * 10;
                let body = orders(first..first + rows_of(i));
                put(s3.as_ref(), &format!("hist/{i:04}.csv"), &body).await;
            }
        })
        .await;
    let s = TestServer::start_with(|c| {
        c.stores.insert("drop".into(), store);
    })
    .await;
    let mut admin = s.admin_client().await;
    let onboarded = ok(
        &mut admin,
        "onboard",
        serde_json::json!({
            "client": "hist",
            "ingest_job": {
                "source": {"store": "drop", "prefix": "hist/", "format": "csv"},
                "schedule": "every 1d",
                "backfill": true
            }
        }),
    )
    .await;
    let total: i64 = (0..1000).map(rows_of).sum();
    let backfill = &onboarded["ingest_job"]["backfill"];
    assert_eq!(onboarded["ingest_job"]["name"], "hist_ingest");
    assert_eq!(
        (backfill["files"].as_i64(), backfill["rows"].as_i64()),
        (Some(1000), Some(total)),
        "{backfill}"
    );
    assert!(
        onboarded["created"]
            .as_array()
            .unwrap()
            .contains(&"ingest_job".into())
    );
    let taken = files(&mut admin, "hist_ingest").await;
    assert_eq!(taken.num_rows(), 1000);
    assert_eq!(ints(&taken, "rows").iter().sum::<i64>(), total);
    let recorded = runs(&mut admin, "hist_ingest").await;
    assert_eq!(strs(&recorded, "cause"), [Some("backfill".to_string())]);
    assert_eq!(ids(&mut admin, "hist.landing").await.len() as i64, total);

    // Onboarding again keeps the job and imports nothing twice.
    let again = action(
        &mut admin,
        "onboard",
        serde_json::json!({
            "client": "hist",
            "ingest_job": {
                "source": {"store": "drop", "prefix": "hist/", "format": "csv"},
                "backfill": true
            }
        }),
    )
    .await
    .unwrap();
    assert_eq!(again["created"], serde_json::json!([]));
    assert_eq!(again["ingest_job"]["backfill"]["files"], 0);
}

#[tokio::test]
async fn leases_slots_and_the_manifest_in_the_catalog() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        c.create_ingest_job("job", "{}", "admin", Some(1_000))
            .await
            .unwrap();
        // One holder at a time, until the lease expires.
        assert!(c.acquire_ingest_lease("job", "a", 0, 100).await.unwrap());
        assert!(
            !c.acquire_ingest_lease("job", "b", 50, 150).await.unwrap(),
            "{backend:?}"
        );
        assert!(c.renew_ingest_lease("job", "a", 200).await.unwrap());
        assert!(!c.acquire_ingest_lease("job", "b", 150, 250).await.unwrap());
        assert!(
            c.acquire_ingest_lease("job", "b", 200, 300).await.unwrap(),
            "{backend:?}"
        );
        assert!(!c.renew_ingest_lease("job", "a", 400).await.unwrap());
        c.release_ingest_lease("job", "a").await.unwrap();
        assert!(!c.acquire_ingest_lease("job", "a", 250, 350).await.unwrap());
        c.release_ingest_lease("job", "b").await.unwrap();
        assert!(c.acquire_ingest_lease("job", "a", 250, 350).await.unwrap());

        // A due run is claimed by one replica only.
        assert!(c.due_ingest_jobs(999).await.unwrap().is_empty());
        assert_eq!(
            c.due_ingest_jobs(1_000).await.unwrap(),
            [("job".to_string(), 1_000)]
        );
        assert!(
            c.claim_ingest_slot("job", 1_000, Some(2_000))
                .await
                .unwrap()
        );
        assert!(
            !c.claim_ingest_slot("job", 1_000, Some(2_000))
                .await
                .unwrap()
        );

        // A file version is taken once; a failed run's rows are forgotten.
        let file = |path: &str, version: &str| ManifestFile {
            path: path.into(),
            size: 10,
            object_version: version.into(),
            outcome: "imported".into(),
            rows: 2,
            reason: None,
            reimport: false,
        };
        let run = c.start_ingest_run("job", "manual").await.unwrap();
        c.add_ingest_manifest("job", run, &[file("x.csv", "v1")])
            .await
            .unwrap();
        let e = c
            .add_ingest_manifest("job", run, &[file("x.csv", "v1")])
            .await
            .unwrap_err();
        assert!(matches!(e, CatalogError::Conflict(_)), "{backend:?}: {e}");
        let failed = c.start_ingest_run("job", "manual").await.unwrap();
        c.add_ingest_manifest("job", failed, &[file("y.csv", "v1")])
            .await
            .unwrap();
        let summary = RunSummary {
            outcome: "failed".into(),
            ..RunSummary::default()
        };
        c.fail_ingest_run(failed, &summary).await.unwrap();
        let totals = c.ingest_run_totals(run).await.unwrap();
        assert_eq!((totals.files, totals.rows, totals.bytes), (1, 2, 10));
        c.commit_ingest_run(run, &totals).await.unwrap();
        let taken = c
            .taken_versions("job", &["x.csv".into(), "y.csv".into()])
            .await
            .unwrap();
        assert_eq!(taken.len(), 1, "{backend:?}: {taken:?}");
        assert_eq!(taken[0].object_version, "v1");
        let page = c.ingest_manifest_page(0, 10).await.unwrap();
        assert_eq!(page.len(), 1);
        assert!(!page[0].pending);
        assert!(c.open_ingest_runs("job").await.unwrap().is_empty());
        c.delete_ingest_job("job", true).await.unwrap();
        assert!(c.ingest_manifest_page(0, 10).await.unwrap().is_empty());
        assert!(matches!(
            c.ingest_job("job").await.unwrap_err(),
            CatalogError::NotFound { .. }
        ));
    }
}
