//! The secure view as a table of its own: the dataset's scan, filtered by
//! the caller's row filters and projected through its column masks, planned
//! as a separate physical plan.
//!
//! Nothing the client sends is pushed into it: the provider accepts no
//! filter pushdown, so the client's filter runs above the view, on rows the
//! policy admitted and on masked values only. Without this boundary the
//! optimizer would merge the client's predicate with the row filter, and
//! the scan could evaluate it (reordered) on hidden rows — where a
//! deliberately failing expression, such as a division by zero, would
//! reveal that such rows exist. The same holds in the physical plan, where
//! [`PolicyBarrierExec`] stops filter pushdown at the view's top.
//!
//! Filters that cannot fail — comparisons, `IN`, `BETWEEN` and null tests of
//! unmasked columns against literals, combined with AND/OR/NOT — are taken
//! inside the view (after its row filter), so they still prune files, row
//! groups and pages; the engine re-applies them above the view as well.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, Operator, TableProviderFilterPushDown,
};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

use crate::one_child::one_child_node;

/// A policy view over one dataset.
#[derive(Debug)]
pub(crate) struct SecureView {
    plan: LogicalPlan,
    schema: SchemaRef,
    /// View columns that are the dataset's own values (not masked).
    raw_columns: HashSet<String>,
}

impl SecureView {
    /// Wraps the logical plan of the view (scan, row filter, masks).
    pub fn new(plan: LogicalPlan) -> Self {
        // The files' own schema metadata (pandas', say) can describe hidden
        // columns and rows: a policy view shows none of it.
        let schema = Arc::new(without_metadata(plan.schema().as_arrow()));
        let raw_columns = match &plan {
            LogicalPlan::Projection(p) => p
                .expr
                .iter()
                .filter_map(|e| match e {
                    Expr::Alias(a) => match a.expr.as_ref() {
                        Expr::Column(c) if c.name == a.name => Some(a.name.clone()),
                        _ => None,
                    },
                    Expr::Column(c) => Some(c.name.clone()),
                    _ => None,
                })
                .collect(),
            _ => HashSet::new(),
        };
        Self {
            plan,
            schema,
            raw_columns,
        }
    }

    /// Whether `expr` can be evaluated on any row without failing and only
    /// reads unmasked columns.
    fn cannot_fail(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Column(c) => self.raw_columns.contains(&c.name),
            Expr::Literal(..) => true,
            Expr::BinaryExpr(b) => {
                matches!(
                    b.op,
                    Operator::Eq
                        | Operator::NotEq
                        | Operator::Lt
                        | Operator::LtEq
                        | Operator::Gt
                        | Operator::GtEq
                        | Operator::And
                        | Operator::Or
                        | Operator::IsDistinctFrom
                        | Operator::IsNotDistinctFrom
                ) && self.cannot_fail(&b.left)
                    && self.cannot_fail(&b.right)
            }
            Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => self.cannot_fail(e),
            Expr::Between(b) => {
                self.cannot_fail(&b.expr) && self.cannot_fail(&b.low) && self.cannot_fail(&b.high)
            }
            Expr::InList(l) => {
                self.cannot_fail(&l.expr) && l.list.iter().all(|e| self.cannot_fail(e))
            }
            // Casting a constant is folded at planning; casting a column may fail.
            Expr::Cast(c) => matches!(c.expr.as_ref(), Expr::Literal(..)),
            Expr::TryCast(c) => matches!(c.expr.as_ref(), Expr::Literal(..)),
            _ => false,
        }
    }
}

#[async_trait]
impl TableProvider for SecureView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.cannot_fail(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Only filters that cannot fail arrive here; they apply on top of
        // the view (after its row filter), as do projection and limit.
        let mut builder = LogicalPlanBuilder::from(self.plan.clone());
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            builder = builder.filter(predicate)?;
        }
        if let Some(indices) = projection {
            let columns: Vec<Expr> = indices
                .iter()
                .map(|&i| {
                    Expr::Column(datafusion::common::Column::from_name(
                        self.schema.field(i).name(),
                    ))
                })
                .collect();
            builder = builder.project(columns)?;
        }
        if let Some(limit) = limit {
            builder = builder.limit(0, Some(limit))?;
        }
        let plan = state.create_physical_plan(&builder.build()?).await?;
        Ok(Arc::new(PolicyBarrierExec::new(plan)))
    }
}

/// Marks the top of a policy view in the physical plan. It passes batches
/// through unchanged, and — by not taking part in filter pushdown — stops
/// the physical optimizer from moving the client's filters into the view.
#[derive(Debug)]
pub(crate) struct PolicyBarrierExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    schema: SchemaRef,
}

impl PolicyBarrierExec {
    /// A barrier above `input`; its schema is the input's without metadata.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let schema = Arc::new(without_metadata(&input.schema()));
        let inner = input.properties();
        let properties = Arc::new(PlanProperties::new(
            inner
                .equivalence_properties()
                .clone()
                .with_new_schema(Arc::clone(&schema))
                .unwrap_or_else(|_| EquivalenceProperties::new(Arc::clone(&schema))),
            inner.output_partitioning().clone(),
            inner.emission_type,
            inner.boundedness,
        ));
        Self {
            input,
            properties,
            schema,
        }
    }
}

/// An error evaluating a policy view (a mask or row filter that failed on
/// some row). Its text can hold the raw value that failed, which the
/// caller may not see: the server logs it and answers with a reference.
#[derive(Debug)]
pub struct PolicyFailure(pub String);

impl std::fmt::Display for PolicyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an access policy failed: {}", self.0)
    }
}

impl std::error::Error for PolicyFailure {}

/// Evaluation errors of the view's expressions as [`PolicyFailure`]s;
/// other errors (I/O, limits, cancellation) as they are.
fn hide_values(e: datafusion::error::DataFusionError) -> datafusion::error::DataFusionError {
    use datafusion::error::DataFusionError as E;
    let evaluation = match e.find_root() {
        E::ArrowError(..) | E::Execution(_) => true,
        E::ParquetError(p) => matches!(
            p.as_ref(),
            datafusion::parquet::errors::ParquetError::External(inner)
                if inner.is::<arrow::error::ArrowError>()
        ),
        _ => false,
    };
    if evaluation {
        E::External(Box::new(PolicyFailure(e.strip_backtrace())))
    } else {
        e
    }
}

/// `batch` under `schema` (its own without the file's metadata); the
/// columns are the same, only the schema differs.
fn under_schema(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        batch.columns().to_vec(),
        &options,
    )?)
}

/// `schema` without its metadata (field metadata stays: a raw column's own).
fn without_metadata(schema: &arrow::datatypes::Schema) -> arrow::datatypes::Schema {
    arrow::datatypes::Schema::new(schema.fields().clone())
}

impl DisplayAs for PolicyBarrierExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PolicyBarrierExec")
    }
}

impl ExecutionPlan for PolicyBarrierExec {
    one_child_node!("PolicyBarrierExec", |_: &Self, child| Self::new(child));

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = Arc::clone(&self.schema);
        let batches = self.input.execute(partition, context)?.map(move |batch| {
            batch
                .map_err(hide_values)
                .and_then(|b| under_schema(b, &schema))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        )))
    }
}
