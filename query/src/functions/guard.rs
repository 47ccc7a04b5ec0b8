//! A scalar function wrapped so that it refuses, before running, a call
//! whose output would exceed the limits — and behaves exactly like the
//! function otherwise (every trait method is forwarded).

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{ExprSchema, Result, ScalarValue, plan_err};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping,
};

use super::FunctionLimits;
use super::estimate::{Kind, MAX_PAIRS_PER_CALL, fixed_width, output_bytes};

/// What a guard checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The output of each call, estimated from its arguments.
    Output(Kind),
    /// The result type of a cast: a fixed-size type wider than the limit
    /// would allocate that much for every row, even of nulls.
    CastTarget,
}

/// `inner`, guarded.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Guarded {
    inner: Arc<ScalarUDF>,
    check: Check,
    limits: FunctionLimits,
}

impl Guarded {
    /// Wraps `inner`.
    pub fn new(inner: Arc<ScalarUDF>, check: Check, limits: FunctionLimits) -> Self {
        Self {
            inner,
            check,
            limits,
        }
    }

    fn check_output(&self, args: &[ColumnarValue], rows: usize) -> Result<()> {
        let Check::Output(kind) = self.check else {
            return Ok(());
        };
        let bytes = output_bytes(kind, args, rows)?;
        if kind == Kind::Pairwise {
            // Work, not memory: bounded per row (in the estimate) and per call.
            if bytes > MAX_PAIRS_PER_CALL {
                return Err(datafusion::error::DataFusionError::ResourcesExhausted(
                    format!(
                        "{}() would compare about {bytes} character pairs for {rows} row(s); \
                         the limit is {MAX_PAIRS_PER_CALL} per batch",
                        self.inner.name(),
                    ),
                ));
            }
            return Ok(());
        }
        if bytes > self.limits.max_call_bytes {
            return Err(datafusion::error::DataFusionError::ResourcesExhausted(
                format!(
                    "{}() would produce about {bytes} bytes for {rows} row(s); the limit is {} \
                 (--max-function-output-mb)",
                    self.inner.name(),
                    self.limits.max_call_bytes
                ),
            ));
        }
        if !super::spend(bytes) {
            return Err(datafusion::error::DataFusionError::ResourcesExhausted(
                format!(
                    "the expressions would produce more than {} bytes for one batch \
                 (--max-batch-mb); {}() alone about {bytes}",
                    self.limits.max_batch_bytes,
                    self.inner.name()
                ),
            ));
        }
        Ok(())
    }

    fn check_type(&self, data_type: &DataType) -> Result<()> {
        let width = fixed_width(data_type);
        if width > self.limits.max_value_bytes {
            return plan_err!(
                "{}() to {data_type} would take {width} bytes per row; the limit is {} \
                 (--max-batch-mb divided by --batch-size)",
                self.inner.name(),
                self.limits.max_value_bytes
            );
        }
        Ok(())
    }
}

#[warn(clippy::missing_trait_methods)] // Delegates: it must forward every method.
impl ScalarUDFImpl for Guarded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.inner().display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        self.inner
            .inner()
            .with_updated_config(config)
            .map(|updated| {
                ScalarUDF::new_from_impl(Guarded::new(Arc::new(updated), self.check, self.limits))
            })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.inner.inner().return_field_from_args(args)?;
        if self.check == Check::CastTarget {
            self.check_type(field.data_type())?;
        }
        Ok(field)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check_output(&args.args, args.number_rows)?;
        self.inner.inner().invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match self.inner.inner().simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                if self.check == Check::CastTarget {
                    match &expr {
                        Expr::Cast(c) => self.check_type(c.field.data_type())?,
                        Expr::TryCast(c) => self.check_type(c.field.data_type())?,
                        _ => {}
                    }
                }
                // The simplified call is built from DataFusion's own
                // instance (`concat` of merged literals): guarded again.
                let expr = super::guard_expr(expr, self.limits)?.data;
                Ok(ExprSimplifyResult::Simplified(expr))
            }
            original => Ok(original),
        }
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.inner().preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.inner().evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.inner().propagate_constraints(interval, inputs)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.inner().output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.inner().placement(args)
    }
}
