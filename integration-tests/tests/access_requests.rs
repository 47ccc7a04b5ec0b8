//! Access requests in the catalog, on SQLite and on PostgreSQL: creation and
//! its checks, the per-requester limits, listing, deciding once; and the
//! `system.access_requests` dataset, readable by admins only.

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use laker_catalog::{
    AccessRequest, CatalogError, Grant, Grantee, MAX_PENDING_REQUESTS, NewAccessRequest,
    RequestStatus,
};
use laker_integration_tests::{TestServer, action, fetch_all, info_for, status};
use tonic::Code;

use crate::catalog::catalogs;

fn ask(
    requester: &str,
    dataset: Option<&str>,
    need: Option<&str>,
    reason: &str,
) -> NewAccessRequest {
    NewAccessRequest {
        requester: requester.into(),
        dataset: dataset.map(Into::into),
        need: need.map(Into::into),
        reason: reason.into(),
    }
}

fn ids(requests: &[AccessRequest]) -> Vec<i64> {
    requests.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn requests_are_stored_in_both_forms() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let read = c
            .create_access_request(&ask(
                "alice",
                Some(" Demo.Trips "),
                None,
                "  monthly report ",
            ))
            .await
            .unwrap();
        assert!(read.id > 0, "{backend:?}");
        assert_eq!(
            (
                read.requester.as_str(),
                read.dataset.as_deref(),
                read.need.as_deref(),
                read.reason.as_str(),
                read.status,
            ),
            (
                "alice",
                Some("demo.trips"),
                None,
                "monthly report",
                RequestStatus::Pending
            ),
            "{backend:?}"
        );
        assert!(read.created_at > 0);
        assert_eq!((read.decided_by.as_deref(), read.decided_at), (None, None));
        assert_eq!(read.note, None);
        assert_eq!(
            c.access_request(read.id).await.unwrap(),
            read,
            "{backend:?}"
        );

        let need = c
            .create_access_request(&ask(
                "alice",
                Some("  "),
                Some("daily rainfall per city"),
                "forecasting",
            ))
            .await
            .unwrap();
        assert!(need.id > read.id, "{backend:?}");
        assert_eq!(need.dataset, None);
        assert_eq!(need.need.as_deref(), Some("daily rainfall per city"));
        assert_eq!(
            c.access_request(need.id).await.unwrap(),
            need,
            "{backend:?}"
        );

        // The contract's JSON shape.
        let json = serde_json::to_value(&need).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": need.id, "requester": "alice", "dataset": null,
                "need": "daily rainfall per city", "reason": "forecasting",
                "status": "pending", "created_at": need.created_at,
                "decided_by": null, "decided_at": null, "note": null
            })
        );

        // A second pending request for the same dataset is refused, however
        // the name is spelled; another requester may ask for it.
        let dup = c
            .create_access_request(&ask("alice", Some("DEMO.trips"), None, "again"))
            .await
            .unwrap_err();
        assert!(
            matches!(dup, CatalogError::AlreadyExists { .. }),
            "{backend:?}: {dup}"
        );
        assert_eq!(
            dup.to_string(),
            "pending access request for dataset 'demo.trips' already exists"
        );
        c.create_access_request(&ask("bob", Some("demo.trips"), None, "audit"))
            .await
            .unwrap();
        // Needs never collide.
        c.create_access_request(&ask(
            "alice",
            None,
            Some("daily rainfall per city"),
            "again",
        ))
        .await
        .unwrap();

        let missing = c.access_request(999_999).await.unwrap_err();
        assert!(
            matches!(
                missing,
                CatalogError::NotFound {
                    kind: "access request",
                    ..
                }
            ),
            "{backend:?}: {missing}"
        );
        assert_eq!(missing.to_string(), "access request '999999' not found");
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_is_wrong() {
    let long = "x".repeat(2001);
    let cases: Vec<(NewAccessRequest, String)> = vec![
        (
            ask("alice", None, None, "why"),
            "an access request names either a 'dataset' to read or a 'need' \
             (the data wanted when no dataset meets it)"
                .into(),
        ),
        (
            ask("alice", Some(" "), Some("\t"), "why"),
            "an access request names either a 'dataset' to read or a 'need' \
             (the data wanted when no dataset meets it)"
                .into(),
        ),
        (
            ask("alice", Some("demo.trips"), Some("rainfall"), "why"),
            "an access request names either a 'dataset' or a 'need', not both".into(),
        ),
        (
            ask("alice", Some("demo.trips"), None, "   "),
            "an access request needs a 'reason'".into(),
        ),
        (
            ask("alice", Some("demo"), None, "why"),
            "invalid dataset name 'demo': expected 'namespace.dataset'".into(),
        ),
        (
            ask("alice", Some("demo.trips"), None, &long),
            "'reason' is too long: 2001 characters, at most 2000".into(),
        ),
        (
            ask("alice", None, Some(long.as_str()), "why"),
            "'need' is too long: 2001 characters, at most 2000".into(),
        ),
        (
            ask("alice", Some("demo.trips"), None, "a\0b"),
            "'reason' must not contain NUL characters".into(),
        ),
        (
            ask(" ", Some("demo.trips"), None, "why"),
            "an access request needs a requester".into(),
        ),
    ];
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        for (new, message) in &cases {
            let err = c.create_access_request(new).await.unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidArgument(_)),
                "{backend:?}: {err}"
            );
            assert_eq!(&err.to_string(), message, "{backend:?}");
        }
        assert!(
            c.access_requests(None, None, 100).await.unwrap().is_empty(),
            "{backend:?}: a refused request is not stored"
        );
        // Lengths count characters, not bytes.
        let accented = "é".repeat(2000);
        let stored = c
            .create_access_request(&ask("alice", None, Some(accented.as_str()), &accented))
            .await
            .unwrap();
        assert_eq!(stored.reason.chars().count(), 2000, "{backend:?}");

        let err = c.access_requests(None, None, 0).await.unwrap_err();
        assert!(matches!(err, CatalogError::InvalidArgument(_)), "{err}");
    }
    let err = RequestStatus::parse("done").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid access request status 'done': expected pending, approved or rejected"
    );
    assert_eq!(
        RequestStatus::parse("Approved").unwrap(),
        RequestStatus::Approved
    );
}

#[tokio::test]
async fn pending_requests_per_requester_are_limited() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let mut first = None;
        for i in 0..MAX_PENDING_REQUESTS {
            let r = c
                .create_access_request(&ask(
                    "carol",
                    None,
                    Some(format!("data {i}").as_str()),
                    "work",
                ))
                .await
                .unwrap();
            first.get_or_insert(r.id);
        }
        let expected = "'carol' already has 20 pending access requests, the most allowed \
                        is 20; wait until some are decided";
        for over in [
            ask("carol", None, Some("one more"), "work"),
            ask("carol", Some("demo.trips"), None, "work"),
        ] {
            let err = c.create_access_request(&over).await.unwrap_err();
            assert!(
                matches!(err, CatalogError::FailedPrecondition(_)),
                "{backend:?}: {err}"
            );
            assert_eq!(err.to_string(), expected, "{backend:?}");
        }
        // Others are not held back; a decision frees a place.
        c.create_access_request(&ask("dave", None, Some("data"), "work"))
            .await
            .unwrap();
        c.decide_access_request(first.unwrap(), false, "admin", None)
            .await
            .unwrap();
        c.create_access_request(&ask("carol", None, Some("one more"), "work"))
            .await
            .unwrap();
        let pending = c
            .access_requests(Some("carol"), Some(RequestStatus::Pending), 100)
            .await
            .unwrap();
        assert_eq!(pending.len() as i64, MAX_PENDING_REQUESTS, "{backend:?}");
    }
}

#[tokio::test]
async fn requests_are_listed_and_decided_once() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let r1 = c
            .create_access_request(&ask("alice", Some("demo.trips"), None, "report"))
            .await
            .unwrap();
        let r2 = c
            .create_access_request(&ask("alice", None, Some("rainfall"), "forecast"))
            .await
            .unwrap();
        let r3 = c
            .create_access_request(&ask("bob", Some("demo.trips"), None, "audit"))
            .await
            .unwrap();

        let all = c.access_requests(None, None, 100).await.unwrap();
        assert_eq!(
            ids(&all),
            [r3.id, r2.id, r1.id],
            "{backend:?}: newest first"
        );
        assert_eq!(all[2], r1);
        let alice = c.access_requests(Some("alice"), None, 100).await.unwrap();
        assert_eq!(ids(&alice), [r2.id, r1.id], "{backend:?}");
        assert!(
            c.access_requests(Some("nobody"), None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        let two = c.access_requests(None, None, 2).await.unwrap();
        assert_eq!(ids(&two), [r3.id, r2.id], "{backend:?}");

        // Approve r1, without a note.
        let approved = c
            .decide_access_request(r1.id, true, "admin", Some("  "))
            .await
            .unwrap();
        assert_eq!(approved.status, RequestStatus::Approved, "{backend:?}");
        assert_eq!(approved.decided_by.as_deref(), Some("admin"));
        assert!(approved.decided_at.is_some_and(|t| t >= r1.created_at));
        assert_eq!(approved.note, None);
        assert_eq!(
            (approved.dataset.as_deref(), approved.reason.as_str()),
            (Some("demo.trips"), "report")
        );
        assert_eq!(c.access_request(r1.id).await.unwrap(), approved);
        // Only once, whatever the second decision.
        for approve in [true, false] {
            let again = c
                .decide_access_request(r1.id, approve, "root", Some("late"))
                .await
                .unwrap_err();
            assert!(
                matches!(again, CatalogError::FailedPrecondition(_)),
                "{backend:?}: {again}"
            );
            assert_eq!(
                again.to_string(),
                format!("access request {} was already approved by 'admin'", r1.id)
            );
        }
        assert_eq!(
            c.access_request(r1.id).await.unwrap(),
            approved,
            "a refused decision changes nothing"
        );

        // Reject r3 with a note.
        let rejected = c
            .decide_access_request(r3.id, false, "admin", Some(" use demo.zones instead "))
            .await
            .unwrap();
        assert_eq!(rejected.status, RequestStatus::Rejected, "{backend:?}");
        assert_eq!(rejected.note.as_deref(), Some("use demo.zones instead"));
        assert_eq!(c.access_request(r3.id).await.unwrap(), rejected);
        let again = c
            .decide_access_request(r3.id, true, "admin", None)
            .await
            .unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("access request {} was already rejected by 'admin'", r3.id)
        );

        // Bad decisions leave the request pending.
        let long = "n".repeat(2001);
        let err = c
            .decide_access_request(r2.id, true, "admin", Some(long.as_str()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "'note' is too long: 2001 characters, at most 2000"
        );
        let err = c
            .decide_access_request(r2.id, true, " ", None)
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::InvalidArgument(_)), "{err}");
        let missing = c
            .decide_access_request(999_999, true, "admin", None)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, CatalogError::NotFound { .. }),
            "{backend:?}: {missing}"
        );

        let with_status = |s| c.access_requests(None, Some(s), 100);
        assert_eq!(
            ids(&with_status(RequestStatus::Pending).await.unwrap()),
            [r2.id]
        );
        assert_eq!(
            ids(&with_status(RequestStatus::Approved).await.unwrap()),
            [r1.id]
        );
        assert_eq!(
            ids(&with_status(RequestStatus::Rejected).await.unwrap()),
            [r3.id]
        );
        let mine = c
            .access_requests(Some("alice"), Some(RequestStatus::Approved), 100)
            .await
            .unwrap();
        assert_eq!(ids(&mine), [r1.id], "{backend:?}");
        assert!(
            c.access_requests(Some("bob"), Some(RequestStatus::Pending), 100)
                .await
                .unwrap()
                .is_empty()
        );
        // Once decided, the dataset may be asked for again.
        c.create_access_request(&ask("bob", Some("demo.trips"), None, "second try"))
            .await
            .unwrap();
    }
}

fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_string()))
        .collect()
}

#[tokio::test]
async fn system_access_requests_is_for_admins_only() {
    let s = TestServer::start().await;
    let read = s
        .catalog
        .create_access_request(&ask("demo", Some("demo.trips"), None, "a report"))
        .await
        .unwrap();
    let need = s
        .catalog
        .create_access_request(&ask("demo", None, Some("rainfall per city"), "forecasting"))
        .await
        .unwrap();
    s.catalog
        .decide_access_request(read.id, false, "admin", Some("use demo.zones"))
        .await
        .unwrap();

    let mut admin = s.admin_client().await;
    let spec = serde_json::json!({"dataset": "system.access_requests", "order_by": ["id"]});
    let info = info_for(&mut admin, &spec).await.unwrap();
    let batches = fetch_all(&mut admin, &info).await.unwrap();
    let batch = concat_batches(batches[0].schema_ref(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 2);
    let id = batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(id.values().to_vec(), [read.id, need.id]);
    let some = |s: &str| Some(s.to_string());
    assert_eq!(texts(&batch, "requester"), [some("demo"), some("demo")]);
    assert_eq!(texts(&batch, "dataset"), [some("demo.trips"), None]);
    assert_eq!(texts(&batch, "need"), [None, some("rainfall per city")]);
    assert_eq!(
        texts(&batch, "reason"),
        [some("a report"), some("forecasting")]
    );
    assert_eq!(texts(&batch, "status"), [some("rejected"), some("pending")]);
    assert_eq!(texts(&batch, "decided_by"), [some("admin"), None]);
    assert_eq!(texts(&batch, "note"), [some("use demo.zones"), None]);
    let time = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .clone()
    };
    assert_eq!(time("created_at").value(0), read.created_at);
    assert!(time("decided_at").is_valid(0) && time("decided_at").is_null(1));

    // The demo user holds no grant on it: it does not exist for them.
    let mut demo = s.demo_client().await;
    let e = status(
        info_for(
            &mut demo,
            &serde_json::json!({"dataset": "system.access_requests"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}

#[tokio::test]
async fn an_approval_is_reopened_only_as_it_was_made() {
    for (c, _guard) in catalogs().await {
        let backend = c.backend();
        let asked = ask("alice", Some("demo.trips"), None, "report");
        let r = c.create_access_request(&asked).await.unwrap();
        let approved = c
            .decide_access_request(r.id, true, "admin", Some("ok"))
            .await
            .unwrap();
        assert!(
            c.reopen_access_request(&approved).await.unwrap(),
            "{backend:?}"
        );
        assert_eq!(c.access_request(r.id).await.unwrap(), r, "{backend:?}");
        // Not twice, and not a later decision.
        assert!(!c.reopen_access_request(&approved).await.unwrap());
        let rejected = c
            .decide_access_request(r.id, false, "root", None)
            .await
            .unwrap();
        assert!(!c.reopen_access_request(&approved).await.unwrap());
        assert!(!c.reopen_access_request(&rejected).await.unwrap());
        assert_eq!(c.access_request(r.id).await.unwrap(), rejected);
        // The requester asked again meanwhile: the newer request is the
        // pending one.
        let second = c.create_access_request(&asked).await.unwrap();
        let approved = c
            .decide_access_request(second.id, true, "admin", None)
            .await
            .unwrap();
        let third = c.create_access_request(&asked).await.unwrap();
        let err = c.reopen_access_request(&approved).await.unwrap_err();
        assert!(
            matches!(err, CatalogError::AlreadyExists { .. }),
            "{backend:?}: {err}"
        );
        assert_eq!(c.access_request(second.id).await.unwrap(), approved);
        assert_eq!(c.access_request(third.id).await.unwrap(), third);
    }
}

/// A user `name` who may discover `demo.zones`, but not read it.
async fn discoverer(s: &TestServer, name: &str) {
    let hash = laker_auth::password::hash_password("asker-secret").unwrap();
    s.catalog.create_user(name, &hash).await.unwrap();
    s.catalog
        .grant(name, "demo.zones", "discover")
        .await
        .unwrap();
}

/// `name`'s read grants.
async fn reads(s: &TestServer, name: &str) -> Vec<Grant> {
    let grants = s.catalog.grants_of(name).await.unwrap();
    grants.into_iter().filter(|g| g.action == "read").collect()
}

#[tokio::test]
async fn concurrent_decisions_leave_exactly_one_in_force() {
    let s = TestServer::start().await;
    discoverer(&s, "asker").await;
    let mut one = s.admin_client().await;
    let mut two = s.admin_client().await;
    let mut three = s.admin_client().await;
    for round in 0..6 {
        let request = s
            .catalog
            .create_access_request(&ask("asker", Some("demo.zones"), None, "routes"))
            .await
            .unwrap();
        let approve = |filter: &str| serde_json::json!({"id": request.id, "row_filter": filter});
        let (oslo, bergen, reject) = tokio::join!(
            action(&mut one, "approve_access_request", approve("city = 'Oslo'")),
            action(
                &mut two,
                "approve_access_request",
                approve("city = 'Bergen'")
            ),
            action(
                &mut three,
                "reject_access_request",
                serde_json::json!({"id": request.id})
            ),
        );
        let mut won = Vec::new();
        for (filter, outcome) in [
            (Some("city = 'Oslo'"), oslo),
            (Some("city = 'Bergen'"), bergen),
            (None, reject),
        ] {
            match outcome {
                Ok(_) => won.push(filter),
                Err(e) => {
                    let e = status(e);
                    assert_eq!(e.code(), Code::FailedPrecondition, "round {round}: {e:?}");
                    assert!(
                        e.message().contains("was already")
                            || e.message().contains("already reads"),
                        "round {round}: {}",
                        e.message()
                    );
                }
            }
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        let decided = s.catalog.access_request(request.id).await.unwrap();
        let granted = reads(&s, "asker").await;
        match won[0] {
            None => {
                assert_eq!(decided.status, RequestStatus::Rejected, "round {round}");
                assert!(granted.is_empty(), "round {round}: {granted:?}");
            }
            Some(filter) => {
                assert_eq!(decided.status, RequestStatus::Approved, "round {round}");
                assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
                assert_eq!(granted[0].pattern, "demo.zones");
                assert_eq!(granted[0].policy.row_filter.as_deref(), Some(filter));
                s.catalog
                    .revoke_grant(Grantee::User("asker".into()), "demo.zones", "read")
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn an_approval_whose_grant_fails_leaves_the_request_pending() {
    let s = TestServer::start().await;
    discoverer(&s, "asker").await;
    let mut admin = s.admin_client().await;
    let request = s
        .catalog
        .create_access_request(&ask("asker", Some("demo.zones"), None, "routes"))
        .await
        .unwrap();
    let e = status(
        action(
            &mut admin,
            "approve_access_request",
            serde_json::json!({"id": request.id, "row_filter": "no_such_column = 1"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("no_such_column"), "{}", e.message());
    assert_eq!(s.catalog.access_request(request.id).await.unwrap(), request);
    assert!(reads(&s, "asker").await.is_empty());
    // Decided anew, it grants.
    let approved = action(
        &mut admin,
        "approve_access_request",
        serde_json::json!({"id": request.id, "row_filter": "city = 'Oslo'"}),
    )
    .await
    .unwrap();
    assert_eq!(approved["status"], "approved", "{approved}");
    let granted = reads(&s, "asker").await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(
        granted[0].policy.row_filter.as_deref(),
        Some("city = 'Oslo'")
    );
}

#[tokio::test]
async fn approving_a_need_takes_no_policy() {
    let s = TestServer::start().await;
    discoverer(&s, "asker").await;
    let mut admin = s.admin_client().await;
    let need = s
        .catalog
        .create_access_request(&ask("asker", None, Some("rainfall per city"), "forecasts"))
        .await
        .unwrap();
    for policy in [
        serde_json::json!({"id": need.id, "row_filter": "city = 'Oslo'"}),
        serde_json::json!({"id": need.id, "column_masks": {"city": "hide"}}),
    ] {
        let e = status(
            action(&mut admin, "approve_access_request", policy)
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains("describes a need, not a dataset"),
            "{}",
            e.message()
        );
        assert_eq!(s.catalog.access_request(need.id).await.unwrap(), need);
    }
    let approved = action(
        &mut admin,
        "approve_access_request",
        serde_json::json!({"id": need.id, "note": "see demo.zones"}),
    )
    .await
    .unwrap();
    assert_eq!(approved["status"], "approved", "{approved}");
    assert!(reads(&s, "asker").await.is_empty());
}
