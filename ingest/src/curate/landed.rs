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
use laker_catalog::{Dataset, DatasetName};
use laker_query::StorageError;
use laker_query::sql::session::{self, CATALOG};
use laker_query::sql::{limits, sandbox};
use object_store::path::Path;

use super::curator::Curator;
use super::prepare::Prepared;
use crate::delta;
use crate::error::{IngestError, Result};

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
        let actions = delta::commit_actions(store.as_ref(), &commit)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => IngestError::NotFound(format!(
                    "landing version {version} of '{}' is not in its Delta log",
                    landing.name
                )),
                e => StorageError::object_store("reading the Delta log", &e).into(),
            })?;
        let mut files = Vec::new();
        for add in actions.iter().filter_map(|a| a.get("add")) {
            if add
                .get("partitionValues")
                .and_then(|p| p.as_object())
                .is_some_and(|p| !p.is_empty())
            {
                return Err(IngestError::FailedPrecondition(format!(
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
            .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?
            .snapshot()
            .arrow_schema();
        Ok(Some(Self { files, schema }))
    }

    /// Runs the prepared transform with `landing` bound to these rows as
    /// its principal sees them (row filters and masks applied); returns the
    /// result's stream and the datasets the query reads besides `landing`.
    pub async fn transform(
        self,
        curator: &Curator,
        prepared: &Prepared,
    ) -> Result<(SendableRecordBatchStream, String)> {
        let ctx = &curator.ctx;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()));
        let config = ListingTableConfig::new_with_multi_paths(self.files)
            .with_listing_options(options)
            .with_schema(self.schema);
        let table = ListingTable::try_new(config)?;
        let landing = ctx.engine.secure_provider(
            &prepared.landing.name,
            Arc::new(table),
            &prepared.access,
        )?;
        let frame = plan(
            curator,
            &prepared.principal,
            &prepared.transform.sql,
            landing,
        )
        .await?;
        let reads = sandbox::datasets_read(frame.logical_plan())
            .split(',')
            .filter(|d| !d.is_empty() && *d != "public.landing")
            .collect::<Vec<_>>()
            .join(",");
        // Under the limits of a SQL query: its own memory, the SQL timeout.
        let base = frame.task_ctx();
        let physical = frame.create_physical_plan().await?;
        let memory = ctx
            .memory
            .admit(
                "a transform",
                ctx.sql_limits.memory_per_query,
                "--sql-query-memory-mb",
            )
            .map_err(IngestError::DataFusion)?;
        let task = memory.task_context(&base)?;
        let batches = datafusion::physical_plan::execute_stream(physical, task)?;
        let batches = limits::bounded(
            batches,
            ctx.sql_limits.deadline(),
            tokio_util::sync::CancellationToken::new(),
            memory,
        );
        Ok((batches, reads))
    }
}

/// Plans `sql` with the table `landing` bound to `landing`, in `principal`'s
/// SQL session (other datasets are read with the principal's grants, row
/// filters and masks; only queries are allowed).
pub async fn plan(
    curator: &Curator,
    principal: &Principal,
    sql: &str,
    landing: Arc<dyn TableProvider>,
) -> Result<DataFrame> {
    let readable =
        session::readable(&curator.ctx.catalog, &curator.ctx.authorizer, principal).await?;
    plan_in(curator, readable, sql, landing).await
}

/// Plans `sql` with the table `landing` bound to `landing`, in a SQL
/// session over exactly the `readable` datasets (only queries are allowed).
async fn plan_in(
    curator: &Curator,
    readable: session::Readable,
    sql: &str,
    landing: Arc<dyn TableProvider>,
) -> Result<DataFrame> {
    if session::reads_system(&readable) {
        // Readers of the audit see every record of calls made before theirs.
        curator.ctx.audit.flush().await;
    }
    let ctx = session::principal_context(&curator.ctx.engine, readable)?;
    let catalog = ctx
        .catalog(CATALOG)
        .ok_or_else(|| IngestError::Internal("the SQL catalog is missing".into()))?;
    let schema = match catalog.schema(SCHEMA) {
        Some(s) => s,
        None => {
            let s = Arc::new(MemorySchemaProvider::new());
            catalog
                .register_schema(SCHEMA, s.clone())
                .map_err(|e| IngestError::Internal(format!("transform session: {e}")))?;
            s
        }
    };
    schema
        .register_table("landing".into(), landing)
        .map_err(|e| {
            IngestError::FailedPrecondition(format!(
                "the table name 'landing' is taken in the transform's session: {e}"
            ))
        })?;
    let plan = sandbox::plan_query(&ctx, sql).await?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// Checks that `sql` plans over an empty `landing` table of columns
/// `schema` (seen through `access`), with only those of the datasets
/// `principal` may read that `kept` keeps readable besides it: for a
/// transform that is to run as an account whose grants are not made yet.
pub async fn check_columns(
    curator: &Curator,
    principal: &Principal,
    sql: &str,
    landing: (&DatasetName, SchemaRef),
    access: &laker_query::ReadAccess,
    kept: impl Fn(&DatasetName) -> bool,
) -> Result<()> {
    let mut readable =
        session::readable(&curator.ctx.catalog, &curator.ctx.authorizer, principal).await?;
    for tables in readable.values_mut() {
        tables.retain(|_, (dataset, _)| kept(&dataset.name));
    }
    readable.retain(|_, tables| !tables.is_empty());
    let (name, schema) = landing;
    let empty = MemTable::try_new(schema, vec![vec![]])?;
    let seen = curator
        .ctx
        .engine
        .secure_provider(name, Arc::new(empty), access)?;
    plan_in(curator, readable, sql, seen).await.map(|_| ())
}

/// Checks that `sql` plans over an empty `landing` table shaped like the
/// landing dataset as `principal` sees it through `access` (when the
/// landing dataset has data already).
pub async fn check(
    curator: &Curator,
    principal: &Principal,
    sql: &str,
    landing: &Dataset,
    access: &laker_query::ReadAccess,
) -> Result<()> {
    let (_, table) = delta::table_at(&curator.ctx.engine, &landing.location).await?;
    let Some(table) = table else {
        return Ok(());
    };
    let schema = table
        .snapshot()
        .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?
        .snapshot()
        .arrow_schema();
    let empty = MemTable::try_new(schema, vec![vec![]])?;
    let seen = curator
        .ctx
        .engine
        .secure_provider(&landing.name, Arc::new(empty), access)?;
    plan(curator, principal, sql, seen).await.map(|_| ())
}
