//! describe_dataset: what a dataset holds, from the catalog and from file
//! statistics (Parquet footers, Delta log stats) — nothing is scanned.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::stats::Precision;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use futures::TryStreamExt;
use laker_auth::{Action, Principal};
use laker_query::deltalake::DeltaTable;

use super::delta_stats;
use super::record::{NameOnly, dataset_json, schema_json};
use crate::error::Result;
use crate::state::AppState;

/// Most Delta commits listed.
const MAX_VERSIONS: usize = 50;

/// Describes a dataset the caller may read.
pub(crate) async fn describe(
    state: &Arc<AppState>,
    principal: &Principal,
    req: NameOnly,
) -> Result<serde_json::Value> {
    let name = req.dataset()?;
    let access = state
        .authorizer
        .require(principal, Action::Read, &name)
        .await?;
    let dataset = state.catalog.dataset(&name).await?;
    // Where the data lives (paths, bucket names) and how it is fed
    // (transform SQL, rules) are for its admins only.
    let admin = access.admin;
    let access = state.read_access(principal, access);
    let mut json = if access.is_restricted() {
        describe_restricted(state, &dataset, &access).await?
    } else {
        describe_full(state, &dataset).await?
    };
    if !admin && let Some(fields) = json.as_object_mut() {
        fields.remove("location");
        fields.remove("options");
    }
    Ok(json)
}

/// Everything a reader who sees every row and value may know.
async fn describe_full(
    state: &Arc<AppState>,
    dataset: &laker_catalog::Dataset,
) -> Result<serde_json::Value> {
    let session = state.engine.state();
    let resolved = state.engine.latest(dataset).await?;
    let delta = state.engine.delta_table(dataset).await?;
    let schema = resolved.provider.schema();
    let plan = resolved.provider.scan(session, None, &[], None).await?;
    let stats = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())?;
    let (files, bytes) = file_totals(&plan);

    // Delta scans do not carry column statistics; the log does.
    let logged = delta
        .as_ref()
        .map(delta_stats::column_stats)
        .unwrap_or_default();
    let columns: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .zip(stats.column_statistics.iter())
        .map(|(f, c)| {
            let mut column = serde_json::json!({
                "name": f.name(),
                "null_count": precision_json(&c.null_count),
                "min": precision_text(&c.min_value),
                "max": precision_text(&c.max_value),
                "distinct_count": precision_json(&c.distinct_count),
            });
            if let Some(l) = logged.get(f.name()) {
                if column["min"].is_null() {
                    column["min"] = l.min.clone().into();
                }
                if column["max"].is_null() {
                    column["max"] = l.max.clone().into();
                }
                if let (true, Some(n)) = (column["null_count"].is_null(), l.null_count) {
                    column["null_count"] = serde_json::json!({"value": n, "exact": true});
                }
            }
            column
        })
        .collect();
    let mut json = dataset_json(dataset);
    json["schema"] = schema_json(&schema);
    json["statistics"] = serde_json::json!({
        "rows": precision_json(&stats.num_rows),
        "files": files,
        "size_bytes": bytes,
        "columns": columns,
    });
    json["partition_columns"] = partition_columns(&resolved.provider, delta.as_ref());
    if let (Some(v), Some(delta)) = (resolved.delta_version, &delta) {
        json["version"] = v.into();
        json["versions"] = delta_versions(delta).await?;
    }
    Ok(json)
}

/// What a caller whose grants filter rows or mask columns may know: the
/// schema as it sees it. Row counts and column statistics are withheld,
/// since they would describe rows and values the caller cannot see.
async fn describe_restricted(
    state: &Arc<AppState>,
    dataset: &laker_catalog::Dataset,
    access: &laker_query::ReadAccess,
) -> Result<serde_json::Value> {
    let schema = state.engine.view_schema(dataset, access).await?;
    let mut json = dataset_json(dataset);
    json["schema"] = schema_json(&schema);
    if let Some(columns) = json["schema"].as_array_mut() {
        for column in columns {
            let name = column["name"].as_str().unwrap_or_default();
            column["masked"] = access.is_masked(name).into();
        }
    }
    json["statistics"] = serde_json::json!({
        "rows": null,
        "columns": [],
        "withheld": "your grants filter rows or mask columns of this dataset",
    });
    Ok(json)
}

/// `{"value": n, "exact": bool}`, or null when unknown.
fn precision_json(p: &Precision<usize>) -> serde_json::Value {
    match p {
        Precision::Exact(n) => serde_json::json!({"value": n, "exact": true}),
        Precision::Inexact(n) => serde_json::json!({"value": n, "exact": false}),
        Precision::Absent => serde_json::Value::Null,
    }
}

fn precision_text(p: &Precision<datafusion::scalar::ScalarValue>) -> serde_json::Value {
    match p {
        Precision::Exact(v) | Precision::Inexact(v) if !v.is_null() => v.to_string().into(),
        _ => serde_json::Value::Null,
    }
}

/// Distinct files and their total size in the scan's file groups.
fn file_totals(plan: &Arc<dyn ExecutionPlan>) -> (usize, u64) {
    let mut seen = HashSet::new();
    let mut bytes = 0u64;
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(config) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|d| d.data_source().downcast_ref::<FileScanConfig>())
        {
            for file in config.file_groups.iter().flat_map(|g| g.files()) {
                if seen.insert(file.object_meta.location.clone()) {
                    bytes += file.object_meta.size;
                }
            }
        }
        stack.extend(node.children().into_iter().cloned());
    }
    (seen.len(), bytes)
}

/// Partition columns: a listing's hive columns, or a Delta table's.
fn partition_columns(
    provider: &Arc<dyn TableProvider>,
    delta: Option<&DeltaTable>,
) -> serde_json::Value {
    let columns: Vec<(String, String)> = match (provider.downcast_ref::<ListingTable>(), delta) {
        (Some(listing), _) => listing
            .options()
            .table_partition_cols
            .iter()
            .map(|(name, t)| (name.clone(), t.to_string()))
            .collect(),
        (None, Some(delta)) => {
            let schema = provider.schema();
            delta
                .snapshot()
                .map(|s| s.metadata().partition_columns().to_vec())
                .unwrap_or_default()
                .into_iter()
                .map(|n| {
                    let t = schema
                        .field_with_name(&n)
                        .map(|f| f.data_type().to_string())
                        .unwrap_or_default();
                    (n, t)
                })
                .collect()
        }
        (None, None) => Vec::new(),
    };
    columns
        .into_iter()
        .map(|(name, t)| serde_json::json!({"name": name, "type": t}))
        .collect::<Vec<_>>()
        .into()
}

/// The newest Delta commits: version, time (ms) and operation.
async fn delta_versions(table: &DeltaTable) -> Result<serde_json::Value> {
    let latest = table.version().unwrap_or(0);
    let commits: Vec<_> = table
        .history(Some(MAX_VERSIONS))
        .try_collect()
        .await
        .map_err(|e| laker_query::StorageError::delta("reading the Delta history", &e))?;
    Ok(commits
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({
                "version": latest.saturating_sub(i as u64),
                "timestamp": c.in_commit_timestamp.or(c.timestamp),
                "operation": c.operation,
            })
        })
        .collect::<Vec<_>>()
        .into())
}
