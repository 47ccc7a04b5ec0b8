//! Bounds on the shape of the SQL a client sends — download filters,
//! `order_by`, grant policies and Flight SQL statements — checked before
//! anything is planned.
//!
//! DataFusion plans and optimises expressions with recursive passes whose
//! stack use grows with nesting depth, and a parser's depth limit stops
//! parentheses but not long left-leaning chains (`1+1+…`, `a OR b OR …`,
//! `SELECT … UNION SELECT …`, `a JOIN b JOIN …`), which it builds in a loop.
//! So the text is checked twice:
//!
//! 1. On tokens, before parsing: a cheap estimate of the syntax tree's
//!    depth (operators in one run, plus nested groups) and the token count.
//!    It keeps the tree small enough to be parsed, walked and dropped
//!    safely (runs separated by commas, such as the branches of a long
//!    `UNION` chain, are parsed in loops, and checked on the tree).
//! 2. On the parsed tree: its exact nesting depth (expressions, queries,
//!    joins and set operations each add a level) and node count.
//!
//! Either way the caller gets an error that names the limit and its flag.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{self, Expr, Query, Select, SetExpr, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// How deep and how large an expression or query may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprLimits {
    /// Deepest nesting of expressions, subqueries, joins and set
    /// operations (`--max-expr-depth`).
    pub max_depth: usize,
    /// Most syntax-tree nodes (`--max-expr-nodes`).
    pub max_nodes: usize,
}

impl Default for ExprLimits {
    fn default() -> Self {
        Self {
            max_depth: 256,
            max_nodes: 50_000,
        }
    }
}

/// The limits a session was configured with ([`with_limits`]), or the defaults.
pub fn of(config: &datafusion::prelude::SessionConfig) -> ExprLimits {
    config
        .get_extension::<ExprLimits>()
        .map_or_else(ExprLimits::default, |l| *l)
}

/// `config` carrying `limits`, for every plan made in sessions built on it.
pub fn with_limits(
    config: datafusion::prelude::SessionConfig,
    limits: ExprLimits,
) -> datafusion::prelude::SessionConfig {
    config.with_extension(std::sync::Arc::new(limits))
}

/// Why a text was refused: the message names the limit and its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(pub String);

impl ExprLimits {
    /// Most operators a query may plan to: a tenth of [`Self::max_nodes`]
    /// (at least 1,000) — each operator holds expressions of its own.
    pub fn max_plan_nodes(&self) -> usize {
        (self.max_nodes / 10).max(1_000)
    }

    /// Limits a token-level estimate may reach: a loose multiple of the
    /// real limits, since the estimate counts every operator as a level.
    fn token_depth(&self) -> usize {
        self.max_depth.saturating_mul(4).max(256)
    }

    fn token_count(&self) -> usize {
        self.max_nodes.saturating_mul(8)
    }

    fn too_deep(&self, what: &str) -> LimitError {
        LimitError(format!(
            "{what} is nested too deeply: more than {} levels of operators, \
             function calls, subqueries, joins or set operations (limit --max-expr-depth); \
             use IN (…) lists instead of long OR chains, or split the query",
            self.max_depth
        ))
    }

    fn too_large(&self, what: &str) -> LimitError {
        LimitError(format!(
            "{what} is too large: more than {} syntax nodes (limit --max-expr-nodes)",
            self.max_nodes
        ))
    }

    /// Checks `sql` on its tokens, before it is parsed.
    pub fn check_tokens(
        &self,
        what: &str,
        sql: &str,
        dialect: &dyn Dialect,
    ) -> Result<(), LimitError> {
        let tokens = Tokenizer::new(dialect, sql).tokenize().map_err(|e| {
            // The parser reports syntax errors with positions; only say
            // what cannot be parsed at all.
            LimitError(format!("{what}: {e}"))
        })?;
        let mut estimate = DepthEstimate::default();
        let mut count = 0usize;
        let mut after_interval = false;
        let mut whens = 0usize;
        // Groups open now, each marked when a keyword the parser backtracks
        // over (`ARRAY[`, `CAST(`, `NOT (`) opened it: a failing parse tries
        // each of those twice, so their nesting costs 2^depth.
        let mut open: Vec<bool> = Vec::new();
        let mut backtracking = 0usize;
        let mut previous: Option<&Token> = None;
        for token in &tokens {
            if matches!(token, Token::Whitespace(_) | Token::EOF) {
                continue;
            }
            match classify(token) {
                Class::Open => {
                    let costly = previous.is_some_and(backtracks);
                    backtracking += usize::from(costly);
                    if backtracking > MAX_BACKTRACKING_NESTING {
                        return Err(LimitError(format!(
                            "{what}: ARRAY[, CAST( and NOT ( are nested more than \
                             {MAX_BACKTRACKING_NESTING} deep"
                        )));
                    }
                    open.push(costly);
                }
                Class::Close => backtracking -= usize::from(open.pop() == Some(true)),
                _ => {}
            }
            previous = Some(token);
            // The parser recurses on `INTERVAL INTERVAL …` outside its own
            // recursion limit, with large frames: an interval of an interval
            // means nothing, and is refused before it is parsed.
            let interval = is_keyword(token, Keyword::INTERVAL);
            if interval && after_interval {
                return Err(LimitError(format!(
                    "{what}: INTERVAL must be followed by a value, not another INTERVAL"
                )));
            }
            after_interval = interval;
            whens += usize::from(is_keyword(token, Keyword::WHEN));
            if whens > MAX_CASE_BRANCHES {
                return Err(LimitError(format!(
                    "{what} has more than {MAX_CASE_BRANCHES} CASE branches (WHEN)"
                )));
            }
            count += 1;
            if count > self.token_count() {
                return Err(self.too_large(what));
            }
            if estimate.push(token) > self.token_depth() {
                return Err(self.too_deep(what));
            }
        }
        if estimate.total() > self.token_depth() {
            return Err(self.too_deep(what));
        }
        if !open.is_empty() {
            // The parser would fail, after backtracking over every group.
            return Err(LimitError(format!(
                "{what}: a parenthesis, bracket or CASE is not closed"
            )));
        }
        Ok(())
    }

    /// Checks a parsed expression's exact depth and size.
    pub fn check_expr(&self, what: &str, expr: &Expr) -> Result<(), LimitError> {
        self.walk(what, expr)
    }

    /// Checks a parsed statement's exact depth and size, and the size it
    /// plans to: a common table expression is planned once per use, so a
    /// few lines can stand for a plan of billions of operators (and
    /// DataFusion takes time exponential in that to plan it).
    pub fn check_statement(
        &self,
        what: &str,
        statement: &ast::Statement,
    ) -> Result<(), LimitError> {
        self.walk(what, statement)?;
        let planned = planned_size(statement);
        if planned > self.max_plan_nodes() as u64 {
            return Err(LimitError(format!(
                "{what} plans to more than {} operators (a common table expression counts once \
                 per use; a tenth of --max-expr-nodes)",
                self.max_plan_nodes()
            )));
        }
        Ok(())
    }

    fn walk<V: Visit>(&self, what: &str, tree: &V) -> Result<(), LimitError> {
        let mut shape = Shape {
            limits: *self,
            depth: 0,
            nodes: 0,
            extra: Vec::new(),
        };
        match tree.visit(&mut shape) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(Exceeded::Depth) => Err(self.too_deep(what)),
            ControlFlow::Break(Exceeded::Nodes) => Err(self.too_large(what)),
        }
    }
}

/// Which limit a walk exceeded.
#[derive(Debug, Clone, Copy)]
enum Exceeded {
    Depth,
    Nodes,
}

/// Measures a syntax tree; stops (without descending further) as soon as
/// a limit is exceeded, so its own recursion stays within the limits.
struct Shape {
    limits: ExprLimits,
    depth: usize,
    nodes: usize,
    /// Levels added on entering each query or select (set operations,
    /// joins), removed on leaving it.
    extra: Vec<usize>,
}

impl Shape {
    fn enter(&mut self, levels: usize) -> ControlFlow<Exceeded> {
        self.depth = self.depth.saturating_add(levels);
        self.nodes = self.nodes.saturating_add(levels.max(1));
        if self.depth > self.limits.max_depth {
            return ControlFlow::Break(Exceeded::Depth);
        }
        if self.nodes > self.limits.max_nodes {
            return ControlFlow::Break(Exceeded::Nodes);
        }
        ControlFlow::Continue(())
    }

    fn leave(&mut self, levels: usize) {
        self.depth = self.depth.saturating_sub(levels);
    }

    fn enter_scoped(&mut self, levels: usize) -> ControlFlow<Exceeded> {
        self.extra.push(levels);
        self.enter(levels)
    }

    fn leave_scoped(&mut self) {
        let levels = self.extra.pop().unwrap_or(0);
        self.leave(levels);
    }
}

impl Visitor for Shape {
    type Break = Exceeded;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Exceeded> {
        // A chain of set operations plans as that many nested plans.
        self.enter_scoped(1 + set_operations(&query.body))
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<Exceeded> {
        self.leave_scoped();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Exceeded> {
        // Joins are a flat list in the syntax tree but nest in the plan.
        let joins: usize = select.from.iter().map(|t| t.joins.len()).sum();
        self.enter_scoped(1 + joins + select.from.len().saturating_sub(1))
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<Exceeded> {
        self.leave_scoped();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Exceeded> {
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Exceeded> {
        self.leave(1);
        ControlFlow::Continue(())
    }
}

/// An estimate of the operators `statement` plans to: each table reference
/// counts as the expanded size of the common table expression it names
/// (or 1), a definition's size being one plus those of the relations it
/// references. Definitions of one name in several scopes count as the
/// largest. The result is the largest of the statement's own references
/// (everywhere but its definitions: body, ORDER BY, subqueries) and of
/// each definition, since every definition is planned, used or not. A
/// chain of CTEs that doubles at each step is caught at once; a linear
/// pipeline of CTEs counts linearly.
fn planned_size(statement: &ast::Statement) -> u64 {
    let mut definitions = Definitions::default();
    let _ = statement.visit(&mut definitions);
    let mut sizes: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut largest = 0u64;
    for (name, references) in &definitions.ctes {
        let expanded = references
            .iter()
            .map(|r| sizes.get(r).copied().unwrap_or(1))
            .fold(1u64, u64::saturating_add);
        largest = largest.max(expanded);
        let size = sizes.entry(name.clone()).or_insert(0);
        *size = (*size).max(expanded);
    }
    // The definitions are counted through their sizes: only the rest of
    // the statement's references count here.
    let references = match statement {
        ast::Statement::Query(query) => {
            let mut rest = (**query).clone();
            rest.with = None;
            relation_names(&rest)
        }
        other => relation_names(other),
    };
    let own = references
        .iter()
        .map(|r| sizes.get(r).copied().unwrap_or(1))
        .fold(0u64, u64::saturating_add);
    own.max(largest)
}

/// The common table expressions of a statement, in definition order, each
/// with the relation names its query references.
#[derive(Default)]
struct Definitions {
    ctes: Vec<(String, Vec<String>)>,
}

impl Visitor for Definitions {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes
                    .push((ident_name(&cte.alias.name), relation_names(&*cte.query)));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The single-part relation names `tree` references, normalised.
fn relation_names<V: Visit>(tree: &V) -> Vec<String> {
    struct Names(Vec<String>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ast::ObjectName) -> ControlFlow<()> {
            if let [ast::ObjectNamePart::Identifier(ident)] = relation.0.as_slice() {
                self.0.push(ident_name(ident));
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(Vec::new());
    let _ = tree.visit(&mut names);
    names.0
}

/// An identifier as SQL resolves it: unquoted ones case-insensitively.
fn ident_name(ident: &ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// Set operations in a query body, counted without recursion.
fn set_operations(body: &SetExpr) -> usize {
    let mut count = 0;
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if let SetExpr::SetOperation { left, right, .. } = node {
            count += 1;
            stack.push(left);
            stack.push(right);
        }
    }
    count
}

/// An estimate of a syntax tree's depth, from its tokens: in each group
/// (parentheses, brackets, braces, `CASE … END`) the operators of one run
/// (between commas or CASE branches), plus the deepest group within it.
#[derive(Debug)]
struct DepthEstimate {
    /// Open groups, innermost last; the outermost is the text itself.
    groups: Vec<Group>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Group {
    /// Operators in the current run.
    links: usize,
    /// Deepest group closed in the current run.
    child: usize,
    /// Deepest run closed so far.
    best: usize,
}

impl Group {
    fn run(&self) -> usize {
        self.links + self.child
    }

    fn end_run(&mut self) {
        self.best = self.best.max(self.run());
        self.links = 0;
        self.child = 0;
    }

    fn depth(&self) -> usize {
        self.best.max(self.run())
    }
}

impl Default for DepthEstimate {
    fn default() -> Self {
        Self {
            groups: vec![Group::default()],
        }
    }
}

impl DepthEstimate {
    /// Takes the next token; returns a depth the tree certainly reaches
    /// (the open groups and the current runs), for stopping early.
    fn push(&mut self, token: &Token) -> usize {
        match classify(token) {
            Class::Open => self.groups.push(Group::default()),
            Class::Close => {
                if self.groups.len() > 1
                    && let Some(closed) = self.groups.pop()
                    && let Some(parent) = self.groups.last_mut()
                {
                    parent.child = parent.child.max(closed.depth() + 1);
                }
            }
            Class::Separator => {
                if let Some(g) = self.groups.last_mut() {
                    g.end_run();
                }
            }
            Class::Link => {
                if let Some(g) = self.groups.last_mut() {
                    g.links += 1;
                }
            }
            Class::Operand => {}
        }
        let innermost = self.groups.last().map_or(0, Group::depth);
        innermost.max(self.groups.len() - 1)
    }

    /// The estimate for the whole text, once every token is in.
    fn total(&self) -> usize {
        let mut inner: Option<usize> = None;
        for g in self.groups.iter().rev() {
            let child = inner.map_or(g.child, |d| g.child.max(d + 1));
            inner = Some(g.best.max(g.links + child));
        }
        inner.unwrap_or(0)
    }
}

enum Class {
    Open,
    Close,
    Separator,
    Link,
    Operand,
}

fn classify(token: &Token) -> Class {
    match token {
        Token::LParen | Token::LBracket | Token::LBrace => Class::Open,
        Token::RParen | Token::RBracket | Token::RBrace => Class::Close,
        Token::Comma | Token::SemiColon => Class::Separator,
        Token::Word(w) if w.quote_style.is_none() => match w.keyword {
            Keyword::CASE => Class::Open,
            Keyword::END => Class::Close,
            Keyword::WHEN | Keyword::THEN | Keyword::ELSE => Class::Separator,
            Keyword::AND
            | Keyword::OR
            | Keyword::XOR
            | Keyword::NOT
            | Keyword::IS
            | Keyword::IN
            | Keyword::LIKE
            | Keyword::ILIKE
            | Keyword::SIMILAR
            | Keyword::REGEXP
            | Keyword::RLIKE
            | Keyword::BETWEEN
            | Keyword::DIV
            | Keyword::COLLATE
            | Keyword::AT
            | Keyword::OVERLAPS
            | Keyword::UNION
            | Keyword::INTERSECT
            | Keyword::EXCEPT
            | Keyword::MINUS
            | Keyword::JOIN
            | Keyword::SELECT
            // Prefix operators the parser recurses on without parentheses
            // (`INTERVAL INTERVAL … 1`): each is a level.
            | Keyword::INTERVAL
            | Keyword::PRIOR
            | Keyword::CONNECT_BY_ROOT => Class::Link,
            _ => Class::Operand,
        },
        // `a.b.c` names one column: no nesting.
        Token::Word(_)
        | Token::Period
        | Token::Number(..)
        | Token::Placeholder(_)
        | Token::Whitespace(_)
        | Token::EOF => Class::Operand,
        t if is_literal(t) => Class::Operand,
        // Every other symbol is an operator of some kind.
        _ => Class::Link,
    }
}

/// Most `ARRAY[`, `CAST(` or `NOT (` groups nested in one another: a failing
/// parse of them costs 2^depth (20 took 1 to 2 s).
const MAX_BACKTRACKING_NESTING: usize = 12;

/// Most CASE branches (`WHEN`) in one filter, policy or statement:
/// planning a searched CASE takes time that grows much faster than its
/// branches (800 took 14 s in a debug build).
const MAX_CASE_BRANCHES: usize = 200;

/// Whether a group opened after `token` is one the parser backtracks over.
fn backtracks(token: &Token) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && matches!(
        w.keyword,
        Keyword::ARRAY | Keyword::CAST | Keyword::TRY_CAST | Keyword::SAFE_CAST | Keyword::NOT
    ))
}

fn is_keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.keyword == keyword)
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Char(_)
    )
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn limits() -> ExprLimits {
        ExprLimits {
            max_depth: 20,
            max_nodes: 200,
        }
    }

    fn tokens(sql: &str) -> Result<(), LimitError> {
        limits().check_tokens("filter", sql, &GenericDialect {})
    }

    fn parsed(sql: &str) -> Result<(), LimitError> {
        let statement = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        limits().check_statement("SQL", &statement)
    }

    fn chain(op: &str, n: usize) -> String {
        vec!["1"; n].join(op)
    }

    #[test]
    fn backtracking_nests_and_unclosed_groups_are_refused_on_tokens() {
        // Found by the fuzzer: ~300 unclosed `ARRAY[` ran for over 30 s.
        let e = tokens(&format!("f{}1", "ARRAY[".repeat(300))).unwrap_err();
        assert!(e.0.contains("nested more than 12 deep"), "{e}");
        let e = tokens(&format!("x > {}1", "CAST(".repeat(13))).unwrap_err();
        assert!(e.0.contains("nested more than 12 deep"), "{e}");
        let e = tokens("x > (1 + (2").unwrap_err();
        assert!(e.0.contains("not closed"), "{e}");
        let fine = format!("{}1{}", "CAST(".repeat(12), " AS INT)".repeat(12));
        assert!(tokens(&fine).is_ok());
        assert!(tokens(&format!("x > {}1{}", "(".repeat(100), ")".repeat(100))).is_ok());
    }

    #[test]
    fn prefix_keyword_chains_are_refused_on_tokens() {
        // The parser recursed once per INTERVAL with no limit of its own
        // (found by the fuzzer: ~3,000 of them overflowed an 8 MiB stack).
        let text = format!("length(city) > {}'1 day'", "INTERVAL ".repeat(3_000));
        let e = tokens(&text).unwrap_err();
        assert!(e.0.contains("not another INTERVAL"), "{e}");
        // 38 of them overflowed a 16 MiB stack in a debug build.
        let e = tokens("x > INTERVAL INTERVAL '1 day'").unwrap_err();
        assert!(e.0.contains("not another INTERVAL"), "{e}");
        assert!(tokens("x > now() - INTERVAL '1 day'").is_ok());
        assert!(tokens("x > now() - INTERVAL (INTERVAL '1 day')").is_ok());
    }

    #[test]
    fn long_chains_are_refused_on_tokens() {
        let e = tokens(&chain(" + ", 10_000)).unwrap_err();
        assert!(e.0.contains("nested too deeply"), "{e}");
        assert!(e.0.contains("--max-expr-depth"), "{e}");
        assert!(tokens(&chain(" OR ", 10_000)).is_err());
        // Nested groups multiply: each level of parentheses adds its runs.
        let nested = format!("({})", chain(" + ", 200));
        let deep = (0..10).fold(nested, |inner, _| format!("({inner} + {inner})"));
        assert!(tokens(&deep).is_err());
    }

    #[test]
    fn flat_lists_and_case_branches_pass_on_tokens() {
        let list = format!("x IN ({})", chain(", ", 5_000 / 8));
        assert!(tokens(&list).is_ok());
        let case = format!(
            "CASE {} ELSE 0 END",
            (0..100)
                .map(|i| format!("WHEN x = {i} THEN {i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(tokens(&case).is_ok(), "{:?}", tokens(&case));
        // Planning a searched CASE grows much faster than its branches
        // (found attacking the HTTP API: 2,500 took minutes of CPU).
        let case = |n: usize| {
            let whens: Vec<_> = (0..n)
                .map(|i| format!("WHEN fare = {i} THEN true"))
                .collect();
            format!("CASE {} ELSE false END", whens.join(" "))
        };
        assert!(tokens(&case(200)).is_ok());
        let e = tokens(&case(201)).unwrap_err();
        assert!(e.0.contains("more than 200 CASE branches"), "{e}");
    }

    #[test]
    fn token_count_is_bounded() {
        let e = tokens(&format!("x IN ({})", chain(", ", 5_000))).unwrap_err();
        assert!(e.0.contains("--max-expr-nodes"), "{e}");
    }

    #[test]
    fn exact_depth_counts_expressions_joins_and_set_operations() {
        assert!(parsed(&format!("SELECT {}", chain(" + ", 15))).is_ok());
        let e = parsed(&format!("SELECT {}", chain(" + ", 25))).unwrap_err();
        assert!(e.0.contains("nested too deeply"), "{e}");
        let unions = vec!["SELECT 1"; 25].join(" UNION ALL ");
        assert!(parsed(&unions).is_err());
        let joins = format!(
            "SELECT 1 FROM t0 {}",
            (1..25)
                .map(|i| format!("JOIN t{i} ON true"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(parsed(&joins).is_err());
        assert!(parsed("SELECT a FROM t JOIN u ON t.x = u.x WHERE a > 1").is_ok());
    }

    #[test]
    fn common_table_expressions_count_once_per_use() {
        let mut text = String::from("WITH a0 AS (SELECT 1 AS x)");
        for i in 1..40 {
            text.push_str(&format!(
                ", a{i} AS (SELECT x FROM a{p} UNION ALL SELECT x FROM a{p})",
                p = i - 1
            ));
        }
        text.push_str(" SELECT x FROM a39");
        let statement = Parser::parse_sql(&GenericDialect {}, &text)
            .unwrap()
            .pop()
            .unwrap();
        let e = ExprLimits::default()
            .check_statement("SQL", &statement)
            .unwrap_err();
        assert!(e.0.contains("plans to more than"), "{e}");
        // Every definition is planned, used or not.
        let unused = text.replace(" SELECT x FROM a39", " SELECT 1");
        let statement = Parser::parse_sql(&GenericDialect {}, &unused)
            .unwrap()
            .pop()
            .unwrap();
        let e = ExprLimits::default()
            .check_statement("SQL", &statement)
            .unwrap_err();
        assert!(e.0.contains("plans to more than"), "{e}");
        // References outside the body count too: a11 is under the limit
        // (4,095 operators), two uses in ORDER BY are over it.
        let mut ordered = String::from("WITH a0 AS (SELECT 1 AS x)");
        for i in 1..12 {
            ordered.push_str(&format!(
                ", a{i} AS (SELECT x FROM a{p} UNION ALL SELECT x FROM a{p})",
                p = i - 1
            ));
        }
        let once = format!("{ordered} SELECT 1 AS y ORDER BY (SELECT max(x) FROM a11)");
        let twice = format!("{once}, (SELECT min(x) FROM a11)");
        for (text, ok) in [(once, true), (twice, false)] {
            let statement = Parser::parse_sql(&GenericDialect {}, &text)
                .unwrap()
                .pop()
                .unwrap();
            let checked = ExprLimits::default().check_statement("SQL", &statement);
            assert_eq!(checked.is_ok(), ok, "{checked:?}");
        }
        let fine = Parser::parse_sql(
            &GenericDialect {},
            "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM a JOIN b ON a.x = b.x",
        )
        .unwrap()
        .pop()
        .unwrap();
        assert!(ExprLimits::default().check_statement("SQL", &fine).is_ok());
        // A dbt-style pipeline: each step reads the previous one and a table.
        let mut text = String::from("WITH c0 AS (SELECT 1 AS x)");
        for i in 1..300 {
            text.push_str(&format!(
                ", c{i} AS (SELECT c.x FROM c{p} c JOIN t{i} ON true)",
                p = i - 1
            ));
        }
        text.push_str(" SELECT x FROM c299");
        let pipeline = Parser::parse_sql(&GenericDialect {}, &text)
            .unwrap()
            .pop()
            .unwrap();
        assert!(
            ExprLimits::default()
                .check_statement("SQL", &pipeline)
                .is_ok()
        );
    }

    #[test]
    fn qualified_names_do_not_count_as_nesting() {
        let conjuncts = (0..100)
            .map(|i| format!("t.a{i} = x.b{i}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert!(tokens(&conjuncts).is_ok(), "{:?}", tokens(&conjuncts));
    }

    #[test]
    fn exact_node_count() {
        let e = parsed(&format!("SELECT {}", chain(", ", 300))).unwrap_err();
        assert!(e.0.contains("too large"), "{e}");
    }
}
