//! Golden plans: download specs × grant policies compiled by the engine
//! over a small hive-partitioned Parquet dataset. Each case checks facts
//! of its physical plan (what is pushed where, which files are read, which
//! expressions mask and filter) and of the rows it returns, then compares
//! the rendered plan with its reviewed snapshot in `tests/plans/<case>.txt`
//! (written by `LAKER_BLESS=1 cargo test -p laker-query --test plans`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

mod support;

use serde_json::json;
use support::case::{Case, Outcome};
use support::engine::MASK_HASH_KEY;
use support::inspect::{by_id, floats, ints, texts};
use support::lake::{PEOPLE, REGIONS, region_file};

/// The ids returned, in `id` order.
fn ids(out: &Outcome) -> Vec<i64> {
    ints(&by_id(&out.rows), "id")
}

/// The data files of `regions`.
fn files_of(regions: &[&str]) -> std::collections::BTreeSet<String> {
    regions.iter().copied().map(region_file).collect()
}

/// Whether `value` is a hex SHA-256 digest.
fn is_digest(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn none() {
    let out = Case::new("none", json!({})).run().await;
    assert_eq!(out.columns(), ["id", "name", "email", "amount", "region"]);
    assert_eq!(ids(&out), (1..=9).collect::<Vec<i64>>());
    assert_eq!(out.files, files_of(&REGIONS), "{}", out.text);
    assert!(!out.text.contains("FilterExec"), "{}", out.text);
    assert!(!out.text.contains("PolicyBarrierExec"), "{}", out.text);
    assert!(!out.plan.ordered);
    // The partition column is not in the files: not copied.
    assert!(out.plan.copy_source().is_none());
    out.check_snapshot();
}

#[tokio::test]
async fn projection() {
    let out = Case::new("projection", json!({"columns": ["amount", "id"]}))
        .run()
        .await;
    assert_eq!(out.columns(), ["amount", "id"]);
    // The scan reads only the columns asked for.
    assert!(
        out.scan_columns.iter().all(|c| c == "amount" || c == "id"),
        "{:?}\n{}",
        out.scan_columns,
        out.text
    );
    assert!(!out.text.contains("email"), "{}", out.text);
    assert_eq!(ids(&out), (1..=9).collect::<Vec<i64>>());
    // Plain file columns, every row: the column chunks can be copied.
    let copy = out
        .plan
        .copy_source()
        .expect("a plain projection is copied");
    assert_eq!(copy.columns, ["amount", "id"]);
    assert_eq!(copy.files.len(), REGIONS.len());
    out.check_snapshot();
}

#[tokio::test]
async fn filter() {
    let out = Case::new("filter", json!({"filter": "amount > 100"}))
        .run()
        .await;
    assert_eq!(ids(&out), [2, 4, 6, 9]);
    // The filter is pushed into the scan (row groups and pages pruned).
    let scan = out.line("scan", |l| l.contains("DataSourceExec"));
    assert!(
        scan.contains("predicate=") && scan.contains("amount@") && scan.contains("> 100"),
        "{}",
        out.text
    );
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn limit() {
    let out = Case::new("limit", json!({"limit": 2})).run().await;
    assert_eq!(out.rows.num_rows(), 2);
    assert!(
        out.text.contains("fetch=2") || out.text.contains("limit=2"),
        "{}",
        out.text
    );
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn order_by() {
    let out = Case::new("order_by", json!({"order_by": ["amount DESC"]}))
        .run()
        .await;
    assert!(out.plan.ordered);
    // One sorted stream: partitions read on their own would not be.
    assert_eq!(out.plan.partitions(), 1, "{}", out.text);
    let sort = out.line("sort", |l| l.contains("SortExec"));
    assert!(
        sort.contains("amount@") && sort.contains("DESC"),
        "{}",
        out.text
    );
    let mut amounts: Vec<f64> = PEOPLE.iter().map(|p| p.amount).collect();
    amounts.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(
        floats(&out.rows, "amount"),
        amounts.into_iter().map(Some).collect::<Vec<_>>()
    );
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn column_masks() {
    let out = Case::new("column_masks", json!({}))
        .policy(json!({"column_masks": {
            "email": "hash",
            "name": {"expr": "substr(name, 1, 1) || '***'"},
        }}))
        .run()
        .await;
    assert_eq!(out.columns(), ["id", "name", "email", "amount", "region"]);
    // Masks are computed inside the policy view, with the deployment's key.
    assert!(out.below_barrier(|l| l.contains("sha256")), "{}", out.text);
    assert!(out.below_barrier(|l| l.contains("***")), "{}", out.text);
    assert!(out.text.contains(MASK_HASH_KEY), "{}", out.text);
    let rows = by_id(&out.rows);
    let names: Vec<Option<String>> = PEOPLE
        .iter()
        .map(|p| Some(format!("{}***", &p.name[..1])))
        .collect();
    assert_eq!(texts(&rows, "name"), names);
    let emails = texts(&rows, "email");
    assert!(emails.iter().all(|e| is_digest(e.as_deref())), "{emails:?}");
    let distinct: std::collections::BTreeSet<_> = emails.iter().collect();
    assert_eq!(distinct.len(), PEOPLE.len(), "equal values hash equally");
    // Unmasked columns keep their values.
    assert_eq!(ints(&rows, "id"), (1..=9).collect::<Vec<i64>>());
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn hidden_and_null_columns() {
    let out = Case::new("hidden_and_null_columns", json!({}))
        .policy(json!({"column_masks": {"email": "hide", "amount": "null"}}))
        .run()
        .await;
    assert_eq!(out.columns(), ["id", "name", "amount", "region"]);
    // A hidden column is not even read.
    assert!(!out.scan_columns.contains("email"), "{}", out.text);
    assert!(!out.text.contains("email"), "{}", out.text);
    let amounts = texts(&out.rows, "amount");
    assert!(amounts.iter().all(Option::is_none), "{amounts:?}");
    assert_eq!(ids(&out), (1..=9).collect::<Vec<i64>>());
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn row_filter() {
    let out = Case::new("row_filter", json!({}))
        .policy(json!({"row_filter": "amount >= 100"}))
        .run()
        .await;
    assert_eq!(ids(&out), [2, 4, 6, 9]);
    // The row filter is inside the policy view.
    assert!(out.below_barrier(|l| l.contains(">= 100")), "{}", out.text);
    assert!(!out.above_barrier(|l| l.contains(">= 100")), "{}", out.text);
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn row_filter_on_partition() {
    let out = Case::new("row_filter_on_partition", json!({}))
        .policy(json!({"row_filter": "region = principal_attribute('region')"}))
        .run()
        .await;
    // The principal's attribute is bound, and prunes the other regions'
    // files: they are not read at all.
    assert_eq!(out.files, files_of(&["EU"]), "{}", out.text);
    assert_eq!(ids(&out), [1, 2, 3]);
    let regions = texts(&out.rows, "region");
    assert!(
        regions.iter().all(|r| r.as_deref() == Some("EU")),
        "{regions:?}"
    );
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn partition_filter() {
    let out = Case::new("partition_filter", json!({"filter": "region = 'US'"}))
        .run()
        .await;
    assert_eq!(out.files, files_of(&["US"]), "{}", out.text);
    assert_eq!(ids(&out), [4, 5, 6]);
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn partition_pruned_projection_is_copied() {
    let out = Case::new(
        "partition_pruned_projection",
        json!({"filter": "region = 'US'", "columns": ["id", "name"]}),
    )
    .run()
    .await;
    assert_eq!(ids(&out), [4, 5, 6]);
    // Pruning files by their partition is exact: the remaining files'
    // chunks are the rows asked for.
    let copy = out
        .plan
        .copy_source()
        .expect("a pruned projection is copied");
    assert_eq!(copy.columns, ["id", "name"]);
    assert_eq!(copy.files.len(), 1, "{}", out.text);
    assert!(
        copy.files[0]
            .location
            .to_string()
            .ends_with("region=US/part-0.parquet"),
        "{:?}",
        copy.files
    );
}

#[tokio::test]
async fn partition_filter_through_policy() {
    let out = Case::new(
        "partition_filter_through_policy",
        json!({"filter": "region = 'US'"}),
    )
    .policy(json!({"row_filter": "amount < 200"}))
    .run()
    .await;
    // A filter that cannot fail, on an unmasked column, is also taken into
    // the view: it still prunes files. It applies above the view as well.
    assert_eq!(out.files, files_of(&["US"]), "{}", out.text);
    assert!(
        out.above_barrier(|l| l.contains("FilterExec") && l.contains("region")),
        "{}",
        out.text
    );
    assert!(out.below_barrier(|l| l.contains("< 200")), "{}", out.text);
    assert_eq!(ids(&out), [4, 5]);
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}

#[tokio::test]
async fn masks_row_filter_and_client_filter() {
    let out = Case::new(
        "masks_row_filter_and_client_filter",
        json!({
            "columns": ["id", "email", "amount"],
            "filter": "amount > 100",
            "order_by": ["id DESC"],
            "limit": 10,
        }),
    )
    .policy(json!({
        "row_filter": "region <> 'APAC'",
        "column_masks": {
            "email": "hash",
            "amount": {"expr": "floor(amount / 100) * 100"},
        },
    }))
    .run()
    .await;
    assert_eq!(out.columns(), ["id", "email", "amount"]);
    // The row filter prunes APAC's file.
    assert_eq!(out.files, files_of(&["EU", "US"]), "{}", out.text);
    // Masks inside the view; the client's filter on a masked column only
    // above it, on masked values.
    assert!(out.below_barrier(|l| l.contains("sha256")), "{}", out.text);
    assert!(out.below_barrier(|l| l.contains("floor")), "{}", out.text);
    assert!(
        out.above_barrier(|l| l.contains("FilterExec") && l.contains("> 100")),
        "{}",
        out.text
    );
    assert!(!out.below_barrier(|l| l.contains("> 100")), "{}", out.text);
    let sort = out.line("sort", |l| l.contains("SortExec"));
    assert!(
        sort.contains("id@") && sort.contains("DESC"),
        "{}",
        out.text
    );
    assert!(out.plan.ordered);
    assert_eq!(out.plan.partitions(), 1, "{}", out.text);
    // Masked amounts: 4 (120 → 100) fails `> 100`, as raw values would not.
    assert_eq!(ints(&out.rows, "id"), [6, 2]);
    assert_eq!(floats(&out.rows, "amount"), [Some(300.0), Some(200.0)]);
    let emails = texts(&out.rows, "email");
    assert!(emails.iter().all(|e| is_digest(e.as_deref())), "{emails:?}");
    assert!(out.plan.copy_source().is_none(), "{}", out.text);
    out.check_snapshot();
}
