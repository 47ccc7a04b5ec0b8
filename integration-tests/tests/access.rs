//! Roles, grants, row filters and column masks: an authorisation matrix of
//! principals × datasets × actions with the exact rows and values each
//! principal gets, and the rules around it (NotFound for undiscoverable
//! datasets, policies applied to tickets already issued, masked values not
//! filterable, policies checked when granted).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightClient;
use laker_catalog::{Catalog, DatasetFormat, DatasetName, DatasetOptions, NewDataset};
use laker_integration_tests::{TestServer, action, fetch_all, info_for, list_names, status};
use parquet::arrow::ArrowWriter;
use tonic::Code;

const PASSWORD: &str = "correct-horse-battery";

/// One row of every matrix dataset: an id, a region, an owner, a contact
/// and an amount. Columns are named per dataset below.
struct Row {
    id: i64,
    region: &'static str,
    owner: &'static str,
    email: &'static str,
    amount: f64,
}

const ROWS: [Row; 8] = [
    Row {
        id: 1,
        region: "EU",
        owner: "eu_analyst",
        email: "a@eu.example",
        amount: 50.0,
    },
    Row {
        id: 2,
        region: "EU",
        owner: "hr_self",
        email: "b@eu.example",
        amount: 150.0,
    },
    Row {
        id: 3,
        region: "US",
        owner: "us_analyst",
        email: "c@us.example",
        amount: 20.0,
    },
    Row {
        id: 4,
        region: "US",
        owner: "hr_self",
        email: "a@eu.example",
        amount: 500.0,
    },
    Row {
        id: 5,
        region: "APAC",
        owner: "eu_analyst",
        email: "d@apac.example",
        amount: 75.0,
    },
    Row {
        id: 6,
        region: "APAC",
        owner: "us_analyst",
        email: "e@apac.example",
        amount: 250.0,
    },
    Row {
        id: 7,
        region: "EU",
        owner: "auditor",
        email: "f@eu.example",
        amount: 10.0,
    },
    Row {
        id: 8,
        region: "US",
        owner: "eu_analyst",
        email: "g@us.example",
        amount: 101.0,
    },
];

/// The matrix datasets (all with the same columns, to keep expectations
/// readable): two namespaces, six datasets.
const DATASETS: [&str; 6] = [
    "sales.orders",
    "sales.customers",
    "sales.targets",
    "hr.salaries",
    "hr.people",
    "ops.events",
];

/// The principals; `nobody` has no grants at all.
const PRINCIPALS: [&str; 6] = [
    "admin_p",
    "eu_analyst",
    "us_analyst",
    "auditor",
    "hr_self",
    "nobody",
];

fn write_dataset(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("owner", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(ROWS.iter().map(|r| r.id))),
            Arc::new(StringArray::from_iter_values(ROWS.iter().map(|r| r.region))),
            Arc::new(StringArray::from_iter_values(ROWS.iter().map(|r| r.owner))),
            Arc::new(StringArray::from_iter_values(ROWS.iter().map(|r| r.email))),
            Arc::new(Float64Array::from_iter_values(
                ROWS.iter().map(|r| r.amount),
            )),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

async fn register(catalog: &Catalog, root: &std::path::Path) {
    for name in DATASETS {
        let name = DatasetName::parse(name).unwrap();
        catalog.ensure_namespace(&name.namespace, "").await.unwrap();
        let dir = root.join(&name.namespace).join(&name.dataset);
        write_dataset(&dir);
        catalog
            .register_dataset(NewDataset {
                name,
                description: "matrix".into(),
                tags: vec![],
                format: DatasetFormat::Parquet,
                location: url::Url::from_directory_path(&dir).unwrap().to_string(),
                options: DatasetOptions::default(),
                owner: String::new(),
            })
            .await
            .unwrap();
    }
}

/// Sets up principals, roles and grants through the admin actions (so the
/// actions themselves are exercised).
async fn set_up_access(admin: &mut FlightClient) {
    let act = |kind: &'static str, body: serde_json::Value| (kind, body);
    let steps = vec![
        act(
            "create_role",
            serde_json::json!({"name": "analyst", "description": "regional analysts"}),
        ),
        act(
            "grant",
            serde_json::json!({
                "role": "analyst", "pattern": "sales.*", "action": "read",
                "row_filter": "region = principal_attribute('region')",
                "column_masks": {"email": "hash"}
            }),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "admin_p", "password": PASSWORD}),
        ),
        act(
            "grant",
            serde_json::json!({"user": "admin_p", "pattern": "*", "action": "read"}),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "eu_analyst", "password": PASSWORD, "attributes": {"region": "EU"}, "roles": ["analyst"]}),
        ),
        // A second grant on one dataset: rows over 100 in any region, emails shown.
        act(
            "grant",
            serde_json::json!({"user": "eu_analyst", "pattern": "sales.orders", "action": "read", "row_filter": "amount > 100"}),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "us_analyst", "password": PASSWORD, "attributes": {"region": "US"}, "roles": ["analyst"]}),
        ),
        act(
            "grant",
            serde_json::json!({"user": "us_analyst", "pattern": "sales.targets", "action": "read"}),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "auditor", "password": PASSWORD}),
        ),
        act(
            "grant",
            serde_json::json!({
                "user": "auditor", "pattern": "hr.*", "action": "read",
                "column_masks": {"email": "hide", "amount": "null", "owner": {"expr": "upper(substr(owner, 1, 2))"}}
            }),
        ),
        act(
            "grant",
            serde_json::json!({"user": "auditor", "pattern": "sales.*", "action": "discover"}),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "hr_self", "password": PASSWORD}),
        ),
        act(
            "grant",
            serde_json::json!({"user": "hr_self", "pattern": "hr.salaries", "action": "read", "row_filter": "owner = current_user()"}),
        ),
        act(
            "create_user",
            serde_json::json!({"name": "nobody", "password": PASSWORD}),
        ),
    ];
    for (kind, body) in steps {
        action(admin, kind, body.clone())
            .await
            .unwrap_or_else(|e| panic!("{kind} {body}: {e}"));
    }
}

/// What a principal should get from a dataset.
#[derive(Debug, PartialEq)]
enum Expect {
    /// These ids, with these column names; masks checked separately.
    Rows(BTreeSet<i64>, Vec<&'static str>),
    PermissionDenied,
    NotFound,
}

const ALL: [&str; 5] = ["id", "region", "owner", "email", "amount"];

fn ids(pred: impl Fn(&Row) -> bool) -> BTreeSet<i64> {
    ROWS.iter().filter(|r| pred(r)).map(|r| r.id).collect()
}

fn expected(principal: &str, dataset: &str) -> Expect {
    let (ns, _) = dataset.split_once('.').unwrap();
    match (principal, ns, dataset) {
        ("admin_p", _, _) => Expect::Rows(ids(|_| true), ALL.to_vec()),
        ("eu_analyst", _, "sales.orders") => {
            Expect::Rows(ids(|r| r.region == "EU" || r.amount > 100.0), ALL.to_vec())
        }
        ("eu_analyst", "sales", _) => Expect::Rows(ids(|r| r.region == "EU"), ALL.to_vec()),
        ("us_analyst", _, "sales.targets") => Expect::Rows(ids(|_| true), ALL.to_vec()),
        ("us_analyst", "sales", _) => Expect::Rows(ids(|r| r.region == "US"), ALL.to_vec()),
        ("auditor", "hr", _) => {
            Expect::Rows(ids(|_| true), vec!["id", "region", "owner", "amount"])
        }
        ("auditor", "sales", _) => Expect::PermissionDenied,
        ("hr_self", _, "hr.salaries") => Expect::Rows(ids(|r| r.owner == "hr_self"), ALL.to_vec()),
        _ => Expect::NotFound,
    }
}

fn string_col<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap_or_else(|| panic!("{name} is text"))
}

fn column_names(batch: &RecordBatch) -> Vec<&str> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect()
}

fn id_values(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

fn row_of(id: i64) -> &'static Row {
    ROWS.iter().find(|r| r.id == id).unwrap()
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Checks every value of a downloaded batch against the masks `principal`
/// is under on `dataset`.
fn check_values(principal: &str, dataset: &str, batch: &RecordBatch) {
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let analyst = matches!(principal, "eu_analyst" | "us_analyst") && dataset.starts_with("sales.");
    let unmasked = (principal == "us_analyst" && dataset == "sales.targets")
        || principal == "admin_p"
        || principal == "hr_self";
    let mut digest_of: BTreeMap<&str, String> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let row = row_of(ids.value(i));
        assert_eq!(string_col(batch, "region").value(i), row.region);
        if unmasked {
            assert_eq!(string_col(batch, "email").value(i), row.email);
            assert_eq!(string_col(batch, "owner").value(i), row.owner);
        } else if analyst {
            let email = string_col(batch, "email").value(i);
            // eu_analyst's second grant shows emails of orders over 100
            // (the first grant only hashes them where the region matches).
            let shown =
                principal == "eu_analyst" && dataset == "sales.orders" && row.amount > 100.0;
            if shown {
                assert_eq!(email, row.email, "row {}", row.id);
            } else {
                assert!(is_digest(email), "row {}: {email}", row.id);
                assert_ne!(email, row.email);
                let prior = digest_of
                    .entry(row.email)
                    .or_insert_with(|| email.to_string());
                assert_eq!(prior, email, "equal values hash equally");
            }
        } else if principal == "auditor" {
            assert!(batch.column_by_name("email").is_none());
            let amount = batch.column_by_name("amount").unwrap();
            assert_eq!(amount.data_type(), &DataType::Float64);
            assert_eq!(
                amount.null_count(),
                batch.num_rows(),
                "amount masked to NULL"
            );
            let owner = string_col(batch, "owner").value(i);
            assert_eq!(owner, row.owner[..2].to_uppercase());
        }
    }
}

async fn download(client: &mut FlightClient, dataset: &str) -> Result<RecordBatch, tonic::Status> {
    let spec = serde_json::json!({"dataset": dataset, "order_by": ["id"]});
    let info = info_for(client, &spec).await.map_err(status)?;
    let batches = fetch_all(client, &info).await.map_err(status)?;
    let schema = info.clone().try_decode_schema().unwrap();
    let schema = Arc::new(Schema::new(schema.fields().clone()));
    let batches: Vec<RecordBatch> = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()).unwrap())
        .collect();
    Ok(concat_batches(&schema, &batches).unwrap())
}

async fn matrix_server() -> (TestServer, tempfile::TempDir) {
    let s = TestServer::start().await;
    let lake = tempfile::tempdir().unwrap();
    register(&s.catalog, lake.path()).await;
    let mut admin = s.admin_client().await;
    set_up_access(&mut admin).await;
    (s, lake)
}

#[tokio::test]
async fn authorisation_matrix() {
    let (s, _lake) = matrix_server().await;
    let mut checked = 0;
    for principal in PRINCIPALS {
        let mut client = s.login(principal, PASSWORD).await.unwrap();
        // ListFlights: exactly the discoverable datasets.
        let listed: BTreeSet<String> = list_names(&mut client, "")
            .await
            .unwrap()
            .into_iter()
            .filter(|n| DATASETS.contains(&n.as_str()))
            .collect();
        let discoverable: BTreeSet<String> = DATASETS
            .iter()
            .filter(|d| expected(principal, d) != Expect::NotFound)
            .map(|d| d.to_string())
            .collect();
        assert_eq!(listed, discoverable, "{principal} lists");
        for dataset in DATASETS {
            let got = download(&mut client, dataset).await;
            match (expected(principal, dataset), got) {
                (Expect::Rows(ids, columns), Ok(batch)) => {
                    assert_eq!(
                        column_names(&batch),
                        columns,
                        "{principal} {dataset} columns"
                    );
                    let got: BTreeSet<i64> = id_values(&batch).into_iter().collect();
                    assert_eq!(got, ids, "{principal} {dataset} rows");
                    assert_eq!(
                        batch.num_rows(),
                        ids.len(),
                        "{principal} {dataset} no duplicates"
                    );
                    check_values(principal, dataset, &batch);
                }
                (Expect::PermissionDenied, Err(e)) => {
                    assert_eq!(
                        e.code(),
                        Code::PermissionDenied,
                        "{principal} {dataset}: {e:?}"
                    );
                    assert!(e.message().contains("may not read"), "{}", e.message());
                }
                (Expect::NotFound, Err(e)) => {
                    assert_eq!(e.code(), Code::NotFound, "{principal} {dataset}: {e:?}");
                    assert_eq!(e.message(), format!("dataset '{dataset}' not found"));
                }
                (want, got) => panic!("{principal} {dataset}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, PRINCIPALS.len() * DATASETS.len());
}

#[tokio::test]
async fn undiscoverable_datasets_look_exactly_like_missing_ones() {
    let (s, _lake) = matrix_server().await;
    let mut nobody = s.login("nobody", PASSWORD).await.unwrap();
    let existing = status(
        info_for(&mut nobody, &serde_json::json!({"dataset": "hr.salaries"}))
            .await
            .unwrap_err(),
    );
    let missing = status(
        info_for(&mut nobody, &serde_json::json!({"dataset": "hr.no_such"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(existing.code(), missing.code());
    assert_eq!(
        existing.message().replace("salaries", "X"),
        missing.message().replace("no_such", "X")
    );
    let describe = status(
        action(
            &mut nobody,
            "describe_dataset",
            serde_json::json!({"name": "hr.salaries"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(describe.code(), Code::NotFound);
}

#[tokio::test]
async fn masked_values_cannot_be_filtered_and_hidden_columns_do_not_exist() {
    let (s, _lake) = matrix_server().await;
    let mut eu = s.login("eu_analyst", PASSWORD).await.unwrap();
    // The raw email of row 1 (EU, amount 50: masked for eu_analyst).
    let spec =
        serde_json::json!({"dataset": "sales.customers", "filter": "email = 'a@eu.example'"});
    let info = info_for(&mut eu, &spec).await.unwrap();
    let rows: usize = fetch_all(&mut eu, &info)
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 0, "a filter sees masked values, never raw ones");
    // Nor can a filter on rows outside the row filter find them.
    let spec = serde_json::json!({"dataset": "sales.customers", "filter": "region = 'US'"});
    let info = info_for(&mut eu, &spec).await.unwrap();
    assert_eq!(fetch_all(&mut eu, &info).await.unwrap().len(), 0);

    // A filter built to fail on hidden rows never sees them: no error, so no
    // signal that a US row exists.
    let probe = "1 / (CASE WHEN id = 3 THEN 0 ELSE 1 END) = 1";
    let spec = serde_json::json!({"dataset": "sales.customers", "filter": probe});
    let info = info_for(&mut eu, &spec).await.unwrap();
    let rows: usize = fetch_all(&mut eu, &info)
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 3, "the three EU rows, and no division by zero");
    // The same probe fails for a reader who does see US rows (so it is a real probe).
    let mut admin = s.login("admin_p", PASSWORD).await.unwrap();
    let info = info_for(&mut admin, &spec).await.unwrap();
    let e = status(fetch_all(&mut admin, &info).await.unwrap_err());
    assert!(e.message().contains("DivideByZero"), "{e:?}");

    let mut auditor = s.login("auditor", PASSWORD).await.unwrap();
    let e = status(
        info_for(
            &mut auditor,
            &serde_json::json!({"dataset": "hr.people", "columns": ["email"]}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("unknown column 'email'"),
        "{}",
        e.message()
    );
    assert!(
        !e.message().contains("email,") && !e.message().ends_with("email"),
        "{}",
        e.message()
    );

    // describe_dataset withholds statistics from restricted readers.
    let d = action(
        &mut auditor,
        "describe_dataset",
        serde_json::json!({"name": "hr.people"}),
    )
    .await
    .unwrap();
    assert!(d["statistics"]["rows"].is_null(), "{d}");
    assert_eq!(d["statistics"]["columns"], serde_json::json!([]));
    let columns: Vec<&str> = d["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, vec!["id", "region", "owner", "amount"]);
}

#[tokio::test]
async fn grant_changes_apply_to_tickets_already_issued() {
    let (s, _lake) = matrix_server().await;
    let mut admin = s.admin_client().await;
    let mut us = s.login("us_analyst", PASSWORD).await.unwrap();
    let info = info_for(&mut us, &serde_json::json!({"dataset": "sales.targets"}))
        .await
        .unwrap();
    // Narrow the grant after the ticket was cut: the ticket reads narrowed data.
    action(
        &mut admin,
        "grant",
        serde_json::json!({"user": "us_analyst", "pattern": "sales.targets", "action": "read", "row_filter": "id <= 2"}),
    )
    .await
    .unwrap();
    let batches = fetch_all(&mut us, &info).await.unwrap();
    let ids: BTreeSet<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    // The analyst role still shows US rows; the direct grant now ids 1-2.
    assert_eq!(ids, [1, 2, 3, 4, 8].into_iter().collect());
    // Taking the role away and revoking the grant: the same ticket is refused.
    action(
        &mut admin,
        "remove_role_member",
        serde_json::json!({"role": "analyst", "principal": "us_analyst"}),
    )
    .await
    .unwrap();
    action(
        &mut admin,
        "revoke",
        serde_json::json!({"user": "us_analyst", "pattern": "sales.targets", "action": "read"}),
    )
    .await
    .unwrap();
    let e = status(fetch_all(&mut us, &info).await.unwrap_err());
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}

#[tokio::test]
async fn policies_are_checked_when_granted() {
    let (s, _lake) = matrix_server().await;
    let mut admin = s.admin_client().await;
    let cases = [
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.people", "action": "read", "row_filter": "no_such_column = 1"}),
            "no_such_column",
        ),
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.people", "action": "read", "row_filter": "amount + 1"}),
            "boolean",
        ),
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.*", "action": "read", "row_filter": "region = = 'EU'"}),
            "row filter",
        ),
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.*", "action": "read", "column_masks": {"email": "blur"}}),
            "unknown variant",
        ),
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.*", "action": "write", "row_filter": "id = 1"}),
            "apply to 'read' grants",
        ),
        (
            serde_json::json!({"user": "nobody", "pattern": "hr.*", "action": "delete"}),
            "unknown action",
        ),
        (
            serde_json::json!({"user": "ghost", "pattern": "hr.*", "action": "read"}),
            "principal 'ghost' not found",
        ),
        (
            serde_json::json!({"user": "nobody", "role": "analyst", "pattern": "hr.*", "action": "read"}),
            "not both",
        ),
    ];
    for (body, needle) in cases {
        let e = status(action(&mut admin, "grant", body.clone()).await.unwrap_err());
        assert!(
            matches!(e.code(), Code::InvalidArgument | Code::NotFound),
            "{body}: {e:?}"
        );
        assert!(e.message().contains(needle), "{body}: {}", e.message());
    }
    let grants = action(
        &mut admin,
        "list_grants",
        serde_json::json!({"user": "nobody"}),
    )
    .await
    .unwrap();
    assert_eq!(grants, serde_json::json!([]), "nothing was stored");
}

#[tokio::test]
async fn only_global_admins_manage_access() {
    let (s, _lake) = matrix_server().await;
    let mut eu = s.login("eu_analyst", PASSWORD).await.unwrap();
    for (kind, body) in [
        (
            "create_user",
            serde_json::json!({"name": "x", "password": PASSWORD}),
        ),
        (
            "grant",
            serde_json::json!({"user": "eu_analyst", "pattern": "*", "action": "read"}),
        ),
        (
            "add_role_member",
            serde_json::json!({"role": "analyst", "principal": "nobody"}),
        ),
        ("list_users", serde_json::json!({})),
        ("onboard", serde_json::json!({"client": "acme"})),
    ] {
        let e = status(action(&mut eu, kind, body).await.unwrap_err());
        assert_eq!(e.code(), Code::PermissionDenied, "{kind}");
    }
    let mut admin = s.admin_client().await;
    let users = action(&mut admin, "list_users", serde_json::json!({}))
        .await
        .unwrap();
    let eu_user = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "eu_analyst")
        .unwrap();
    assert_eq!(eu_user["roles"], serde_json::json!(["analyst"]));
    assert_eq!(eu_user["attributes"], serde_json::json!({"region": "EU"}));
    assert!(eu_user.get("password_hash").is_none());
    let roles = action(&mut admin, "list_roles", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(roles[0]["name"], "analyst");
    assert_eq!(
        roles[0]["members"],
        serde_json::json!(["eu_analyst", "us_analyst"])
    );
    assert_eq!(roles[0]["grants"][0]["column_masks"]["email"], "hash");
    // Weak passwords are refused; deleting a user ends its sessions.
    let e = status(
        action(
            &mut admin,
            "create_user",
            serde_json::json!({"name": "weak", "password": "short"}),
        )
        .await
        .unwrap_err(),
    );
    assert!(e.message().contains("at least 12"), "{}", e.message());
    action(
        &mut admin,
        "delete_user",
        serde_json::json!({"name": "eu_analyst"}),
    )
    .await
    .unwrap();
    let e = status(list_names(&mut eu, "").await.unwrap_err());
    assert_eq!(e.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn only_client_filters_that_cannot_fail_enter_the_policy_view() {
    use laker_query::{DownloadSpec, PrincipalContext, ReadAccess};
    let (s, _lake) = matrix_server().await;
    let state = s.server.state();
    let dataset = state
        .catalog
        .dataset(&DatasetName::parse("sales.customers").unwrap())
        .await
        .unwrap();
    let spec =
        DownloadSpec::from_json(br#"{"dataset": "sales.customers", "filter": "amount > 100"}"#)
            .unwrap();
    let plan_text = |access: ReadAccess| {
        let state = std::sync::Arc::clone(state);
        let dataset = dataset.clone();
        let spec = spec.clone();
        async move {
            let plan = state.engine.plan(&dataset, &spec, &access).await.unwrap();
            datafusion::physical_plan::displayable(plan.physical_plan().as_ref())
                .indent(true)
                .to_string()
        }
    };
    let restricted = ReadAccess {
        policies: vec![laker_catalog::GrantPolicy {
            row_filter: Some("region = 'EU'".into()),
            ..Default::default()
        }],
        principal: PrincipalContext::new("eu_analyst"),
    };
    let text = plan_text(restricted.clone()).await;
    let predicate = |text: &str| {
        text.lines()
            .find(|l| l.contains("DataSourceExec"))
            .and_then(|l| l.split("predicate=").nth(1))
            .map(|p| p.split(", pruning_").next().unwrap_or(p).to_string())
            .unwrap_or_default()
    };
    // A comparison with a literal cannot fail: it is applied inside the
    // view too, after the row filter, and still prunes the scan.
    assert_eq!(
        predicate(&text),
        "region@1 = EU AND amount@4 > 100",
        "{text}"
    );
    // (The plan guard's pass-through nodes aside.)
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("GuardExec"))
        .collect();
    assert!(lines[0].starts_with("FilterExec: amount@"), "{text}");
    assert_eq!(lines[1].trim(), "PolicyBarrierExec", "{text}");
    // A filter that can fail stays above the view; so does any filter on a
    // masked column.
    for filter in [
        "1 / (CASE WHEN id = 3 THEN 0 ELSE 1 END) = 1",
        "email = 'x'",
    ] {
        let spec = DownloadSpec::from_json(
            serde_json::json!({"dataset": "sales.customers", "filter": filter})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut access = restricted.clone();
        access.policies[0]
            .column_masks
            .insert("email".into(), laker_catalog::ColumnMask::Hash);
        let plan = state.engine.plan(&dataset, &spec, &access).await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.physical_plan().as_ref())
            .indent(true)
            .to_string();
        assert_eq!(predicate(&text), "region@1 = EU", "{filter}:\n{text}");
    }
    // Unrestricted readers keep full pushdown of their filter.
    let text = plan_text(ReadAccess::unrestricted(PrincipalContext::new("admin_p"))).await;
    let scan = text.lines().find(|l| l.contains("DataSourceExec")).unwrap();
    assert!(scan.contains("amount"), "{text}");
}

/// The same matrix through Flight SQL: each principal's session holds
/// exactly its readable datasets, with the same rows and values as its
/// downloads; anything else does not exist for its SQL.
#[tokio::test]
async fn authorisation_matrix_holds_for_sql() {
    let (s, _lake) = matrix_server().await;
    let mut checked = 0;
    for principal in PRINCIPALS {
        let mut sql = crate::flight_sql::sql_client(&s, principal, PASSWORD).await;
        let readable: BTreeSet<String> = DATASETS
            .iter()
            .filter(|d| matches!(expected(principal, d), Expect::Rows(..)))
            .map(|d| d.to_string())
            .collect();
        let tables = crate::flight_sql::query(
            &mut sql,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema IN ('sales', 'hr', 'ops')",
        )
        .await
        .unwrap();
        let listed: BTreeSet<String> = crate::flight_sql::strings(&tables, 0).into_iter().collect();
        assert_eq!(listed, readable, "{principal} information_schema");
        for dataset in DATASETS {
            let got =
                crate::flight_sql::query(&mut sql, &format!("SELECT * FROM {dataset} ORDER BY id"))
                    .await;
            match (expected(principal, dataset), got) {
                (Expect::Rows(ids, columns), Ok(batches)) => {
                    let batch = concat_batches(&batches[0].schema(), &batches).unwrap();
                    assert_eq!(
                        column_names(&batch),
                        columns,
                        "{principal} {dataset} columns"
                    );
                    let got = id_values(&batch);
                    assert_eq!(
                        got,
                        ids.iter().copied().collect::<Vec<_>>(),
                        "{principal} {dataset} rows"
                    );
                    check_values(principal, dataset, &batch);
                    // Aggregates see the same rows.
                    let counted = crate::flight_sql::query(
                        &mut sql,
                        &format!("SELECT count(*) FROM {dataset} WHERE id > 0"),
                    )
                    .await
                    .unwrap();
                    let n = counted[0]
                        .column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .value(0);
                    assert_eq!(n as usize, ids.len(), "{principal} {dataset} count");
                }
                // Discoverable but unreadable, or undiscoverable: both absent from SQL.
                (Expect::PermissionDenied | Expect::NotFound, Err(e)) => {
                    assert_eq!(e.code(), Code::NotFound, "{principal} {dataset}: {e:?}");
                    assert!(e.message().contains(dataset), "{}", e.message());
                }
                (want, got) => panic!("{principal} {dataset}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, PRINCIPALS.len() * DATASETS.len());
}

/// The same matrix through the HTTP API: the dataset list, each dataset's
/// description (masked columns marked, hidden ones absent), its preview
/// and its download as Arrow — the same rows and values as over Flight,
/// and undiscoverable datasets 404 exactly like missing ones.
#[tokio::test]
async fn authorisation_matrix_holds_for_http() {
    let s = TestServer::start_with(|c| c.http_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let lake = tempfile::tempdir().unwrap();
    register(&s.catalog, lake.path()).await;
    set_up_access(&mut s.admin_client().await).await;
    let base = format!("http://{}/api/v1", s.server.http_addr().unwrap());
    let http = reqwest::Client::new();
    let mut checked = 0;
    for principal in PRINCIPALS {
        let login: serde_json::Value = http
            .post(format!("{base}/login"))
            .json(&serde_json::json!({"user": principal, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bearer = format!("Bearer {}", login["token"].as_str().unwrap());
        let get = |path: String| {
            http.get(format!("{base}{path}"))
                .header("authorization", &bearer)
        };
        let listed: serde_json::Value = get("/datasets".into())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed: BTreeSet<String> = listed["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .filter(|n| DATASETS.contains(&n.as_str()))
            .collect();
        let discoverable: BTreeSet<String> = DATASETS
            .iter()
            .filter(|d| expected(principal, d) != Expect::NotFound)
            .map(|d| d.to_string())
            .collect();
        assert_eq!(listed, discoverable, "{principal} lists");
        for dataset in DATASETS {
            let response = get(format!(
                "/datasets/{dataset}/download?format=arrow&order_by=id"
            ))
            .send()
            .await
            .unwrap();
            let code = response.status().as_u16();
            let body = response.bytes().await.unwrap();
            match expected(principal, dataset) {
                Expect::Rows(ids, columns) => {
                    assert_eq!(code, 200, "{principal} {dataset}: {body:?}");
                    let reader =
                        arrow::ipc::reader::StreamReader::try_new(body.as_ref(), None).unwrap();
                    let schema = reader.schema();
                    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
                    let batch = concat_batches(&schema, &batches).unwrap();
                    assert_eq!(
                        column_names(&batch),
                        columns,
                        "{principal} {dataset} columns"
                    );
                    assert_eq!(
                        id_values(&batch),
                        ids.iter().copied().collect::<Vec<_>>(),
                        "{principal} {dataset} rows"
                    );
                    check_values(principal, dataset, &batch);
                    let preview: serde_json::Value =
                        get(format!("/datasets/{dataset}/preview?order_by=id"))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                    let previewed: Vec<i64> = preview["rows"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["id"].as_i64().unwrap())
                        .collect();
                    assert_eq!(
                        previewed,
                        id_values(&batch),
                        "{principal} {dataset} preview"
                    );
                    let described: serde_json::Value = get(format!("/datasets/{dataset}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let described_columns: Vec<&str> = described["schema"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["name"].as_str().unwrap())
                        .collect();
                    assert_eq!(
                        described_columns, columns,
                        "{principal} {dataset} described"
                    );
                    let masked: Vec<&str> = described["schema"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|c| c["masked"] == true)
                        .map(|c| c["name"].as_str().unwrap())
                        .collect();
                    let want: Vec<&str> = match (principal, dataset) {
                        ("eu_analyst", "sales.orders") | ("us_analyst", "sales.targets") => vec![],
                        ("eu_analyst" | "us_analyst", _) => vec!["email"],
                        ("auditor", _) => vec!["owner", "amount"],
                        _ => vec![],
                    };
                    assert_eq!(masked, want, "{principal} {dataset} masked columns");
                    assert!(described.get("location").is_none() || principal == "admin_p");
                }
                Expect::PermissionDenied => {
                    assert_eq!(code, 403, "{principal} {dataset}");
                    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(problem["code"], "PERMISSION_DENIED");
                    assert!(problem["detail"].as_str().unwrap().contains("may not read"));
                }
                Expect::NotFound => {
                    assert_eq!(code, 404, "{principal} {dataset}");
                    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(problem["detail"], format!("dataset '{dataset}' not found"));
                    for path in ["", "/preview"] {
                        let r = get(format!("/datasets/{dataset}{path}"))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status().as_u16(), 404, "{principal} {dataset}{path}");
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, PRINCIPALS.len() * DATASETS.len());
}
