//! The `filter` of a download spec: a SQL boolean expression over the
//! dataset's columns. Parsed with DataFusion's SQL parser, checked for
//! constructs that do not belong in a row filter, and planned against the
//! dataset's schema.

use std::ops::ControlFlow;

use arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNode;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::{self, visit_expressions};
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::{QueryError, Result};

/// Compiles `filter` into a boolean [`Expr`] over `schema`.
pub fn compile_filter(state: &SessionState, filter: &str, schema: &DFSchema) -> Result<Expr> {
    compile_boolean(state, "filter", filter, schema)
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
    let dialect = state.config_options().sql_parser.dialect;
    let sql = crate::principal_fns::normalize_sql(sql);
    let parsed = state
        .sql_to_expr_with_alias(&sql, &dialect)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?;
    if parsed.alias.is_some() {
        return Err(QueryError::spec(field, "an alias (AS …) is not allowed"));
    }
    check_ast(field, &parsed.expr)?;
    let expr = state
        .create_logical_expr_from_sql_expr(parsed, schema)
        .map_err(|e| QueryError::spec(field, user_message(&e)))?;
    check_logical(field, &expr)?;
    Ok(expr)
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
