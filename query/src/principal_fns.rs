//! `current_user()` and `principal_attribute('name')`: SQL functions row
//! filters, masks and download filters may call. They are registered as
//! placeholders so expressions plan, then replaced by literals of the
//! calling principal before anything runs — a plan never executes them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{QueryError, Result};

/// Name of the function returning the caller's principal name.
pub const CURRENT_USER: &str = "current_user";
/// Name of the function returning one attribute of the caller.
pub const PRINCIPAL_ATTRIBUTE: &str = "principal_attribute";

/// Who is asking, as SQL expressions see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalContext {
    /// The principal's name (`current_user()`).
    pub user: String,
    /// The principal's attributes (`principal_attribute('name')`).
    pub attributes: BTreeMap<String, String>,
}

impl PrincipalContext {
    /// A context for `user` without attributes.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            attributes: BTreeMap::new(),
        }
    }
}

/// Rewrites `current_user()` to `current_user`: SQL parses CURRENT_USER as
/// a keyword without parentheses, but people write it as a call. Only the
/// two parentheses are removed; the rest of the text is kept byte for byte
/// (strings, quoted identifiers and escapes included).
pub fn normalize_sql(sql: &str) -> String {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
    if !sql.to_ascii_lowercase().contains("current_user") {
        return sql.to_string();
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    // Token locations (line, column in characters) to byte offsets, with a
    // cursor that only moves forward: the tokens come in text order.
    let mut chars = sql.char_indices().peekable();
    let (mut line, mut column) = (1u64, 1u64);
    let mut offset = |at: Location| -> Option<usize> {
        while (line, column) < (at.line, at.column) {
            let (_, c) = chars.next()?;
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        chars.peek().map(|(i, _)| *i)
    };
    let mut removed = Vec::new();
    for window in tokens.windows(3) {
        let is_current_user = matches!(
            &window[0].token,
            Token::Word(w) if w.keyword == Keyword::CURRENT_USER && w.quote_style.is_none()
        );
        if is_current_user
            && window[1].token == Token::LParen
            && window[2].token == Token::RParen
            && let (Some(open), Some(close)) =
                (offset(window[1].span.start), offset(window[2].span.start))
        {
            removed.extend([open, close]);
        }
    }
    // `removed` is in text order: walk it alongside.
    let mut next = removed.iter().peekable();
    sql.char_indices()
        .filter(|(i, _)| {
            if next.peek() == Some(&i) {
                next.next();
                false
            } else {
                true
            }
        })
        .map(|(_, c)| c)
        .collect()
}

/// The placeholder functions to register in a session.
pub fn principal_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(Placeholder {
            name: CURRENT_USER,
            signature: Signature::nullary(Volatility::Stable),
        })),
        Arc::new(ScalarUDF::new_from_impl(Placeholder {
            name: PRINCIPAL_ATTRIBUTE,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        })),
    ]
}

/// Replaces calls of the placeholder functions in `expr` by literals for
/// `ctx`. `principal_attribute` needs a string literal argument; an unknown
/// attribute reads as NULL.
pub fn bind_principal(expr: Expr, ctx: &PrincipalContext, field: &str) -> Result<Expr> {
    let mut error = None;
    let bound = expr
        .transform_up(|e| {
            let Expr::ScalarFunction(f) = &e else {
                return Ok(Transformed::no(e));
            };
            match f.func.name() {
                CURRENT_USER => Ok(Transformed::yes(Expr::Literal(
                    ScalarValue::Utf8(Some(ctx.user.clone())),
                    None,
                ))),
                PRINCIPAL_ATTRIBUTE => match f.args.as_slice() {
                    [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] => {
                        Ok(Transformed::yes(Expr::Literal(
                            ScalarValue::Utf8(ctx.attributes.get(name).cloned()),
                            None,
                        )))
                    }
                    _ => {
                        error = Some(QueryError::spec(
                            field,
                            "principal_attribute() takes one string literal, e.g. principal_attribute('region')",
                        ));
                        Ok(Transformed::no(e))
                    }
                },
                _ => Ok(Transformed::no(e)),
            }
        })
        .map_err(QueryError::from)?
        .data;
    match error {
        Some(e) => Err(e),
        None => Ok(bound),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_sql;

    #[test]
    fn current_user_call_becomes_the_keyword() {
        assert_eq!(
            normalize_sql("owner = current_user()"),
            "owner = current_user"
        );
        assert_eq!(
            normalize_sql("owner = CURRENT_USER ( )"),
            "owner = CURRENT_USER ( )"
        );
        assert_eq!(
            normalize_sql("x = 'current_user()' AND y = current_user()"),
            "x = 'current_user()' AND y = current_user"
        );
        // Escaped quotes stay escaped: the policy keeps its meaning.
        assert_eq!(
            normalize_sql("owner <> 'x'' OR region <> ''EU' AND o = current_user()"),
            "owner <> 'x'' OR region <> ''EU' AND o = current_user"
        );
        assert_eq!(
            normalize_sql("name = 'O''Brien'\n AND \"we\"\"ird\" = current_user()"),
            "name = 'O''Brien'\n AND \"we\"\"ird\" = current_user"
        );
        assert_eq!(
            normalize_sql("\"é\" = 'ü'\nOR o = current_user() OR p = current_user()"),
            "\"é\" = 'ü'\nOR o = current_user OR p = current_user"
        );
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Placeholder {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Placeholder {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        exec_err!(
            "{}() is only available in filters and access policies",
            self.name
        )
    }
}
