//! Catalog storage on SQLite and on a fresh PostgreSQL database
//! (`LAKER_TEST_POSTGRES_URL`).

use laker_catalog::audit::AuditRecord;
use laker_catalog::{
    Catalog, CatalogError, ColumnMask, DatasetFormat, DatasetName, DatasetOptions, DatasetUpdate,
    GrantPolicy, Grantee, NewDataset, PartitionColumn, PartitionType,
};
use laker_integration_tests::postgres::PgDatabase;

/// A catalog on each backend; the guard keeps its storage alive.
pub(crate) async fn catalogs() -> Vec<(Catalog, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let mut out: Vec<(Catalog, Box<dyn std::any::Any>)> =
        vec![(Catalog::connect(&url).await.unwrap(), Box::new(dir))];
    let pg = PgDatabase::create()
        .await
        .expect("LAKER_TEST_POSTGRES_URL is not set; scripts/test.sh sets it");
    out.push((Catalog::connect(&pg.url).await.unwrap(), Box::new(pg)));
    out
}

fn trips(name: &str) -> NewDataset {
    NewDataset {
        name: DatasetName::parse(name).unwrap(),
        description: "Taxi trips".into(),
        tags: vec!["taxi".into(), "demo".into()],
        format: DatasetFormat::Parquet,
        location: "file:///lake/demo/trips/".into(),
        owner: String::new(),
        options: DatasetOptions {
            partition_columns: Some(vec![PartitionColumn {
                name: "month".into(),
                data_type: PartitionType::String,
            }]),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn namespaces_and_datasets() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let err = c.register_dataset(trips("demo.trips")).await.unwrap_err();
        assert!(
            matches!(
                err,
                CatalogError::NotFound {
                    kind: "namespace",
                    ..
                }
            ),
            "{backend:?}: {err}"
        );

        c.create_namespace("Demo", "samples").await.unwrap();
        let dup = c.create_namespace("demo", "again").await.unwrap_err();
        assert!(
            matches!(dup, CatalogError::AlreadyExists { .. }),
            "{backend:?}"
        );
        assert_eq!(
            c.ensure_namespace("demo", "x").await.unwrap().description,
            "samples"
        );

        let registered = c.register_dataset(trips("demo.trips")).await.unwrap();
        assert_eq!(registered.revision, 1);
        let fetched = c.dataset(&registered.name).await.unwrap();
        assert_eq!(fetched, registered, "{backend:?}");
        assert!(fetched.matches("TAXI") && fetched.matches("demo.tr") && !fetched.matches("zzz"));

        let dup = c.register_dataset(trips("demo.trips")).await.unwrap_err();
        assert_eq!(dup.to_string(), "dataset 'demo.trips' already exists");
        c.register_dataset(trips("demo.a_first")).await.unwrap();
        let names: Vec<String> = c
            .datasets()
            .await
            .unwrap()
            .iter()
            .map(|d| d.name.to_string())
            .collect();
        assert_eq!(names, ["demo.a_first", "demo.trips"]);

        let mut bad = trips("demo.bad");
        bad.location = "ftp://x/y".into();
        assert!(matches!(
            c.register_dataset(bad).await,
            Err(CatalogError::InvalidArgument(_))
        ));

        c.delete_dataset(&registered.name).await.unwrap();
        let gone = c.dataset(&registered.name).await.unwrap_err();
        assert_eq!(gone.to_string(), "dataset 'demo.trips' not found");
        assert!(c.delete_dataset(&registered.name).await.is_err());
    }
}

#[tokio::test]
async fn updates_refreshes_and_namespace_deletion() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        c.create_namespace("sales", "").await.unwrap();
        c.create_namespace("empty", "").await.unwrap();
        let mut new = trips("sales.orders");
        new.owner = "sales team".into();
        let first = c.register_dataset(new).await.unwrap();
        assert_eq!(
            (first.owner.as_str(), first.refreshed_at),
            ("sales team", 0)
        );

        let changed = DatasetUpdate {
            description: Some("Orders".into()),
            tags: Some(vec!["sales".into()]),
            format: Some(DatasetFormat::Delta),
            location: Some("s3://lake/orders/".into()),
            options: Some(DatasetOptions::default()),
            owner: None,
        }
        .apply(&first);
        let stored = c.update_dataset(&changed).await.unwrap();
        assert_eq!(stored.revision, 2, "{backend:?}");
        let fetched = c.dataset(&first.name).await.unwrap();
        assert_eq!(fetched, stored, "{backend:?}");
        assert_eq!(
            (fetched.format, fetched.owner.as_str()),
            (DatasetFormat::Delta, "sales team")
        );

        // A writer holding the old revision loses: nothing is overwritten.
        let stale = c.update_dataset(&changed).await.unwrap_err();
        assert!(
            matches!(stale, CatalogError::Conflict(_)),
            "{backend:?}: {stale}"
        );
        let bad = DatasetUpdate {
            location: Some("s3://lake/a/../b/".into()),
            ..Default::default()
        }
        .apply(&stored);
        assert!(
            c.update_dataset(&bad)
                .await
                .unwrap_err()
                .to_string()
                .contains("'..'")
        );

        let touched = c.touch_dataset(&first.name).await.unwrap();
        assert_eq!(touched.revision, 3);
        assert!(touched.refreshed_at > 0);

        let names: Vec<String> = c
            .namespaces()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["empty", "sales"], "{backend:?}");
        let err = c.delete_namespace("sales").await.unwrap_err();
        assert!(
            matches!(err, CatalogError::NotEmpty(_)),
            "{backend:?}: {err}"
        );
        c.delete_namespace("empty").await.unwrap();
        let err = c.delete_namespace("empty").await.unwrap_err();
        assert!(matches!(err, CatalogError::NotFound { .. }), "{backend:?}");
        c.delete_dataset(&first.name).await.unwrap();
        c.delete_namespace("sales").await.unwrap();
        assert!(c.namespaces().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn users_and_grants() {
    for (c, _guard) in catalogs().await {
        assert!(c.user("alice").await.unwrap().is_none());
        assert!(c.user("not a valid name").await.unwrap().is_none());
        c.create_user("alice", "$argon2id$hash").await.unwrap();
        assert!(matches!(
            c.create_user("ALICE", "x").await,
            Err(CatalogError::AlreadyExists { .. })
        ));
        let alice = c.user("alice").await.unwrap().unwrap();
        assert_eq!(alice.password_hash, "$argon2id$hash");
        assert!(!alice.disabled);
        c.set_user_disabled("alice", true).await.unwrap();
        assert!(c.user("alice").await.unwrap().unwrap().disabled);

        c.grant("alice", "Demo.*", "read").await.unwrap();
        c.grant("alice", "demo.*", "read").await.unwrap();
        c.grant("alice", "sales.orders", "read").await.unwrap();
        let grants = c.grants_of("alice").await.unwrap();
        let patterns: Vec<&str> = grants.iter().map(|g| g.pattern.as_str()).collect();
        assert_eq!(
            patterns,
            ["demo.*", "sales.orders"],
            "granting twice is a no-op"
        );
        assert!(matches!(
            c.grant("alice", "demo", "read").await,
            Err(CatalogError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.grant("nobody", "demo.*", "read").await,
            Err(CatalogError::NotFound {
                kind: "principal",
                ..
            })
        ));

        // Roles: grants reach members; a policy is stored with its grant.
        c.create_role("analyst", "regional").await.unwrap();
        assert!(matches!(
            c.create_role("Analyst", "").await,
            Err(CatalogError::AlreadyExists { .. })
        ));
        let policy = GrantPolicy {
            row_filter: Some("region = 'EU'".into()),
            column_masks: [("email".to_string(), ColumnMask::Hash)].into(),
        };
        c.put_grant(
            Grantee::Role("analyst".into()),
            "sales.*",
            "read",
            policy.clone(),
        )
        .await
        .unwrap();
        c.add_role_member("analyst", "alice").await.unwrap();
        c.add_role_member("analyst", "alice").await.unwrap();
        let effective = c.effective_grants("alice", true, &[]).await.unwrap();
        assert_eq!(effective.len(), 3, "{effective:?}");
        let role_grant = effective
            .iter()
            .find(|g| g.grantee == Grantee::Role("analyst".into()))
            .unwrap();
        assert_eq!(role_grant.policy, policy);
        // External principals get only the grants of the roles they name.
        let external = c
            .effective_grants("alice", false, &["analyst".into()])
            .await
            .unwrap();
        assert_eq!(external.len(), 1);
        assert_eq!(c.roles_of("alice").await.unwrap(), vec!["analyst"]);
        c.remove_role_member("analyst", "alice").await.unwrap();
        assert_eq!(
            c.effective_grants("alice", true, &[]).await.unwrap().len(),
            2
        );
        c.revoke_grant(Grantee::User("alice".into()), "sales.orders", "read")
            .await
            .unwrap();
        assert!(matches!(
            c.revoke_grant(Grantee::User("alice".into()), "sales.orders", "read")
                .await,
            Err(CatalogError::NotFound { kind: "grant", .. })
        ));
        c.delete_role("analyst").await.unwrap();
        assert!(
            c.list_grants(Some(Grantee::Role("analyst".into())))
                .await
                .unwrap()
                .is_empty()
        );

        // The audit log round-trips and retention deletes by time.
        let record = |time: i64| AuditRecord {
            time,
            principal: "alice".into(),
            action: "DoGet".into(),
            dataset: "demo.trips".into(),
            rows: 5,
            bytes: 100,
            outcome: "ok".into(),
            ..AuditRecord::default()
        };
        c.insert_audit(&[record(1_000), record(86_400_000 + 5)])
            .await
            .unwrap();
        let page = c.audit_page(0, 10).await.unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[1].1, record(86_400_000 + 5));
        let usage = c.usage().await.unwrap();
        assert_eq!(
            usage.iter().map(|u| (u.day, u.rows)).collect::<Vec<_>>(),
            vec![(0, 5), (1, 5)]
        );
        assert_eq!(c.delete_audit_before(2_000).await.unwrap(), 1);
        c.delete_user("alice").await.unwrap();
        assert!(c.user("alice").await.unwrap().is_none());
        assert!(c.grants_of("alice").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn concurrent_writers_are_safe() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.ensure_namespace("race", "").await.unwrap();
                    c.register_dataset(trips("race.trips")).await
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => created += 1,
                Err(CatalogError::AlreadyExists { .. }) => {}
                Err(e) => panic!("{backend:?}: unexpected error {e}"),
            }
        }
        assert_eq!(
            created, 1,
            "{backend:?}: exactly one writer registers the dataset"
        );
        assert_eq!(c.datasets().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn usage_summary_and_recent_audit() {
    use laker_catalog::usage::UsageFilter;
    const DAY: i64 = 86_400_000;
    for (c, _guard) in catalogs().await {
        let record =
            |time: i64, who: &str, action: &str, dataset: &str, outcome: &str| AuditRecord {
                time,
                principal: who.into(),
                action: action.into(),
                dataset: dataset.into(),
                rows: 10,
                bytes: 100,
                outcome: outcome.into(),
                ..AuditRecord::default()
            };
        c.insert_audit(&[
            record(DAY + 1, "alice", "DoGet", "demo.trips", "ok"),
            record(DAY + 2, "alice", "HTTP:download", "demo.trips", "ok"),
            record(DAY + 3, "bob", "DoGet", "demo.trips,demo.zones", "ok"),
            record(2 * DAY + 1, "bob", "DoGet", "demo.zones", "ok"),
            record(
                2 * DAY + 2,
                "bob",
                "HTTP:download",
                "demo.zones",
                "cancelled",
            ),
            record(2 * DAY + 3, "mallory", "Handshake", "", "unauthenticated"),
            record(2 * DAY + 4, "mallory", "HTTP:login", "", "unauthenticated"),
            record(9 * DAY, "alice", "DoGet", "demo.trips", "ok"),
        ])
        .await
        .unwrap();
        let all = UsageFilter {
            from_ms: 0,
            to_ms: 3 * DAY,
            ..UsageFilter::default()
        };
        let s = c.usage_summary(&all).await.unwrap();
        let days: Vec<_> = s
            .per_day
            .iter()
            .map(|d| (d.day, d.downloads, d.bytes))
            .collect();
        assert_eq!(days, vec![(1, 3, 300), (2, 1, 100)], "{:?}", c.backend());
        let top: Vec<_> = s
            .top_datasets
            .iter()
            .map(|r| (r.name.as_str(), r.downloads))
            .collect();
        assert_eq!(top, vec![("demo.trips", 3), ("demo.zones", 2)]);
        let users: Vec<_> = s
            .top_users
            .iter()
            .map(|r| (r.name.as_str(), r.downloads))
            .collect();
        assert_eq!(users, vec![("alice", 2), ("bob", 2)]);
        assert_eq!(s.failed_logins, vec![(2, 2)]);

        let zones = UsageFilter {
            dataset: Some("demo.zones".into()),
            ..all.clone()
        };
        let s = c.usage_summary(&zones).await.unwrap();
        let days: Vec<_> = s.per_day.iter().map(|d| (d.day, d.downloads)).collect();
        assert_eq!(days, vec![(1, 1), (2, 1)]);
        let alice = UsageFilter {
            principal: Some("alice".into()),
            ..all
        };
        let s = c.usage_summary(&alice).await.unwrap();
        assert_eq!(s.top_users.len(), 1);
        assert!(s.failed_logins.is_empty());

        let recent = c.recent_audit(3, None, None).await.unwrap();
        assert_eq!(recent.len(), 3);
        assert_eq!(recent[0].1.time, 9 * DAY, "newest first");
        let zones = c
            .recent_audit(10, Some("bob"), Some("demo.zones"))
            .await
            .unwrap();
        assert_eq!(
            zones.len(),
            3,
            "a record naming several datasets matches each"
        );
        let none = c.recent_audit(10, None, Some("demo.zone")).await.unwrap();
        assert!(none.is_empty(), "dataset names match whole");
    }
}
