//! Validation rules a dataset declares for its uploads. Each rule but
//! `unique` is a SQL boolean that every uploaded row must not make false
//! (NULL passes, as in a SQL CHECK constraint); `unique` keys must not
//! repeat within one upload.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CatalogError, Result};
use crate::names::validate_ident;

/// Longest SQL of a `check` rule.
const MAX_CHECK_SQL: usize = 4096;

/// One rule, written `{"not_null": {"column": "id"}}`, `{"range": {"column":
/// "amount", "min": 0, "max": 100000}}`, `{"allowed": {"column": "kind",
/// "values": ["a", "b"]}}`, `{"check": {"name": "fare_le_total", "sql":
/// "fare <= total"}}` or `{"unique": {"columns": ["id"]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// The column holds no null.
    NotNull {
        /// The column.
        column: String,
    },
    /// Values lie within `[min, max]` (either bound may be left out).
    Range {
        /// The column.
        column: String,
        /// Smallest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<Value>,
        /// Largest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<Value>,
    },
    /// Values are among these.
    Allowed {
        /// The column.
        column: String,
        /// The allowed values.
        values: Vec<Value>,
    },
    /// A SQL boolean expression over the row.
    Check {
        /// Named in error messages.
        name: String,
        /// The expression.
        sql: String,
    },
    /// These columns together do not repeat within one upload.
    Unique {
        /// The key columns.
        columns: Vec<String>,
    },
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(v: &Value) -> Result<String> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::String(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
        other => Err(CatalogError::invalid(format!(
            "rule values are numbers, strings or booleans, not {other}"
        ))),
    }
}

impl Rule {
    /// How errors name the rule, with its column(s).
    pub fn name(&self) -> String {
        match self {
            Self::NotNull { column } => format!("not_null({column})"),
            Self::Range { column, .. } => format!("range({column})"),
            Self::Allowed { column, .. } => format!("allowed({column})"),
            Self::Check { name, .. } => format!("check({name})"),
            Self::Unique { columns } => format!("unique({})", columns.join(", ")),
        }
    }

    /// The columns whose values an error shows.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Self::NotNull { column }
            | Self::Range { column, .. }
            | Self::Allowed { column, .. } => {
                vec![column.as_str()]
            }
            Self::Check { .. } => Vec::new(),
            Self::Unique { columns } => columns.iter().map(String::as_str).collect(),
        }
    }

    /// The SQL boolean each row must not make false; `None` for `unique`.
    pub fn predicate(&self) -> Result<Option<String>> {
        Ok(match self {
            Self::NotNull { column } => Some(format!("{} IS NOT NULL", ident(column))),
            Self::Range { column, min, max } => {
                let mut parts = Vec::new();
                if let Some(min) = min {
                    parts.push(format!("{} >= {}", ident(column), literal(min)?));
                }
                if let Some(max) = max {
                    parts.push(format!("{} <= {}", ident(column), literal(max)?));
                }
                if parts.is_empty() {
                    return Err(CatalogError::invalid(format!(
                        "rule {} needs 'min', 'max' or both",
                        self.name()
                    )));
                }
                Some(parts.join(" AND "))
            }
            Self::Allowed { column, values } => {
                if values.is_empty() {
                    return Err(CatalogError::invalid(format!(
                        "rule {} lists no values",
                        self.name()
                    )));
                }
                let list = values.iter().map(literal).collect::<Result<Vec<_>>>()?;
                Some(format!("{} IN ({})", ident(column), list.join(", ")))
            }
            Self::Check { sql, .. } => Some(format!("({sql})")),
            Self::Unique { .. } => None,
        })
    }

    /// Checks names, values and sizes (the SQL itself is checked against
    /// the data's schema when an upload is validated).
    pub fn validate(&self) -> Result<()> {
        for column in self.columns() {
            validate_ident("rule column", column)?;
        }
        match self {
            Self::Check { name, sql } => {
                validate_ident("rule name", name)?;
                if sql.trim().is_empty() || sql.len() > MAX_CHECK_SQL {
                    return Err(CatalogError::invalid(format!(
                        "rule {} needs SQL of 1 to {MAX_CHECK_SQL} bytes",
                        self.name()
                    )));
                }
            }
            Self::Unique { columns } if columns.is_empty() => {
                return Err(CatalogError::invalid(
                    "a unique rule names at least one column",
                ));
            }
            _ => {}
        }
        self.predicate().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_compile_to_sql() {
        let rules: Vec<Rule> = serde_json::from_str(
            r#"[{"not_null": {"column": "id"}},
                {"range": {"column": "amount", "min": 0, "max": 100}},
                {"allowed": {"column": "kind", "values": ["a", "it's"]}},
                {"check": {"name": "fare_le_total", "sql": "fare <= total"}},
                {"unique": {"columns": ["id"]}}]"#,
        )
        .unwrap();
        let sql: Vec<_> = rules.iter().map(|r| r.predicate().unwrap()).collect();
        assert_eq!(sql[0].as_deref(), Some("\"id\" IS NOT NULL"));
        assert_eq!(
            sql[1].as_deref(),
            Some("\"amount\" >= 0 AND \"amount\" <= 100")
        );
        assert_eq!(sql[2].as_deref(), Some("\"kind\" IN ('a', 'it''s')"));
        assert_eq!(sql[3].as_deref(), Some("(fare <= total)"));
        assert_eq!(sql[4], None);
        assert!(rules.iter().all(|r| r.validate().is_ok()));
    }

    #[test]
    fn bad_rules_are_refused() {
        let bad = [
            r#"{"range": {"column": "x"}}"#,
            r#"{"allowed": {"column": "x", "values": []}}"#,
            r#"{"allowed": {"column": "x", "values": [[1]]}}"#,
            r#"{"unique": {"columns": []}}"#,
            r#"{"check": {"name": "c", "sql": " "}}"#,
            r#"{"not_null": {"column": "bad name"}}"#,
        ];
        for text in bad {
            let rule: Rule = serde_json::from_str(text).unwrap();
            assert!(rule.validate().is_err(), "{text}");
        }
        assert!(serde_json::from_str::<Rule>(r#"{"regex": {"column": "x"}}"#).is_err());
    }
}

/// Longest SQL of a transform.
const MAX_TRANSFORM_SQL: usize = 64 * 1024;

/// How a curated dataset is derived from a landing dataset, written
/// `{"landing": "raw.orders", "sql": "SELECT … FROM landing"}`. After each
/// commit to the landing dataset, `sql` runs with the table `landing` bound
/// to the rows that commit added (other datasets are read by their
/// `namespace.dataset` names) and its result is appended to the curated
/// dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// The landing dataset, `namespace.dataset`.
    pub landing: String,
    /// A query over `landing`.
    pub sql: String,
    /// The catalog user the transform reads and writes as: whoever declared
    /// it (set by the server, never by the client).
    #[serde(default)]
    pub run_as: String,
}

impl Transform {
    /// Checks the landing name and the SQL's size.
    pub fn validate(&self) -> Result<()> {
        crate::names::DatasetName::parse(&self.landing).map_err(|_| {
            CatalogError::invalid(format!(
                "transform 'landing' must name a dataset as namespace.dataset, not '{}'",
                self.landing
            ))
        })?;
        if self.sql.trim().is_empty() || self.sql.len() > MAX_TRANSFORM_SQL {
            return Err(CatalogError::invalid(format!(
                "transform 'sql' must be a query of at most {MAX_TRANSFORM_SQL} bytes"
            )));
        }
        Ok(())
    }
}
