//! `?` placeholders. JDBC, ADBC's DB-API driver and most BI tools write
//! parameters as `?` (qmark style); DataFusion plans only numbered ones
//! (`$1`). Each `?` is numbered in the order it appears in the text, so
//! both styles work for statements and prepared statements alike.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

/// Rewrites the `?` placeholders of `statement` as `$1`, `$2`, … by their
/// position in the text; returns how many there were. Mixing `?` with
/// numbered placeholders is refused (the numbering would be ambiguous).
pub fn number_qmarks(statement: &mut Statement) -> Result<usize, String> {
    let mut found = Found::default();
    let _ = Visit::visit(&*statement, &mut found);
    if found.qmarks.is_empty() {
        return Ok(0);
    }
    if found.numbered {
        return Err("use either ? or numbered ($1) placeholders in one statement, not both".into());
    }
    let mut order = found.qmarks;
    order.sort();
    let count = order.len();
    // Position of each span in text order. Should spans repeat (or be
    // missing), the text order is unknown: number in visit order instead.
    let mut positions: HashMap<Span, usize> = HashMap::with_capacity(count);
    let mut distinct = true;
    for (i, span) in order.into_iter().enumerate() {
        distinct &= span != Span::empty() && positions.insert(span, i).is_none();
    }
    let mut numbering = Numbering {
        positions: distinct.then_some(&positions),
        next: 0,
    };
    let _ = VisitMut::visit(statement, &mut numbering);
    Ok(count)
}

#[derive(Default)]
struct Found {
    qmarks: Vec<Span>,
    numbered: bool,
}

impl Visitor for Found {
    type Break = ();

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        if let Value::Placeholder(p) = &value.value {
            if p == "?" {
                self.qmarks.push(value.span);
            } else {
                self.numbered = true;
            }
        }
        ControlFlow::Continue(())
    }
}

struct Numbering<'a> {
    /// The index of each `?`'s span in text order, when spans tell it.
    positions: Option<&'a HashMap<Span, usize>>,
    /// Visit order, the fallback.
    next: usize,
}

impl VisitorMut for Numbering<'_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if let Value::Placeholder(p) = &mut value.value
            && p == "?"
        {
            let index = self
                .positions
                .and_then(|p| p.get(&value.span).copied())
                .unwrap_or(self.next);
            self.next += 1;
            *p = format!("${}", index + 1);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn numbered(sql: &str) -> Result<String, String> {
        let mut statement = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        number_qmarks(&mut statement).map(|_| statement.to_string())
    }

    #[test]
    fn qmarks_are_numbered_in_text_order() {
        assert_eq!(
            numbered(
                "SELECT ?, a FROM t WHERE b > ? AND c IN (SELECT d FROM u WHERE e = ?) LIMIT ?"
            )
            .unwrap(),
            "SELECT $1, a FROM t WHERE b > $2 AND c IN (SELECT d FROM u WHERE e = $3) LIMIT $4"
        );
        assert_eq!(
            numbered("WITH x AS (SELECT ? AS v) SELECT v + ? FROM x").unwrap(),
            "WITH x AS (SELECT $1 AS v) SELECT v + $2 FROM x"
        );
        assert_eq!(numbered("SELECT '?' || ?").unwrap(), "SELECT '?' || $1");
        assert_eq!(numbered("SELECT $1").unwrap(), "SELECT $1");
    }

    #[test]
    fn mixed_styles_are_refused() {
        let e = numbered("SELECT ? + $1").unwrap_err();
        assert!(e.contains("not both"), "{e}");
    }
}
