//! What SQL functions may allocate. A few of DataFusion's functions make
//! their output far larger than their input (`repeat('x', 500000000)` is
//! 25 bytes of SQL and 500 MB of string, built even while planning, when
//! constants are folded). Each of those is wrapped ([`guard`]) so that a
//! call is refused, naming the limit, before it allocates more than
//! [`FunctionLimits::max_call_bytes`]; casts to fixed-size types wider than
//! [`FunctionLimits::max_value_bytes`] per row are refused. Functions
//! taking lambdas (which copy captured columns once per list element) are
//! not offered. Literals and batches are bounded in the plan itself
//! ([`crate::plan_guard`]).

pub mod estimate;
pub mod guard;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionConfig;

use estimate::Kind;
use guard::{Check, Guarded};

/// Bounds on what expressions may allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionLimits {
    /// Most bytes one call of an amplifying function may produce for a
    /// batch (`--max-function-output-mb`).
    pub max_call_bytes: u64,
    /// Most bytes a fixed-size type may take per value: a batch of such
    /// values stays within `max_batch_bytes` (see [`Self::for_batch_size`]).
    pub max_value_bytes: u64,
    /// Largest literal in a plan (broadcast to every row of a batch): as
    /// `max_value_bytes`.
    pub max_literal_bytes: u64,
    /// Largest batch an operator evaluating expressions may produce
    /// (`--max-batch-mb`).
    pub max_batch_bytes: u64,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        Self {
            max_call_bytes: 64 << 20,
            max_value_bytes: 0,
            max_literal_bytes: 0,
            max_batch_bytes: 256 << 20,
        }
        .for_batch_size(8192)
    }
}

impl FunctionLimits {
    /// These limits for batches of `rows` rows: a value (a literal, a
    /// fixed-size cell) copied into every row of a batch keeps the batch
    /// within `max_batch_bytes` (32 KiB by default).
    pub fn for_batch_size(mut self, rows: usize) -> Self {
        let per_row = self.max_batch_bytes / rows.max(1) as u64;
        self.max_value_bytes = per_row;
        self.max_literal_bytes = per_row;
        self
    }
}

thread_local! {
    /// Bytes the amplifying functions of the operator evaluating a batch
    /// on this thread may still produce (see [`with_budget`]).
    static BUDGET: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (an operator evaluating its expressions) with `bytes` for all
/// the amplifying calls it makes on this thread (each input batch it takes
/// refills it: [`refill_budget`]); the thread's budget is restored after,
/// also when `f` panics.
pub fn with_budget<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BUDGET.with(|b| b.replace(Some(bytes))));
    f()
}

/// Gives the operator running on this thread `bytes` again (it took an
/// input batch); nothing outside [`with_budget`].
pub(crate) fn refill_budget(bytes: u64) {
    BUDGET.with(|b| {
        if b.get().is_some() {
            b.set(Some(bytes));
        }
    });
}

/// Takes `bytes` from the budget of the batch being evaluated, if any;
/// `false` when it has not that much left.
pub(crate) fn spend(bytes: u64) -> bool {
    BUDGET.with(|b| match b.get() {
        None => true,
        Some(left) if bytes <= left => {
            b.set(Some(left - bytes));
            true
        }
        Some(_) => false,
    })
}

/// The functions that need a check, by registered name.
const GUARDED: &[(&str, Check)] = &[
    ("repeat", Check::Output(Kind::Repeat)),
    ("lpad", Check::Output(Kind::Pad)),
    ("rpad", Check::Output(Kind::Pad)),
    ("replace", Check::Output(Kind::Replace)),
    ("regexp_replace", Check::Output(Kind::RegexpReplace)),
    ("regexp_match", Check::Output(Kind::RegexpMatch)),
    ("range", Check::Output(Kind::Range { inclusive: false })),
    (
        "generate_series",
        Check::Output(Kind::Range { inclusive: true }),
    ),
    ("array_repeat", Check::Output(Kind::ArrayRepeat)),
    ("array_resize", Check::Output(Kind::ArrayResize)),
    ("array_to_string", Check::Output(Kind::ArrayToString)),
    ("array_replace", Check::Output(Kind::ArrayReplace)),
    ("array_replace_n", Check::Output(Kind::ArrayReplace)),
    ("array_replace_all", Check::Output(Kind::ArrayReplace)),
    // Functions that copy every argument: linear, but over many arguments.
    ("concat", Check::Output(Kind::Copy)),
    ("concat_ws", Check::Output(Kind::Copy)),
    ("make_array", Check::Output(Kind::Copy)),
    ("array_concat", Check::Output(Kind::Copy)),
    ("array_append", Check::Output(Kind::Copy)),
    ("array_prepend", Check::Output(Kind::Copy)),
    ("struct", Check::Output(Kind::Copy)),
    ("named_struct", Check::Output(Kind::Copy)),
    ("map", Check::Output(Kind::Copy)),
    ("levenshtein", Check::Output(Kind::Pairwise)),
    // Output wider than the input: a list of lists of equal lengths, a
    // position (8 bytes) per element, an element per delimiter.
    ("arrays_zip", Check::Output(Kind::Zip)),
    ("array_positions", Check::Output(Kind::Positions)),
    ("string_to_array", Check::Output(Kind::Split)),
    ("arrow_cast", Check::CastTarget),
    ("arrow_try_cast", Check::CastTarget),
    ("cast_to_type", Check::CastTarget),
    ("try_cast_to_type", Check::CastTarget),
];

/// The check a function needs, by its registered name.
pub(crate) fn check_of(name: &str) -> Option<Check> {
    GUARDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, check)| *check)
}

/// Whether `function` is one that needs a check and has none.
pub(crate) fn unguarded(function: &ScalarUDF) -> Option<Check> {
    check_of(function.name()).filter(|_| function.inner().downcast_ref::<Guarded>().is_none())
}

/// Wraps the amplifying functions of `builder` (built with the default
/// features), drops the higher-order ones, and adds the analyzer rule
/// that guards the calls DataFusion's SQL planner builds from its own
/// instances (`[a, b]`, `list || list`, `MAP {…}`, `STRUCT(…)`).
pub fn guard(builder: &mut SessionStateBuilder, limits: FunctionLimits) {
    if let Some(functions) = builder.scalar_functions() {
        for function in functions.iter_mut() {
            if let Some(check) = check_of(function.name()) {
                let guarded = Guarded::new(Arc::clone(function), check, limits);
                *function = Arc::new(ScalarUDF::new_from_impl(guarded));
            }
        }
    }
    // array_transform, array_filter, …: each copies the columns its lambda
    // captures once per list element.
    *builder.higher_order_functions() = Some(Vec::new());
    builder
        .analyzer_rules()
        .get_or_insert_with(Vec::new)
        .push(Arc::new(GuardCalls { limits }));
}

/// `config` carrying `limits`, for expressions compiled outside a plan.
pub fn with_function_limits(config: SessionConfig, limits: FunctionLimits) -> SessionConfig {
    config.with_extension(Arc::new(limits))
}

/// The limits a session was built with.
pub fn limits_of(config: &SessionConfig) -> FunctionLimits {
    config
        .get_extension::<FunctionLimits>()
        .map_or_else(FunctionLimits::default, |l| *l)
}

/// `expr` with every unguarded call of an amplifying function guarded;
/// a cast to a fixed-size type wider than [`FunctionLimits::max_value_bytes`]
/// (`CAST(x AS BIGINT[1000000])`) is refused.
pub fn guard_expr(expr: Expr, limits: FunctionLimits) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| match e {
        Expr::Cast(ref c) => {
            check_cast(c.field.data_type(), limits)?;
            Ok(Transformed::no(e))
        }
        Expr::TryCast(ref c) => {
            check_cast(c.field.data_type(), limits)?;
            Ok(Transformed::no(e))
        }
        Expr::ScalarFunction(call) => match unguarded(&call.func) {
            Some(check) => {
                let guarded = Guarded::new(call.func, check, limits);
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                    func: Arc::new(ScalarUDF::new_from_impl(guarded)),
                    args: call.args,
                })))
            }
            None => Ok(Transformed::no(Expr::ScalarFunction(call))),
        },
        other => Ok(Transformed::no(other)),
    })
}

/// Refuses a cast to a fixed-size type wider than the limit: it would
/// allocate that much for every row, even of nulls.
fn check_cast(data_type: &arrow::datatypes::DataType, limits: FunctionLimits) -> Result<()> {
    let width = estimate::fixed_width(data_type);
    if width > limits.max_value_bytes {
        return datafusion::common::plan_err!(
            "a cast to {data_type} would take {width} bytes per row; the limit is {} \
             (--max-batch-mb divided by --batch-size)",
            limits.max_value_bytes
        );
    }
    Ok(())
}

/// Guards, in every plan before it is optimized (and constants folded),
/// the calls built from DataFusion's own function instances.
#[derive(Debug)]
struct GuardCalls {
    limits: FunctionLimits,
}

impl AnalyzerRule for GuardCalls {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| guard_expr(e, self.limits))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "laker_guard_calls"
    }
}

/// The names of the functions [`guard`] wraps (for tests and docs).
pub fn guarded_names() -> Vec<&'static str> {
    GUARDED.iter().map(|(name, _)| *name).collect()
}
