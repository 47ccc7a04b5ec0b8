//! Checking an upload's rows against the dataset's rules, batch by batch:
//! each rule's predicate is planned once against the upload's schema and
//! evaluated on every batch; `unique` keys are remembered across batches.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::array_value_to_string;
use datafusion::common::DFSchema;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::execution::session_state::SessionState;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use laker_catalog::rules::Rule;

use crate::error::{IngestError, Result};

/// Most offending rows quoted in an error.
const EXAMPLES: usize = 5;
/// Most distinct keys a `unique` rule remembers for one upload.
const MAX_UNIQUE_KEYS: usize = 50_000_000;

struct Predicate {
    rule: Rule,
    expr: Arc<dyn PhysicalExpr>,
}

struct UniqueKey {
    rule: Rule,
    columns: Vec<usize>,
    converter: RowConverter,
    seen: HashSet<Box<[u8]>>,
}

/// Bytes a remembered key costs besides its own (the set's entry, the box).
const KEY_OVERHEAD: usize = 48;

/// The rules of one dataset, ready to check an upload's batches.
pub struct RuleChecker {
    predicates: Vec<Predicate>,
    unique: Vec<UniqueKey>,
    /// What the remembered keys take, charged to the upload's memory.
    keys: Option<MemoryReservation>,
}

fn unusable(rule: &Rule, e: impl std::fmt::Display) -> IngestError {
    IngestError::FailedPrecondition(format!(
        "the dataset's rule {} cannot be checked against this upload: {e}",
        rule.name()
    ))
}

impl RuleChecker {
    /// Plans `rules` against `schema` (the upload as it will be written) in
    /// `session` (whose limits and guarded functions apply to them).
    pub fn new(session: &SessionState, rules: &[Rule], schema: &SchemaRef) -> Result<Self> {
        let ctx = SessionContext::new_with_state(session.clone());
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut predicates = Vec::new();
        let mut unique = Vec::new();
        for rule in rules {
            match rule.predicate()? {
                Some(sql) => {
                    let expr = laker_query::filter::compile_filter(session, &sql, &df_schema)
                        .map_err(|e| unusable(rule, e))?;
                    let expr = ctx
                        .create_physical_expr(expr, &df_schema)
                        .map_err(|e| unusable(rule, e.strip_backtrace()))?;
                    predicates.push(Predicate {
                        rule: rule.clone(),
                        expr,
                    });
                }
                None => {
                    let columns = rule
                        .columns()
                        .iter()
                        .map(|c| schema.index_of(c).map_err(|e| unusable(rule, e)))
                        .collect::<Result<Vec<_>>>()?;
                    let fields = columns
                        .iter()
                        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                        .collect();
                    unique.push(UniqueKey {
                        rule: rule.clone(),
                        columns,
                        converter: RowConverter::new(fields)?,
                        seen: HashSet::new(),
                    });
                }
            }
        }
        Ok(Self {
            predicates,
            unique,
            keys: None,
        })
    }

    /// Charges the keys `unique` rules remember to `pool` (the upload's).
    pub fn with_memory(mut self, pool: &Arc<dyn MemoryPool>) -> Self {
        self.keys = Some(MemoryConsumer::new("unique rule keys").register(pool));
        self
    }

    /// Checks `batch`, whose first row is row `first_row` of the upload.
    pub fn check(&mut self, batch: &RecordBatch, first_row: u64) -> Result<()> {
        for p in &self.predicates {
            let value = p.expr.evaluate(batch)?.into_array(batch.num_rows())?;
            let Some(verdict) = value.as_any().downcast_ref::<BooleanArray>() else {
                return Err(unusable(&p.rule, "it is not a boolean expression"));
            };
            let bad: Vec<usize> = (0..verdict.len())
                .filter(|&i| verdict.is_valid(i) && !verdict.value(i))
                .collect();
            if !bad.is_empty() {
                return Err(violation(&p.rule, batch, &bad, first_row));
            }
        }
        for u in &mut self.unique {
            let columns: Vec<_> = u
                .columns
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect();
            let rows = u.converter.convert_columns(&columns)?;
            let mut bad = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let key: Box<[u8]> = row.as_ref().into();
                if u.seen.contains(&key) {
                    bad.push(i);
                    continue;
                }
                if let Some(keys) = &self.keys {
                    keys.try_grow(key.len() + KEY_OVERHEAD).map_err(|_| {
                        IngestError::ResourceExhausted(format!(
                            "rule {}: the upload's distinct keys take more memory than an \
                             upload may use; upload fewer rows at once",
                            u.rule.name()
                        ))
                    })?;
                }
                u.seen.insert(key);
            }
            if !bad.is_empty() {
                return Err(violation(&u.rule, batch, &bad, first_row));
            }
            if u.seen.len() > MAX_UNIQUE_KEYS {
                return Err(IngestError::ResourceExhausted(format!(
                    "rule {} can check at most {MAX_UNIQUE_KEYS} keys per upload",
                    u.rule.name()
                )));
            }
        }
        Ok(())
    }
}

/// The error for rows `bad` of `batch` breaking `rule`: the rule, how many
/// rows, and a few of them with their values.
fn violation(rule: &Rule, batch: &RecordBatch, bad: &[usize], first_row: u64) -> IngestError {
    let mut columns: Vec<&str> = rule.columns();
    if columns.is_empty() {
        columns = batch
            .schema_ref()
            .fields()
            .iter()
            .take(4)
            .map(|f| f.name().as_str())
            .collect();
    }
    let examples: Vec<String> = bad
        .iter()
        .take(EXAMPLES)
        .map(|&i| {
            let values: Vec<String> = columns
                .iter()
                .filter_map(|c| {
                    let column = batch.column_by_name(c)?;
                    let text = if column.is_null(i) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(column, i).unwrap_or_default()
                    };
                    Some(format!("{c}={text}"))
                })
                .collect();
            format!("row {} ({})", first_row + i as u64, values.join(", "))
        })
        .collect();
    IngestError::InvalidArgument(format!(
        "rule {} violated by {} row(s) of this batch, e.g. {}; nothing was written",
        rule.name(),
        bad.len(),
        examples.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(ids: Vec<i64>, amounts: Vec<f64>, kinds: Vec<&str>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("kind", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(amounts)),
                Arc::new(StringArray::from(kinds)),
            ],
        )
        .unwrap()
    }

    fn rules(json: &str) -> Vec<Rule> {
        serde_json::from_str(json).unwrap()
    }

    fn session() -> SessionState {
        SessionContext::new().state()
    }

    #[test]
    fn each_rule_names_itself_and_the_rows() {
        let good = batch(vec![1, 2], vec![5.0, 10.0], vec!["a", "b"]);
        let cases = [
            (
                r#"[{"range": {"column": "amount", "min": 0, "max": 9}}]"#,
                "rule range(amount) violated by 1 row(s) of this batch, e.g. row 101 (amount=10.0)",
            ),
            (
                r#"[{"allowed": {"column": "kind", "values": ["a"]}}]"#,
                "rule allowed(kind) violated by 1 row(s) of this batch, e.g. row 101 (kind=b)",
            ),
            (
                r#"[{"check": {"name": "small", "sql": "amount * id < 15"}}]"#,
                "rule check(small) violated by 1 row(s)",
            ),
        ];
        for (json, expected) in cases {
            let mut checker = RuleChecker::new(&session(), &rules(json), &good.schema()).unwrap();
            let e = checker.check(&good, 100).unwrap_err().to_string();
            assert!(e.contains(expected), "{json}: {e}");
        }
    }

    #[test]
    fn unique_keys_are_remembered_across_batches() {
        let first = batch(vec![1, 2], vec![1.0, 1.0], vec!["a", "a"]);
        let second = batch(vec![3, 1], vec![1.0, 1.0], vec!["a", "a"]);
        let mut checker = RuleChecker::new(
            &session(),
            &rules(r#"[{"unique": {"columns": ["id"]}}]"#),
            &first.schema(),
        )
        .unwrap();
        checker.check(&first, 0).unwrap();
        let e = checker.check(&second, 2).unwrap_err().to_string();
        let pool: Arc<dyn MemoryPool> = Arc::new(
            datafusion::execution::memory_pool::GreedyMemoryPool::new(100),
        );
        let mut bounded = RuleChecker::new(
            &session(),
            &rules(r#"[{"unique": {"columns": ["id"]}}]"#),
            &first.schema(),
        )
        .unwrap()
        .with_memory(&pool);
        let full = bounded.check(&first, 0).unwrap_err().to_string();
        assert!(full.contains("distinct keys take more memory"), "{full}");
        assert!(
            e.contains("rule unique(id) violated by 1 row(s) of this batch, e.g. row 3 (id=1)"),
            "{e}"
        );
    }

    #[test]
    fn rules_that_do_not_fit_the_upload_are_reported() {
        let good = batch(vec![1], vec![1.0], vec!["a"]);
        let e = RuleChecker::new(
            &session(),
            &rules(r#"[{"check": {"name": "c", "sql": "nope > 1"}}]"#),
            &good.schema(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("rule check(c) cannot be checked"),
            "{e}"
        );
    }
}
