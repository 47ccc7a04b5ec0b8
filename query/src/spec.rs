//! The download spec: what slice of a dataset a client wants.
//!
//! ```json
//! {"dataset": "demo.trips", "columns": ["pickup_at", "fare"],
//!  "filter": "fare > 30 AND passengers >= 2", "limit": 1000, "order_by": ["fare DESC"]}
//! ```
//!
//! Delta tables can be read as of an older version: `"version": 3`, or
//! `"as_of": "2024-05-01T12:00:00Z"` (the newest version committed then).

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use laker_catalog::DatasetName;

use crate::tables::DeltaVersion;
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};

/// Largest accepted spec document, in bytes.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// Longest accepted filter expression, in bytes.
pub const MAX_FILTER_BYTES: usize = 64 * 1024;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u64 = i64::MAX as u64;
/// Most columns a spec may name.
pub const MAX_COLUMNS: usize = 10_000;

/// A client's request for a slice of one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadSpec {
    /// `namespace.dataset`.
    pub dataset: String,
    /// Columns to return, in this order; all columns when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// SQL boolean expression over the dataset's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Return at most this many rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Sort keys: `"column"`, `"column DESC"`, optionally `NULLS FIRST|LAST`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    /// Delta tables only: read this table version instead of the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Delta tables only: read the newest version committed at or before
    /// this time (RFC 3339, or `YYYY-MM-DD[ HH:MM:SS]` in UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// One parsed `order_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Column name.
    pub column: String,
    /// Descending instead of ascending.
    pub descending: bool,
    /// Nulls before non-nulls (default: last for ASC, first for DESC).
    pub nulls_first: bool,
}

impl DownloadSpec {
    /// Parses and checks a JSON spec.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SPEC_BYTES {
            return Err(QueryError::InvalidSpec(format!(
                "download spec is larger than {MAX_SPEC_BYTES} bytes"
            )));
        }
        let spec: Self = serde_json::from_slice(bytes)
            .map_err(|e| QueryError::InvalidSpec(format!("invalid download spec: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// A spec for the whole of `dataset`.
    pub fn whole(dataset: &DatasetName) -> Self {
        Self {
            dataset: dataset.to_string(),
            columns: None,
            filter: None,
            limit: None,
            order_by: Vec::new(),
            version: None,
            as_of: None,
        }
    }

    /// The spec as canonical JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks what can be checked without the dataset's schema.
    pub fn validate(&self) -> Result<()> {
        self.dataset_name()?;
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                return Err(QueryError::spec(
                    "columns",
                    "must name at least one column (omit it for all columns)",
                ));
            }
            if columns.len() > MAX_COLUMNS {
                return Err(QueryError::spec(
                    "columns",
                    format!("more than {MAX_COLUMNS} columns"),
                ));
            }
            let mut seen = HashSet::new();
            if let Some(dup) = columns.iter().find(|c| !seen.insert(c.as_str())) {
                return Err(QueryError::spec(
                    "columns",
                    format!("column '{dup}' is named twice"),
                ));
            }
        }
        if let Some(filter) = &self.filter {
            if filter.trim().is_empty() {
                return Err(QueryError::spec(
                    "filter",
                    "is empty (omit it for all rows)",
                ));
            }
            if filter.len() > MAX_FILTER_BYTES {
                return Err(QueryError::spec(
                    "filter",
                    format!("is longer than {MAX_FILTER_BYTES} bytes"),
                ));
            }
        }
        if self.limit.is_some_and(|l| l > MAX_LIMIT) {
            return Err(QueryError::spec(
                "limit",
                format!("must be at most {MAX_LIMIT}"),
            ));
        }
        if self.order_by.len() > MAX_COLUMNS {
            return Err(QueryError::spec(
                "order_by",
                format!("more than {MAX_COLUMNS} sort keys"),
            ));
        }
        self.sort_keys()?;
        self.table_version()?;
        Ok(())
    }

    /// Which Delta version the spec reads.
    pub fn table_version(&self) -> Result<DeltaVersion> {
        match (self.version, &self.as_of) {
            (Some(_), Some(_)) => Err(QueryError::spec(
                "as_of",
                "give either 'version' or 'as_of', not both",
            )),
            (Some(v), None) if v > i64::MAX as u64 => Err(QueryError::spec(
                "version",
                format!("must be at most {}", i64::MAX),
            )),
            (Some(v), None) => Ok(DeltaVersion::Version(v)),
            (None, Some(at)) => parse_timestamp(at).map(DeltaVersion::AsOf),
            (None, None) => Ok(DeltaVersion::Latest),
        }
    }

    /// The dataset name, validated.
    pub fn dataset_name(&self) -> Result<DatasetName> {
        DatasetName::parse(&self.dataset).map_err(|e| QueryError::spec("dataset", e))
    }

    /// The parsed `order_by` keys.
    pub fn sort_keys(&self) -> Result<Vec<SortKey>> {
        self.order_by.iter().map(|s| parse_sort_key(s)).collect()
    }
}

/// RFC 3339, or a date / date-time without offset taken as UTC.
fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t.and_utc());
        }
    }
    if let Some(t) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(QueryError::spec(
        "as_of",
        format!(
            "'{raw}' is not a timestamp; use RFC 3339 (2024-05-01T12:00:00Z) or 'YYYY-MM-DD[ HH:MM:SS]' in UTC"
        ),
    ))
}

fn parse_sort_key(raw: &str) -> Result<SortKey> {
    let bad = || {
        QueryError::spec(
            "order_by",
            format!("'{raw}' is not 'column [ASC|DESC] [NULLS FIRST|NULLS LAST]'"),
        )
    };
    let words: Vec<&str> = raw.split_whitespace().collect();
    let (column, rest) = words.split_first().ok_or_else(bad)?;
    let upper: Vec<String> = rest.iter().map(|w| w.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let (descending, rest) = match upper.as_slice() {
        ["DESC", rest @ ..] => (true, rest),
        ["ASC", rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    let nulls_first = match rest {
        [] => descending,
        ["NULLS", "FIRST"] => true,
        ["NULLS", "LAST"] => false,
        _ => return Err(bad()),
    };
    Ok(SortKey {
        column: (*column).to_string(),
        descending,
        nulls_first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DownloadSpec> {
        DownloadSpec::from_json(json.as_bytes())
    }

    #[test]
    fn full_spec_round_trips() {
        let s = parse(
            r#"{"dataset":"demo.trips","columns":["pickup_at","fare"],"filter":"fare > 30","limit":1000,"order_by":["fare desc"]}"#,
        )
        .unwrap();
        assert_eq!(s.limit, Some(1000));
        assert_eq!(parse(&s.to_json()).unwrap(), s);
        let k = &s.sort_keys().unwrap()[0];
        assert_eq!(
            (k.column.as_str(), k.descending, k.nulls_first),
            ("fare", true, true)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"dataset":"demo.trips","colums":["a"]}"#,
                "unknown field `colums`",
            ),
            (r#"{"columns":["a"]}"#, "missing field `dataset`"),
            (r#"{"dataset":"trips"}"#, "dataset: invalid dataset name"),
            (
                r#"{"dataset":"demo.trips","columns":[]}"#,
                "columns: must name",
            ),
            (
                r#"{"dataset":"demo.trips","columns":["a","a"]}"#,
                "columns: column 'a' is named twice",
            ),
            (
                r#"{"dataset":"demo.trips","filter":"  "}"#,
                "filter: is empty",
            ),
            (
                r#"{"dataset":"demo.trips","limit":-1}"#,
                "invalid download spec",
            ),
            (
                r#"{"dataset":"demo.trips","order_by":["fare sideways"]}"#,
                "order_by: 'fare sideways'",
            ),
            ("not json", "invalid download spec"),
            (
                r#"{"dataset":"demo.trips","limit":18446744073709551615}"#,
                "limit: must be at most",
            ),
            (
                r#"{"dataset":"demo.trips","version":1,"as_of":"2024-01-01"}"#,
                "as_of: give either 'version' or 'as_of', not both",
            ),
            (
                r#"{"dataset":"demo.trips","as_of":"yesterday"}"#,
                "as_of: 'yesterday' is not a timestamp",
            ),
            (
                r#"{"dataset":"demo.trips","version":-1}"#,
                "invalid download spec",
            ),
        ];
        for (json, want) in cases {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn time_travel_forms() {
        let v = |json: &str| parse(json).unwrap().table_version().unwrap();
        assert_eq!(v(r#"{"dataset":"a.b"}"#), DeltaVersion::Latest);
        assert_eq!(
            v(r#"{"dataset":"a.b","version":3}"#),
            DeltaVersion::Version(3)
        );
        let at = |s: &str| match v(&format!(r#"{{"dataset":"a.b","as_of":"{s}"}}"#)) {
            DeltaVersion::AsOf(t) => t.to_rfc3339(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at("2024-05-01T12:00:00+02:00"), "2024-05-01T10:00:00+00:00");
        assert_eq!(at("2024-05-01 12:00:00"), "2024-05-01T12:00:00+00:00");
        assert_eq!(at("2024-05-01"), "2024-05-01T00:00:00+00:00");
    }

    #[test]
    fn sort_key_forms() {
        let k = parse_sort_key("fare").unwrap();
        assert!(!k.descending && !k.nulls_first);
        let k = parse_sort_key("fare DESC NULLS LAST").unwrap();
        assert!(k.descending && !k.nulls_first);
        let k = parse_sort_key("fare asc nulls first").unwrap();
        assert!(!k.descending && k.nulls_first);
    }
}
