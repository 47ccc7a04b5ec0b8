//! The SQL sandbox: only queries run. DDL, DML, COPY, SET and every other
//! statement are refused before planning; the plan is checked again; the
//! session offers no file, URL or dynamic catalog to read from.

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use tonic::Status;

use crate::error::{Error, Result, datafusion_status};

/// Longest accepted SQL text.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Parses and plans `sql` as a read-only query in `ctx`.
pub async fn plan_query(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Error::InvalidArgument(format!(
            "SQL text is longer than {MAX_SQL_BYTES} bytes"
        )));
    }
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| Error::Status(sql_status(&e)))?;
    let is_query = matches!(&statement, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Query(_)));
    if !is_query {
        return Err(Error::Status(Status::permission_denied(
            "only queries (SELECT, WITH … SELECT, VALUES) are allowed: this server is read-only",
        )));
    }
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| Error::Status(sql_status(&e)))?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| Error::Status(Status::permission_denied(e.strip_backtrace())))?;
    Ok(plan)
}

/// The status of a planning error: syntax errors and unknown tables are the
/// caller's, with the parser's message and position.
pub fn sql_status(e: &DataFusionError) -> Status {
    match e.find_root() {
        DataFusionError::Plan(m) if m.starts_with("table '") && m.contains("not found") => {
            Status::not_found(m.clone())
        }
        DataFusionError::SQL(..) => Status::invalid_argument(e.find_root().strip_backtrace()),
        _ => datafusion_status(e),
    }
}
