//! The `filter` of a download spec: a SQL boolean expression over the
//! dataset's columns. Parsed with DataFusion's SQL parser, checked for
//! constructs that do not belong in a row filter, and planned against the
//! dataset's schema.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNode;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::sqlparser::ast::{self, visit_expressions};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::{QueryError, Result};

/// Compiles `filter` into a boolean [`Expr`] over `schema`.
pub fn compile_filter(state: &SessionState, filter: &str, schema: &DFSchema) -> Result<Expr> {
    compile_boolean(state, "filter", filter, schema)
}

/// `expr` (a compiled `field`) simplified now: time functions (`now()`)
/// take the current time, constants fold. Filters pushed into a scan are
/// not simplified by the optimizer, and `now()` cannot run unsimplified.
pub fn simplify_now(
    state: &SessionState,
    field: &str,
    expr: Expr,
    schema: &DFSchema,
) -> Result<Expr> {
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_current_time()
        .with_config_options(Arc::clone(state.config_options()))
        .build();
    ExprSimplifier::new(context)
        .simplify(expr)
        .map_err(|e| QueryError::spec(field, user_message(&e)))
}

/// Compiles the boolean SQL expression `sql` over `schema`; errors name `field`.
pub(crate) fn compile_boolean(
    state: &SessionState,
    field: &str,
    sql: &str,
    schema: &DFSchema,
) -> Result<Expr> {
    let expr = compile_expr(state, field, sql, schema)?;
    let data_type = expr
        .get_type(schema)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?;
    if !matches!(data_type, DataType::Boolean | DataType::Null) {
        return Err(QueryError::spec(
            field,
            format!("must be a boolean expression, but its type is {data_type}"),
        ));
    }
    Ok(expr)
}

/// Compiles one scalar SQL expression over the columns of `schema`:
/// no subqueries, aggregates, windows, placeholders or aliases.
pub(crate) fn compile_expr(
    state: &SessionState,
    field: &str,
    sql: &str,
    schema: &DFSchema,
) -> Result<Expr> {
    let parsed = parse_expr(state, field, sql)?;
    if parsed.alias.is_some() {
        return Err(QueryError::spec(field, "an alias (AS …) is not allowed"));
    }
    check_ast(field, &parsed.expr)?;
    let expr = state
        .create_logical_expr_from_sql_expr(parsed, schema)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?;
    // Calls the SQL planner built from DataFusion's own instances are
    // guarded before anything folds them.
    let limits = crate::functions::limits_of(state.config());
    let expr = crate::functions::guard_expr(expr, limits)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?
        .data;
    check_logical(field, &expr)?;
    Ok(expr)
}

/// Parses one SQL expression within the session's [`ExprLimits`]: the
/// text is bounded on its tokens first, the tree once parsed.
pub(crate) fn parse_expr(
    state: &SessionState,
    field: &str,
    sql: &str,
) -> Result<ast::ExprWithAlias> {
    let dialect = state.config_options().sql_parser.dialect;
    let sql = crate::principal_fns::normalize_sql(sql);
    let limits = crate::limits::of(state.config());
    let parser_dialect = dialect_from_str(dialect)
        .ok_or_else(|| QueryError::spec(field, format!("unsupported SQL dialect {dialect}")))?;
    limits
        .check_tokens("the expression", &sql, parser_dialect.as_ref())
        .map_err(|e| QueryError::spec(field, e))?;
    let parsed = state
        .sql_to_expr_with_alias(&sql, &dialect)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?;
    limits
        .check_expr("the expression", &parsed.expr)
        .map_err(|e| QueryError::spec(field, e))?;
    Ok(parsed)
}

/// Refuses subqueries and window/aggregate syntax before planning.
fn check_ast(field: &str, expr: &ast::Expr) -> Result<()> {
    let found = visit_expressions(expr, |e| match e {
        ast::Expr::Subquery(_) | ast::Expr::Exists { .. } | ast::Expr::InSubquery { .. } => {
            ControlFlow::Break("subqueries are not allowed")
        }
        ast::Expr::Function(f) if f.over.is_some() => {
            ControlFlow::Break("window functions are not allowed")
        }
        ast::Expr::Function(f) if f.filter.is_some() || !f.within_group.is_empty() => {
            ControlFlow::Break("aggregate functions are not allowed")
        }
        _ => ControlFlow::Continue(()),
    });
    match found {
        ControlFlow::Break(why) => Err(QueryError::spec(field, why)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Refuses what only shows up once functions are resolved.
fn check_logical(field: &str, expr: &Expr) -> Result<()> {
    let mut why = None;
    let _ = expr.exists(|e| {
        why = match e {
            Expr::AggregateFunction(f) => Some(format!(
                "aggregate function '{}' is not allowed",
                f.func.name()
            )),
            Expr::WindowFunction(_) => Some("window functions are not allowed".into()),
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => {
                Some("subqueries are not allowed".into())
            }
            Expr::Placeholder(_) => Some("placeholders ($1, ?) are not allowed".into()),
            Expr::OuterReferenceColumn(..) => Some("outer references are not allowed".into()),
            _ => None,
        };
        Ok(why.is_some())
    });
    match why {
        Some(why) => Err(QueryError::spec(field, why)),
        None => Ok(()),
    }
}

/// A DataFusion error as a message for the user: no backtrace, no
/// "Error during planning:" noise.
pub(crate) fn user_message(e: &DataFusionError) -> String {
    let root = e.find_root();
    if let DataFusionError::SQL(parser, _) = root {
        return match parser.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
            other => other.to_string(),
        };
    }
    let text = root.strip_backtrace();
    for prefix in ["Error during planning: ", "Schema error: ", "SQL error: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    text
}
