//! The query engine: one shared DataFusion session state that compiles
//! download specs into pushed-down, partitioned physical plans.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::common::stats::Precision;
use datafusion::datasource::provider_as_source;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, execute_stream};
use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use laker_catalog::{ColumnMask, Dataset, DatasetName, GrantPolicy};

use crate::error::{QueryError, Result};
use crate::filter::{compile_filter, parse_expr, simplify_now};
use crate::functions::FunctionLimits;
use crate::limits::ExprLimits;
use crate::plan_guard::PlanGuard;
use crate::policy::{PolicyCompiler, ReadAccess};
use crate::principal_fns::{bind_principal, principal_functions};
use crate::secure_view::SecureView;
use crate::spec::DownloadSpec;
use crate::tables::{DeltaVersion, ResolvedTable, TableResolver};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most partitions (download endpoints) one download is split into.
    pub max_partitions: usize,
    /// Rows per record batch produced by scans.
    pub batch_size: usize,
    /// Key mixed into values masked with `hash`, so digests are stable on
    /// this deployment but cannot be matched against precomputed tables.
    pub mask_hash_key: String,
    /// DataFusion Parquet reader options (`datafusion.execution.parquet.*`,
    /// by their short name), applied over Laker's defaults; checked with
    /// [`check_parquet_option`].
    pub parquet_options: Vec<(String, String)>,
    /// How deep and large client expressions and queries may be.
    pub expr_limits: ExprLimits,
    /// What functions, literals and projected batches may allocate.
    pub function_limits: FunctionLimits,
    /// Decode Parquet string and binary columns of file datasets straight
    /// into plain `Utf8`/`Binary` (`LargeUtf8`/`LargeBinary` where a file's
    /// Arrow schema says large), even where the file's Arrow schema asks
    /// for `Utf8View`/`BinaryView`, so no view is built and none cast later
    /// (`--parquet-plain-strings`). No effect when `parquet_options` set
    /// `schema_force_view_types=true`, nor on Delta tables.
    pub plain_strings: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_partitions: 8,
            batch_size: 8192,
            mask_hash_key: String::new(),
            parquet_options: Vec::new(),
            expr_limits: ExprLimits::default(),
            function_limits: FunctionLimits::default(),
            plain_strings: true,
        }
    }
}

/// Prefix of the DataFusion options that `parquet_options` may set.
const PARQUET_OPTIONS: &str = "datafusion.execution.parquet.";

/// Checks that `name` (e.g. `enable_page_index`) is a DataFusion Parquet
/// reader option and `value` a valid value for it.
pub fn check_parquet_option(name: &str, value: &str) -> Result<(), String> {
    let mut options = datafusion::config::ConfigOptions::new();
    options
        .set(&format!("{PARQUET_OPTIONS}{name}"), value)
        .map(|_| ())
        .map_err(|e| format!("invalid Parquet option {name}={value}: {e}"))
}

/// Compiles download specs and resolves dataset tables.
pub struct QueryEngine {
    state: SessionState,
    tables: TableResolver,
    mask_hash_key: String,
    /// Largest batch an operator evaluating expressions may produce.
    max_batch_bytes: u64,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

/// A compiled download: a physical plan whose partitions can be executed
/// independently (one per endpoint).
#[derive(Debug, Clone)]
pub struct DownloadPlan {
    plan: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    /// Whether rows come in the order the spec asked for.
    pub ordered: bool,
    /// The Delta table version read (`None` for file datasets). Tickets pin
    /// it so every partition reads the same snapshot.
    pub delta_version: Option<u64>,
    /// Largest batch an operator evaluating expressions may produce
    /// (bounds the constants of a plan read in large batches).
    max_batch_bytes: u64,
}

impl QueryEngine {
    /// An engine over `runtime` (object stores, memory pool, caches).
    pub fn new(config: &EngineConfig, runtime: Arc<RuntimeEnv>) -> Self {
        Self::with_tables(config, runtime, TableResolver::new())
    }

    /// An engine resolving datasets through `tables` (e.g. one that also
    /// serves the built-in `system` datasets).
    pub fn with_tables(
        config: &EngineConfig,
        runtime: Arc<RuntimeEnv>,
        tables: TableResolver,
    ) -> Self {
        let mut session = SessionConfig::new()
            .with_target_partitions(config.max_partitions.max(1))
            .with_batch_size(config.batch_size.max(1))
            // Partitions must be independent so each endpoint can run alone:
            // never shuffle rows between them.
            .with_round_robin_repartition(false)
            .with_information_schema(false);
        let options = session.options_mut();
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        // Plain Utf8/Binary on the wire: every Arrow client reads them.
        options.execution.parquet.schema_force_view_types = false;
        options.sql_parser.enable_ident_normalization = true;
        // Each endpoint executes its partition alone, in its own DoGet: a
        // partition must read exactly its own file group, never steal the
        // files of siblings that (in this plan instance) never run.
        options.execution.enable_file_stream_work_stealing = false;
        // A stream's or query's memory is its own budget: one sort over the
        // merged partitions spills within it, where per-partition sorts
        // sharing it would starve each other (and each sets memory aside
        // to merge what it spilled).
        options.optimizer.repartition_sorts = false;
        options.execution.sort_spill_reservation_bytes = 8 << 20;
        for (name, value) in &config.parquet_options {
            // Checked when the configuration was read.
            if let Err(e) = options.set(&format!("{PARQUET_OPTIONS}{name}"), value) {
                tracing::warn!(error = %e, option = %name, "Parquet option ignored");
            }
        }
        let session = crate::limits::with_limits(session, config.expr_limits);
        let function_limits = config.function_limits.for_batch_size(config.batch_size);
        let session = crate::functions::with_function_limits(session, function_limits);
        let session = crate::tables::plain_strings::with_setting(session, config.plain_strings);
        let mut builder = SessionStateBuilder::new()
            .with_config(session)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(PlanGuard::new(function_limits)));
        crate::functions::guard(&mut builder, function_limits);
        let mut state = builder.build();
        for udf in principal_functions() {
            // Registering a new name cannot fail; a clash would only replace.
            let _ = state.register_udf(udf);
        }
        Self {
            state,
            tables,
            mask_hash_key: config.mask_hash_key.clone(),
            max_batch_bytes: function_limits.max_batch_bytes,
        }
    }

    /// The shared session state.
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The dataset tables and their caches.
    pub fn tables(&self) -> &TableResolver {
        &self.tables
    }

    /// The table of `dataset` (cached per dataset revision).
    pub async fn table(&self, dataset: &Dataset) -> Result<Arc<dyn TableProvider>> {
        Ok(self.tables.table(&self.state, dataset).await?)
    }

    /// The latest table of `dataset` and, for Delta tables, its version.
    pub async fn latest(&self, dataset: &Dataset) -> Result<ResolvedTable> {
        Ok(self
            .tables
            .resolve(&self.state, dataset, DeltaVersion::Latest)
            .await?)
    }

    /// The Delta table behind `dataset` at the snapshot [`Self::latest`] last
    /// read; `None` for file datasets.
    pub async fn delta_table(
        &self,
        dataset: &Dataset,
    ) -> Result<Option<deltalake_core::DeltaTable>> {
        Ok(self.tables.delta_table(&self.state, dataset).await?)
    }

    /// Parses a grant policy's SQL (row filter, expression masks) without
    /// a dataset, for policies on patterns.
    pub fn check_policy_syntax(&self, policy: &GrantPolicy) -> Result<()> {
        let mut sql = Vec::new();
        if let Some(filter) = &policy.row_filter {
            sql.push(("row filter".to_string(), filter));
        }
        for (column, mask) in &policy.column_masks {
            if let ColumnMask::Expr(expr) = mask {
                sql.push((format!("mask of column '{column}'"), expr));
            }
        }
        for (what, text) in sql {
            parse_expr(&self.state, &what, text)?;
        }
        Ok(())
    }

    /// The schema `access` shows of the latest `dataset` (masked columns
    /// with their masked types, hidden ones left out).
    pub async fn view_schema(&self, dataset: &Dataset, access: &ReadAccess) -> Result<SchemaRef> {
        let resolved = self
            .tables
            .resolve(&self.state, dataset, DeltaVersion::Latest)
            .await?;
        let spec = DownloadSpec::whole(&dataset.name);
        let logical = self.logical_plan(dataset, resolved.provider, &spec, access)?;
        Ok(Arc::new(logical.schema().as_arrow().clone()))
    }

    /// The latest table of `dataset` as `access` shows it: the dataset's own
    /// table for unrestricted readers, else the policy view (row filters and
    /// masks, behind the filter barrier). SQL sessions register these.
    pub async fn secured_table(
        &self,
        dataset: &Dataset,
        access: &ReadAccess,
    ) -> Result<Arc<dyn TableProvider>> {
        let resolved = self
            .tables
            .resolve(&self.state, dataset, DeltaVersion::Latest)
            .await?;
        self.secure_provider(&dataset.name, resolved.provider, access)
    }

    /// `table` (rows of the dataset `name`, read some other way, e.g. the
    /// files one Delta commit added) as `access` shows it: unchanged for
    /// unrestricted readers, else behind its row filters and masks.
    pub fn secure_provider(
        &self,
        name: &DatasetName,
        table: Arc<dyn TableProvider>,
        access: &ReadAccess,
    ) -> Result<Arc<dyn TableProvider>> {
        if !access.is_restricted() {
            return Ok(table);
        }
        let scan =
            LogicalPlanBuilder::scan(name.dataset.as_str(), provider_as_source(table), None)?;
        let policies = PolicyCompiler {
            state: &self.state,
            hash_key: &self.mask_hash_key,
        };
        let view = policies.secure(scan, access)?.build()?;
        Ok(Arc::new(SecureView::new(view)))
    }

    /// Compiles `spec` over `dataset`, as seen through `access` (row
    /// filters and column masks), into an executable plan. The caller must
    /// have authorised the principal for the dataset already.
    pub async fn plan(
        &self,
        dataset: &Dataset,
        spec: &DownloadSpec,
        access: &ReadAccess,
    ) -> Result<DownloadPlan> {
        let resolved = self
            .tables
            .resolve(&self.state, dataset, spec.table_version()?)
            .await?;
        let logical = self.logical_plan(dataset, resolved.provider, spec, access)?;
        let plan = self.state.create_physical_plan(&logical).await?;
        let plan = if independent_partitions(&plan) {
            plan
        } else {
            Arc::new(CoalescePartitionsExec::new(plan)) as Arc<dyn ExecutionPlan>
        };
        Ok(DownloadPlan {
            plan,
            task_ctx: self.state.task_ctx(),
            ordered: !spec.order_by.is_empty(),
            delta_version: resolved.delta_version,
            max_batch_bytes: self.max_batch_bytes,
        })
    }

    fn logical_plan(
        &self,
        dataset: &Dataset,
        table: Arc<dyn TableProvider>,
        spec: &DownloadSpec,
        access: &ReadAccess,
    ) -> Result<LogicalPlan> {
        let scan = LogicalPlanBuilder::scan(
            dataset.name.dataset.as_str(),
            provider_as_source(table),
            None,
        )?;
        let policies = PolicyCompiler {
            state: &self.state,
            hash_key: &self.mask_hash_key,
        };
        let mut builder = if access.is_restricted() {
            // The policy view is planned on its own; the client's spec
            // applies on top of it and is never pushed inside.
            let view = policies.secure(scan, access)?.build()?;
            LogicalPlanBuilder::scan(
                dataset.name.dataset.as_str(),
                provider_as_source(Arc::new(SecureView::new(view))),
                None,
            )?
        } else {
            policies.secure(scan, access)?
        };
        // The client's spec sees only the secure view's columns and values.
        let schema: SchemaRef = Arc::new(builder.schema().as_arrow().clone());
        if let Some(filter) = &spec.filter {
            let expr = compile_filter(&self.state, filter, builder.schema())?;
            let expr = bind_principal(expr, &access.principal, "filter")?;
            let expr = simplify_now(&self.state, "filter", expr, builder.schema())?;
            builder = builder.filter(expr)?;
        }
        let keys = spec.sort_keys()?;
        if !keys.is_empty() {
            let sort = keys
                .iter()
                .map(|k| {
                    column(&schema, "order_by", &k.column)
                        .map(|c| SortExpr::new(c, !k.descending, k.nulls_first))
                })
                .collect::<Result<Vec<_>>>()?;
            builder = builder.sort(sort)?;
        }
        if let Some(limit) = spec.limit {
            let limit =
                usize::try_from(limit).map_err(|_| QueryError::spec("limit", "is too large"))?;
            builder = builder.limit(0, Some(limit))?;
        }
        if let Some(columns) = &spec.columns {
            let exprs = columns
                .iter()
                .map(|c| column(&schema, "columns", c))
                .collect::<Result<Vec<_>>>()?;
            builder = builder.project(exprs)?;
        }
        Ok(builder.build()?)
    }
}

/// A reference to column `name`, or an InvalidSpec error naming `field`.
/// Names match exactly, or else case-insensitively when that is unambiguous
/// (as unquoted identifiers in `filter` do).
fn column(schema: &SchemaRef, field: &str, name: &str) -> Result<Expr> {
    if schema.field_with_name(name).is_ok() {
        return Ok(Expr::Column(Column::from_name(name)));
    }
    let mut folded = schema
        .fields()
        .iter()
        .filter(|f| f.name().eq_ignore_ascii_case(name));
    if let (Some(only), None) = (folded.next(), folded.next()) {
        return Ok(Expr::Column(Column::from_name(only.name())));
    }
    let available: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Err(QueryError::spec(
        field,
        format!(
            "unknown column '{name}'; available columns: {}",
            available.join(", ")
        ),
    ))
}

/// True when no operator moves rows between partitions, so each output
/// partition can be executed on its own.
pub fn independent_partitions(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.is::<RepartitionExec>() {
        return false;
    }
    plan.children().into_iter().all(independent_partitions)
}

impl DownloadPlan {
    /// The schema of the rows the download returns.
    pub fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    /// How many partitions (endpoints) the download has.
    pub fn partitions(&self) -> usize {
        self.plan.output_partitioning().partition_count()
    }

    /// Exact row count when statistics know it (no filter, or exact pruning).
    pub fn total_records(&self) -> Option<u64> {
        let stats = StatisticsContext::new()
            .compute(self.plan.as_ref(), &StatisticsArgs::new())
            .ok()?;
        match stats.num_rows {
            Precision::Exact(n) => u64::try_from(n).ok(),
            _ => None,
        }
    }

    /// Estimated rows and bytes (exact or not) from statistics, where
    /// they are known; nothing is scanned.
    pub fn estimate(&self) -> (Option<u64>, Option<u64>) {
        let Ok(stats) =
            StatisticsContext::new().compute(self.plan.as_ref(), &StatisticsArgs::new())
        else {
            return (None, None);
        };
        let known = |p: &Precision<usize>| p.get_value().and_then(|n| u64::try_from(*n).ok());
        (known(&stats.num_rows), known(&stats.total_byte_size))
    }

    /// Bytes of batches in flight a stream of this plan is estimated to
    /// hold (two batches' worth), when statistics bound its rows: what a
    /// small download reserves of the memory budget.
    pub fn in_flight_hint(&self) -> Option<usize> {
        let (rows, bytes) = self.estimate();
        let bytes = bytes.or_else(|| rows.map(|r| r.saturating_mul(self.row_width())))?;
        usize::try_from(bytes.saturating_mul(2)).ok()
    }

    /// Bytes a row of the result takes by its schema: fixed widths, 32 for
    /// a variable-length value.
    fn row_width(&self) -> u64 {
        let width: u64 = self
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().primitive_width().map_or(32, |w| w as u64))
            .sum();
        width.max(1)
    }

    /// Rows per batch this plan may be read in when a stream can hold
    /// large batches: `max_rows` or fewer, so a batch is about
    /// [`LARGE_BATCH_BYTES`](crate::batching::LARGE_BATCH_BYTES) by the
    /// statistics' row width. `None` when large batches would not help or
    /// are not safe (see [`crate::batching`]).
    pub fn large_batch_rows(&self, max_rows: usize) -> Option<usize> {
        let small = self.task_ctx.session_config().batch_size();
        let (rows, bytes) = self.estimate();
        // Without the statistics' bytes, the schema's widths (as
        // `in_flight_hint` estimates them).
        let bytes = bytes.or_else(|| rows.map(|r| r.saturating_mul(self.row_width())));
        let rows = crate::batching::rows_for((rows, bytes), max_rows)?;
        (rows > small && crate::batching::plain(&self.plan, rows, self.max_batch_bytes))
            .then_some(rows)
    }

    /// The physical plan (for tests and diagnostics).
    pub fn physical_plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }

    /// The engine's task context, for a stream to derive its own from
    /// (with its memory pool: [`crate::memory::StreamMemory::task_context`]).
    pub fn task_context(&self) -> &Arc<TaskContext> {
        &self.task_ctx
    }

    /// Streams one partition in `task`, or all partitions merged when
    /// `partition` is `None`, at most `parallel` of them read at once (each
    /// partition read ahead holds its own buffers).
    pub fn execute(
        &self,
        partition: Option<usize>,
        task: Arc<TaskContext>,
        parallel: usize,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.partitions();
        match partition {
            None if partitions <= 1 => Ok(execute_stream(Arc::clone(&self.plan), task)?),
            None => Ok(merged(&self.plan, task, parallel)),
            Some(p) if p < partitions => Ok(self.plan.execute(p, task)?),
            Some(p) => Err(QueryError::spec(
                "partition",
                format!("{p} is out of range (the plan has {partitions})"),
            )),
        }
    }
}

/// Every partition of `plan`, merged in arrival order, at most `parallel`
/// running at once, each on its own task; dropping the stream stops them.
fn merged(
    plan: &Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    parallel: usize,
) -> SendableRecordBatchStream {
    let mut builder = RecordBatchReceiverStream::builder(plan.schema(), 2);
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    for p in 0..plan.output_partitioning().partition_count() {
        let (tx, plan, task, gate) = (
            builder.tx(),
            Arc::clone(plan),
            Arc::clone(&task),
            Arc::clone(&gate),
        );
        builder.spawn(async move {
            let Ok(_turn) = gate.acquire_owned().await else {
                return Ok(());
            };
            let mut batches = plan.execute(p, task)?;
            while let Some(batch) = batches.next().await {
                if tx.send(batch).await.is_err() {
                    // The reader is gone.
                    break;
                }
            }
            Ok(())
        });
    }
    builder.build()
}
