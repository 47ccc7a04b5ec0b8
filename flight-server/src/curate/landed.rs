//! The rows some landing versions added, as the table `landing` of a
//! transform's query: the data files those Delta commits added, read with
//! the landing table's current schema (older files lacking newer nullable
//! columns read them as nulls).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SendableRecordBatchStream;
use deltalake_core::DeltaTable;
use laker_auth::Principal;
use laker_catalog::Dataset;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::sql::session::CATALOG;
use crate::state::AppState;

/// Schema the table `landing` is registered in.
const SCHEMA: &str = "public";

/// The files one landing version added.
#[derive(Debug, Clone)]
pub struct Batch {
    files: Vec<ListingTableUrl>,
    schema: SchemaRef,
}

impl Batch {
    /// The rows landing version `version` of `table` (the dataset
    /// `landing`) added; `None` when it added none.
    pub async fn of_version(
        landing: &Dataset,
        table: &DeltaTable,
        version: i64,
    ) -> Result<Option<Self>> {
        let store = table.log_store().object_store(None);
        let base = if landing.location.ends_with('/') {
            landing.location.clone()
        } else {
            format!("{}/", landing.location)
        };
        let commit = Path::from(format!("_delta_log/{version:020}.json"));
        let actions = crate::upload::staged::commit_actions(store.as_ref(), &commit)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    Error::Status(tonic::Status::not_found(format!(
                        "landing version {version} of '{}' is not in its Delta log",
                        landing.name
                    )))
                }
                e => Error::Internal(format!("reading the Delta log failed: {e}")),
            })?;
        let mut files = Vec::new();
        for add in actions.iter().filter_map(|a| a.get("add")) {
            if add
                .get("partitionValues")
                .and_then(|p| p.as_object())
                .is_some_and(|p| !p.is_empty())
            {
                return Err(Error::FailedPrecondition(format!(
                    "landing dataset '{}' is partitioned; transforms read unpartitioned landing tables",
                    landing.name
                )));
            }
            if let Some(path) = add.get("path").and_then(|p| p.as_str()) {
                files.push(ListingTableUrl::parse(format!("{base}{path}"))?);
            }
        }
        if files.is_empty() {
            return Ok(None);
        }
        let schema = table
            .snapshot()
            .map_err(|e| Error::Internal(format!("Delta snapshot: {e}")))?
            .snapshot()
            .arrow_schema();
        Ok(Some(Self { files, schema }))
    }

    /// Runs `sql` with `landing` bound to these rows, as `principal`;
    /// returns the result's stream.
    pub async fn transform(
        self,
        state: &Arc<AppState>,
        principal: &Principal,
        sql: &str,
    ) -> Result<SendableRecordBatchStream> {
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()));
        let config = ListingTableConfig::new_with_multi_paths(self.files)
            .with_listing_options(options)
            .with_schema(self.schema);
        let table = ListingTable::try_new(config)?;
        let frame = plan(state, principal, sql, Arc::new(table)).await?;
        Ok(frame.execute_stream().await?)
    }
}

/// Plans `sql` with the table `landing` bound to `landing`, in `principal`'s
/// SQL session (other datasets are read with the principal's grants, row
/// filters and masks; only queries are allowed).
pub async fn plan(
    state: &Arc<AppState>,
    principal: &Principal,
    sql: &str,
    landing: Arc<dyn TableProvider>,
) -> Result<DataFrame> {
    let ctx = crate::sql::session::principal_context(state, principal).await?;
    let catalog = ctx
        .catalog(CATALOG)
        .ok_or_else(|| Error::Internal("the SQL catalog is missing".into()))?;
    let schema = match catalog.schema(SCHEMA) {
        Some(s) => s,
        None => {
            let s = Arc::new(MemorySchemaProvider::new());
            catalog
                .register_schema(SCHEMA, s.clone())
                .map_err(|e| Error::Internal(format!("transform session: {e}")))?;
            s
        }
    };
    schema
        .register_table("landing".into(), landing)
        .map_err(|e| {
            Error::FailedPrecondition(format!(
                "the table name 'landing' is taken in the transform's session: {e}"
            ))
        })?;
    let plan = crate::sql::sandbox::plan_query(&ctx, sql).await?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// Checks that `sql` plans over an empty `landing` table shaped like the
/// landing dataset (when that has data already).
pub async fn check(
    state: &Arc<AppState>,
    principal: &Principal,
    sql: &str,
    landing_location: &str,
) -> Result<()> {
    let (_, table) = crate::upload::table_at(state, landing_location).await?;
    let Some(table) = table else {
        return Ok(());
    };
    let schema = table
        .snapshot()
        .map_err(|e| Error::Internal(format!("Delta snapshot: {e}")))?
        .snapshot()
        .arrow_schema();
    let empty = MemTable::try_new(schema, vec![vec![]])?;
    plan(state, principal, sql, Arc::new(empty))
        .await
        .map(|_| ())
}
