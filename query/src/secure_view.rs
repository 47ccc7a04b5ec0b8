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

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, Operator, TableProviderFilterPushDown,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

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
        let schema = Arc::new(plan.schema().as_arrow().clone());
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
}

impl PolicyBarrierExec {
    /// A barrier above `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let properties = Arc::clone(input.properties());
        Self { input, properties }
    }
}

impl DisplayAs for PolicyBarrierExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PolicyBarrierExec")
    }
}

impl ExecutionPlan for PolicyBarrierExec {
    fn name(&self) -> &str {
        "PolicyBarrierExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(child), true) => Ok(Arc::new(Self::new(child))),
            _ => internal_err!("PolicyBarrierExec has exactly one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
