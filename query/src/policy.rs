//! Row filters and column masks compiled into plans.
//!
//! A principal reads a dataset through the union of its `read` grants that
//! cover it. Each grant may restrict rows (a filter) and mask columns. The
//! secure view is the scan, filtered to the rows any grant shows, projected
//! so every value is shown as the most permissive grant *whose filter
//! matches that row* allows. Everything the client asks for — its own
//! filter, ordering, columns — is planned on top of that view, so it only
//! ever sees (and can only filter on) masked values.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::execution::session_state::SessionState;
use datafusion::functions::expr_fn::{encode, sha256};
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlanBuilder, cast, lit};
use datafusion::prelude::or;
use laker_catalog::{ColumnMask, GrantPolicy};

use crate::error::{QueryError, Result};
use crate::filter::{compile_boolean, compile_expr, simplify_now};
use crate::principal_fns::{PrincipalContext, bind_principal};

/// What one principal may read of one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAccess {
    /// The policies of every read grant covering the dataset (at least one).
    pub policies: Vec<GrantPolicy>,
    /// The principal, for `current_user()` and `principal_attribute()`.
    pub principal: PrincipalContext,
}

impl ReadAccess {
    /// Access to every row and value, for `principal`.
    pub fn unrestricted(principal: PrincipalContext) -> Self {
        Self {
            policies: vec![GrantPolicy::default()],
            principal,
        }
    }

    /// True unless some grant shows every row and value.
    pub fn is_restricted(&self) -> bool {
        !self.policies.iter().any(GrantPolicy::is_unrestricted)
    }

    /// Whether column `name` reaches the caller masked: every grant masks
    /// it (a hidden column is not in the caller's schema at all).
    pub fn is_masked(&self, name: &str) -> bool {
        self.is_restricted() && self.policies.iter().all(|p| mask_of(p, name).is_some())
    }
}

/// The mask a grant puts on column `name` (matched case-insensitively).
fn mask_of<'a>(policy: &'a GrantPolicy, name: &str) -> Option<&'a ColumnMask> {
    policy.column_masks.get(name).or_else(|| {
        policy
            .column_masks
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, m)| m)
    })
}

/// Compiles grant policies for one plan.
pub(crate) struct PolicyCompiler<'a> {
    pub state: &'a SessionState,
    /// Key mixed into hashed values so digests cannot be looked up in
    /// precomputed tables.
    pub hash_key: &'a str,
}

/// One grant's compiled filter (`None`: every row).
type RowFilter = Option<Expr>;

impl PolicyCompiler<'_> {
    /// Wraps `builder` (a scan) in the secure view `access` allows.
    pub fn secure(
        &self,
        builder: LogicalPlanBuilder,
        access: &ReadAccess,
    ) -> Result<LogicalPlanBuilder> {
        if access.policies.is_empty() {
            return Err(QueryError::Policy("no read grant applies".into()));
        }
        if !access.is_restricted() {
            return Ok(builder);
        }
        let schema = Arc::clone(builder.schema());
        let filters = access
            .policies
            .iter()
            .map(|p| self.row_filter(p, &schema, access))
            .collect::<Result<Vec<RowFilter>>>()?;
        let mut projection = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let name = field.name();
            let values = access
                .policies
                .iter()
                .map(|p| self.value(p, name, field.data_type(), &schema, access))
                .collect::<Result<Vec<Option<Expr>>>>()?;
            if let Some(expr) = combine(name, &filters, values, &schema)? {
                projection.push(expr.alias(name));
            }
        }
        let builder = if filters.iter().any(Option::is_none) {
            builder
        } else {
            let any_row = balanced(filters.into_iter().flatten().collect(), or);
            builder.filter(any_row)?
        };
        Ok(builder.project(projection)?)
    }

    fn row_filter(
        &self,
        policy: &GrantPolicy,
        schema: &DFSchema,
        access: &ReadAccess,
    ) -> Result<RowFilter> {
        let Some(sql) = &policy.row_filter else {
            return Ok(None);
        };
        let expr = compile_boolean(self.state, "row filter", sql, schema)
            .map_err(|e| QueryError::Policy(e.to_string()))?;
        let expr = bind_principal(expr, &access.principal, "row filter")?;
        Ok(Some(simplify_now(self.state, "row filter", expr, schema)?))
    }

    /// The value a grant shows for column `name`; `None` when it hides it.
    fn value(
        &self,
        policy: &GrantPolicy,
        name: &str,
        data_type: &DataType,
        schema: &DFSchema,
        access: &ReadAccess,
    ) -> Result<Option<Expr>> {
        let column = Expr::Column(Column::from_name(name));
        Ok(match mask_of(policy, name) {
            None => Some(column),
            Some(ColumnMask::Hide) => None,
            Some(ColumnMask::Null) => Some(cast(lit(ScalarValue::Null), data_type.clone())),
            Some(ColumnMask::Hash) => Some(encode(
                sha256(lit(self.hash_key).concat_with(cast(column, DataType::Utf8))),
                lit("hex"),
            )),
            Some(ColumnMask::Expr(sql)) => {
                let what = format!("mask of column '{name}'");
                let expr = compile_expr(self.state, &what, sql, schema)
                    .map_err(|e| QueryError::Policy(e.to_string()))?;
                let expr = bind_principal(expr, &access.principal, &what)?;
                Some(simplify_now(self.state, &what, expr, schema)?)
            }
        })
    }
}

/// `exprs` joined with `op` as a balanced tree (`false` when empty), so
/// many grants do not make a chain deeper than the limits allow a client.
fn balanced(mut exprs: Vec<Expr>, op: fn(Expr, Expr) -> Expr) -> Expr {
    if exprs.is_empty() {
        return lit(false);
    }
    while exprs.len() > 1 {
        let mut next = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut pairs = exprs.into_iter();
        while let Some(a) = pairs.next() {
            next.push(match pairs.next() {
                Some(b) => op(a, b),
                None => a,
            });
        }
        exprs = next;
    }
    exprs.pop().unwrap_or(lit(false))
}

/// Helper so hashing reads naturally: `key || value`, NULL when value is NULL.
trait ConcatWith {
    fn concat_with(self, other: Expr) -> Expr;
}

impl ConcatWith for Expr {
    fn concat_with(self, other: Expr) -> Expr {
        Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
            Box::new(self),
            datafusion::logical_expr::Operator::StringConcat,
            Box::new(other),
        ))
    }
}

/// One column of the secure view, from each grant's (filter, value).
/// `None` when every grant hides the column.
fn combine(
    name: &str,
    filters: &[RowFilter],
    values: Vec<Option<Expr>>,
    schema: &DFSchema,
) -> Result<Option<Expr>> {
    let raw = Expr::Column(Column::from_name(name));
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    // Rows are already limited to those some grant shows: a column every
    // grant leaves unmasked, or one a grant shows unmasked on every row,
    // is the raw column.
    let unmasked_everywhere = values.iter().all(|v| v.as_ref() == Some(&raw));
    if unmasked_everywhere
        || filters
            .iter()
            .zip(&values)
            .any(|(f, v)| f.is_none() && v.as_ref() == Some(&raw))
    {
        return Ok(Some(raw));
    }
    if values.len() == 1 {
        return Ok(values.into_iter().next().flatten());
    }
    // Several grants: per row, the first matching grant that shows the raw
    // value, else the first matching grant's mask. Differing result types
    // are unified as text.
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&i| values[i].as_ref() != Some(&raw));
    let types = values
        .iter()
        .flatten()
        .map(|v| v.get_type(schema))
        .collect::<Result<Vec<_>, _>>()?;
    let as_text = types.windows(2).any(|w| w[0] != w[1]);
    let mut when_then = Vec::new();
    for i in order {
        let Some(value) = values[i].clone() else {
            continue;
        };
        let value = if as_text {
            cast(value, DataType::Utf8)
        } else {
            value
        };
        let when = filters[i].clone().unwrap_or(lit(true));
        when_then.push((Box::new(when), Box::new(value)));
    }
    Ok(Some(Expr::Case(Case::new(None, when_then, None))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction() {
        let p = PrincipalContext::new("alice");
        assert!(!ReadAccess::unrestricted(p.clone()).is_restricted());
        let filtered = GrantPolicy {
            row_filter: Some("a > 1".into()),
            ..GrantPolicy::default()
        };
        let access = ReadAccess {
            policies: vec![filtered.clone()],
            principal: p.clone(),
        };
        assert!(access.is_restricted());
        let both = ReadAccess {
            policies: vec![filtered, GrantPolicy::default()],
            principal: p,
        };
        assert!(!both.is_restricted());
    }
}
