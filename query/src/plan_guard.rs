//! Bounds checked in every physical plan (a rule appended to DataFusion's
//! physical optimizer): literals are small (each may be copied into every
//! row of a batch); a batch an operator that evaluates expressions
//! produces larger than the limit is refused as it comes out (a chain of
//! `s || s` projections doubles a value at each step), and the amplifying
//! functions it calls for one input batch share that limit as a budget,
//! checked before each call allocates; `UNNEST` is refused an input batch
//! whose expansion would exceed the limit, before it expands it; what
//! unbounded window operators buffer — DataFusion does not account it — is
//! counted against the query's memory pool.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, Statistics, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::windows::WindowAggExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, replace_children_if_necessary,
};
use futures::{Stream, StreamExt};

use crate::functions::FunctionLimits;
use crate::memory::size::{array_bytes, batch_bytes, logical_bytes};
use crate::one_child::one_child_node;

/// The rule.
#[derive(Debug)]
pub struct PlanGuard {
    limits: FunctionLimits,
}

impl PlanGuard {
    /// A rule enforcing `limits`.
    pub fn new(limits: FunctionLimits) -> Self {
        Self { limits }
    }
}

impl PhysicalOptimizerRule for PlanGuard {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let max_literal = self.limits.max_literal_bytes;
        plan.apply(|node| {
            if node.is::<GuardExec>() {
                return Ok(TreeNodeRecursion::Continue);
            }
            node.apply_expressions(&mut |root| {
                root.apply(|e| {
                    if let Some(call) = e.downcast_ref::<ScalarFunctionExpr>()
                        && crate::functions::unguarded(call.fun()).is_some()
                    {
                        // Every way into a plan guards these; one that did
                        // not is refused rather than run unbounded.
                        return internal_err!("{}() reached a plan unguarded", call.name());
                    }
                    if let Some(literal) = e.downcast_ref::<Literal>() {
                        let size = literal.value().size() as u64;
                        if size > max_literal {
                            return Err(DataFusionError::ResourcesExhausted(format!(
                                "a constant of {size} bytes; the limit is {max_literal} \
                                 (--max-batch-mb divided by --batch-size: it may be copied \
                                 into every row of a batch)"
                            )));
                        }
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })?;
        guard(plan, &self.limits)
    }

    fn name(&self) -> &str {
        "laker_plan_guard"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with every operator that evaluates expressions under a guard
/// of the batches it produces (and its inputs refilling the budget of its
/// functions), `UNNEST`'s input checked, and unbounded window operators'
/// input accounted. A subtree already guarded (a policy view's inner plan)
/// is left as is.
fn guard(node: Arc<dyn ExecutionPlan>, limits: &FunctionLimits) -> Result<Arc<dyn ExecutionPlan>> {
    if node.is::<GuardExec>() {
        return Ok(node);
    }
    let max = limits.max_batch_bytes;
    // Only expressions that compute something: columns and constants are
    // passed through.
    let mut evaluates = false;
    node.apply_expressions(&mut |e| {
        if e.is::<Column>() || e.is::<Literal>() {
            return Ok(TreeNodeRecursion::Continue);
        }
        evaluates = true;
        Ok(TreeNodeRecursion::Stop)
    })?;
    let input_guard = if node.is::<WindowAggExec>() {
        Some(Guard::Accounted)
    } else if let Some(unnest) = node.downcast_ref::<UnnestExec>() {
        let lists = unnest
            .list_column_indices()
            .iter()
            .map(|l| (l.index_in_input_schema, l.depth))
            .collect();
        Some(Guard::Unnest { max, lists })
    } else if evaluates && !node.children().is_empty() {
        Some(Guard::Refill(max))
    } else {
        None
    };
    let children = node
        .children()
        .into_iter()
        .map(|child| {
            let child = guard(Arc::clone(child), limits)?;
            Ok(match &input_guard {
                Some(g) => Arc::new(GuardExec::new(child, g.clone())) as Arc<dyn ExecutionPlan>,
                None => child,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let node = if children.is_empty() {
        node
    } else {
        replace_children_if_necessary(node, children)?
    };
    // A projection's computed columns are checked as they come out (a
    // chain of `s || s` doubles at each step); every other operator's
    // functions draw on the budget only: their output is no larger than
    // what they read, or accounted by their own memory reservations.
    let computed = match node.downcast_ref::<ProjectionExec>() {
        Some(projection) => projection
            .expr()
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.expr.is::<Column>())
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };
    Ok(if evaluates {
        Arc::new(GuardExec::new(node, Guard::MaxBatch { max, computed }))
    } else {
        node
    })
}

/// What a [`GuardExec`] checks of the batches passing through it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Guard {
    /// While the operator runs, its amplifying functions draw on a budget
    /// of `max` bytes; the columns it computes may not take more.
    MaxBatch { max: u64, computed: Vec<usize> },
    /// Each batch into an operator that evaluates expressions gives its
    /// functions a full budget again.
    Refill(u64),
    /// Every batch is counted against the query's memory pool until the
    /// stream ends (its consumer may keep them all).
    Accounted,
    /// The input of `UNNEST`: what a batch expands to (its rows repeated
    /// once per element of these list columns, at these depths) stays
    /// within `max` bytes.
    Unnest {
        max: u64,
        lists: Vec<(usize, usize)>,
    },
}

/// Passes batches through unchanged, checking each.
#[derive(Debug)]
struct GuardExec {
    input: Arc<dyn ExecutionPlan>,
    guard: Guard,
    properties: Arc<PlanProperties>,
}

impl GuardExec {
    fn new(input: Arc<dyn ExecutionPlan>, guard: Guard) -> Self {
        debug_assert!(!matches!(guard, Guard::Unnest { ref lists, .. } if lists.is_empty()));
        let properties = Arc::clone(input.properties());
        Self {
            input,
            guard,
            properties,
        }
    }
}

impl DisplayAs for GuardExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.guard {
            Guard::MaxBatch { max, .. } => write!(f, "GuardExec: max_batch_bytes={max}"),
            Guard::Refill(_) => write!(f, "GuardExec: refill"),
            Guard::Accounted => write!(f, "GuardExec: accounted"),
            Guard::Unnest { max, .. } => write!(f, "GuardExec: unnest_max_bytes={max}"),
        }
    }
}

impl ExecutionPlan for GuardExec {
    one_child_node!("GuardExec", |node: &Self, child| Self::new(
        child,
        node.guard.clone()
    ));

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        // The batches pass through unchanged.
        match input_stats.first() {
            Some(stats) => Ok(Arc::clone(stats)),
            None => Ok(Arc::new(Statistics::new_unknown(&self.schema()))),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let reservation = match self.guard {
            Guard::Accounted => Some(
                MemoryConsumer::new(format!("window input[{partition}]"))
                    .register(context.memory_pool()),
            ),
            _ => None,
        };
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(GuardStream {
            schema: input.schema(),
            input,
            guard: self.guard.clone(),
            reservation,
        }))
    }
}

struct GuardStream {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    guard: Guard,
    reservation: Option<MemoryReservation>,
}

impl GuardStream {
    fn check(&mut self, batch: &RecordBatch) -> Result<()> {
        match &self.guard {
            Guard::MaxBatch { max, computed } => {
                let size = computed
                    .iter()
                    .map(|i| array_bytes(batch.column(*i).as_ref()))
                    .fold(0, u64::saturating_add);
                if size > *max {
                    return Err(DataFusionError::ResourcesExhausted(format!(
                        "an expression produced a batch of {size} bytes; the limit is {max} \
                         (--max-batch-mb)"
                    )));
                }
                Ok(())
            }
            Guard::Refill(_) => Ok(()),
            Guard::Accounted => match &mut self.reservation {
                Some(r) => r.try_grow(batch_bytes(batch) as usize),
                None => Ok(()),
            },
            Guard::Unnest { max, lists } => {
                let size = unnested_bytes(batch, lists)?;
                if size > *max {
                    return Err(DataFusionError::ResourcesExhausted(format!(
                        "UNNEST would expand {} row(s) to about {size} bytes; the limit is {max} \
                         (--max-batch-mb)",
                        batch.num_rows()
                    )));
                }
                Ok(())
            }
        }
    }
}

/// About the bytes `UNNEST` makes of `batch`: each row is repeated once per
/// element of its longest unnested list (at least once), each copy holding
/// the row's other columns and a slot of each list; every element appears
/// once.
fn unnested_bytes(batch: &RecordBatch, lists: &[(usize, usize)]) -> Result<u64> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(0);
    }
    let mut out_rows = vec![1u64; rows];
    let mut elements = 0u64;
    for &(index, depth) in lists {
        let column = batch.column(index);
        let (counts, leaves) = leaf_counts(column.as_ref(), depth)?;
        for (row, count) in out_rows.iter_mut().zip(counts) {
            *row = (*row).max(count);
        }
        elements = elements.saturating_add(logical_bytes(leaves.as_ref()));
    }
    let unnested: Vec<usize> = lists.iter().map(|(i, _)| *i).collect();
    let mut widths = vec![8 * lists.len() as u64; rows];
    for (_, column) in batch
        .columns()
        .iter()
        .enumerate()
        .filter(|(i, _)| !unnested.contains(i))
    {
        for (width, w) in widths.iter_mut().zip(row_widths(column.as_ref())) {
            *width = width.saturating_add(w);
        }
    }
    Ok(out_rows
        .iter()
        .zip(&widths)
        .map(|(n, w)| n.saturating_mul(*w))
        .fold(elements, u64::saturating_add))
}

/// The bytes each row of `array` takes.
fn row_widths(array: &dyn Array) -> Vec<u64> {
    fn lengths<O: arrow::array::OffsetSizeTrait>(offsets: &[O], extra: u64) -> Vec<u64> {
        offsets
            .windows(2)
            .map(|w| (w[1].as_usize().saturating_sub(w[0].as_usize())) as u64 + extra)
            .collect()
    }
    fn views(views: &[u128]) -> Vec<u64> {
        views
            .iter()
            .map(|v| {
                let len = u64::from(*v as u32);
                16 + if len > 12 { len } else { 0 }
            })
            .collect()
    }
    match array.data_type() {
        DataType::Utf8 => lengths(array.as_string::<i32>().value_offsets(), 4),
        DataType::Binary => lengths(array.as_binary::<i32>().value_offsets(), 4),
        DataType::LargeUtf8 => lengths(array.as_string::<i64>().value_offsets(), 8),
        DataType::LargeBinary => lengths(array.as_binary::<i64>().value_offsets(), 8),
        DataType::Utf8View => views(array.as_string_view().views()),
        DataType::BinaryView => views(array.as_binary_view().views()),
        t => match t.primitive_width() {
            Some(width) => vec![width as u64; array.len()],
            None => (0..array.len())
                .map(|r| logical_bytes(&array.slice(r, 1)))
                .collect(),
        },
    }
}

/// For each row of `array` (a list column unnested `depth` levels deep),
/// how many elements it expands to, and the leaf values.
fn leaf_counts(array: &dyn Array, depth: usize) -> Result<(Vec<u64>, ArrayRef)> {
    let mut ranges: Vec<(usize, usize)> = (0..array.len()).map(|r| (r, r + 1)).collect();
    let mut level = array.slice(0, array.len());
    for _ in 0..depth.max(1) {
        let (offsets, values): (Vec<usize>, ArrayRef) = match level.data_type() {
            DataType::List(_) => {
                let list = level.as_list::<i32>();
                let o = list.value_offsets().iter().map(|v| *v as usize).collect();
                (o, Arc::clone(list.values()))
            }
            DataType::LargeList(_) => {
                let list = level.as_list::<i64>();
                let o = list.value_offsets().iter().map(|v| *v as usize).collect();
                (o, Arc::clone(list.values()))
            }
            DataType::FixedSizeList(_, size) => {
                let list = level.as_fixed_size_list();
                let size = (*size).max(0) as usize;
                let o = (0..=list.len()).map(|i| i * size).collect();
                (o, Arc::clone(list.values()))
            }
            // Not a list at this depth: nothing more to expand.
            _ => break,
        };
        for range in &mut ranges {
            let start = offsets.get(range.0).copied().unwrap_or(0);
            let end = offsets.get(range.1).copied().unwrap_or(start);
            *range = (start, end.max(start));
        }
        level = values;
    }
    Ok((ranges.iter().map(|(s, e)| (e - s) as u64).collect(), level))
}

impl Stream for GuardStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = match self.guard {
            // The operator evaluates its expressions within this poll, on
            // this thread: its functions draw on one budget, which each
            // input batch (below) refills.
            Guard::MaxBatch { max, .. } => {
                let input = &mut self.input;
                crate::functions::with_budget(max, || input.poll_next_unpin(cx))
            }
            _ => self.input.poll_next_unpin(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(batch))) => {
                if let Guard::Refill(max) = self.guard {
                    crate::functions::refill_budget(max);
                }
                let checked = self.check(&batch);
                Poll::Ready(Some(checked.map(|()| batch)))
            }
            other => other,
        }
    }
}

impl RecordBatchStream for GuardStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
