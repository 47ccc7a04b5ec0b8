//! The SQL sandbox: only queries run. DDL, DML, COPY, SET and every other
//! statement are refused before planning; the plan is checked again; the
//! session offers no file, URL or dynamic catalog to read from.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::error::{QueryError, Result};

/// Longest accepted SQL text.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Parses and plans `sql` as a read-only query in `ctx`. Parsing and
/// planning errors are [`QueryError::Sql`].
pub async fn plan_query(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::InvalidArgument(format!(
            "SQL text is longer than {MAX_SQL_BYTES} bytes"
        )));
    }
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let limits = crate::limits::of(state.config());
    {
        let parser_dialect = dialect_from_str(dialect)
            .ok_or_else(|| QueryError::Internal(format!("unsupported SQL dialect {dialect}")))?;
        limits
            .check_tokens("the SQL statement", sql, parser_dialect.as_ref())
            .map_err(|e| QueryError::InvalidArgument(e.to_string()))?;
    }
    let mut statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(QueryError::Sql)?;
    let DfStatement::Statement(query) = &mut statement else {
        return Err(read_only());
    };
    if !matches!(query.as_ref(), Statement::Query(_)) {
        return Err(read_only());
    }
    limits
        .check_statement("the SQL statement", query)
        .map_err(|e| QueryError::InvalidArgument(e.to_string()))?;
    super::placeholders::number_qmarks(query).map_err(QueryError::InvalidArgument)?;
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(QueryError::Sql)?;
    check_plan_size(&plan, limits.max_plan_nodes())?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| QueryError::PermissionDenied(e.strip_backtrace()))?;
    Ok(plan)
}

/// Refuses a plan of more than `max` nodes, counted until the limit is
/// passed (so the count itself is cheap): a CTE referenced several times is
/// planned once per reference, so a short text can stand for a huge plan.
fn check_plan_size(plan: &LogicalPlan, max: usize) -> Result<()> {
    let mut nodes = 0usize;
    let _ = plan.apply_with_subqueries(|_| {
        nodes += 1;
        Ok(if nodes > max {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    if nodes > max {
        return Err(QueryError::InvalidArgument(format!(
            "the SQL statement plans to more than {max} operators (common table expressions \
             count once per use; a tenth of --max-expr-nodes)"
        )));
    }
    Ok(())
}

/// The datasets a planned query reads, `ns.dataset`, sorted, comma-separated.
pub fn datasets_read(plan: &LogicalPlan) -> String {
    let mut names = std::collections::BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Some(schema) = scan.table_name.schema()
            && schema != "information_schema"
        {
            names.insert(format!("{schema}.{}", scan.table_name.table()));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    names.into_iter().collect::<Vec<_>>().join(",")
}

fn read_only() -> QueryError {
    QueryError::PermissionDenied(
        "only queries (SELECT, WITH … SELECT, VALUES) are allowed: this server is read-only".into(),
    )
}
