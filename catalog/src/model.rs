//! Catalog records.

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::names::DatasetName;

/// A namespace groups datasets (a Flight SQL schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// Validated, lower-case name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
}

/// File format of a dataset's data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetFormat {
    /// Apache Parquet files.
    Parquet,
}

impl DatasetFormat {
    /// The name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
        }
    }

    /// Parses a stored or user-given format name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Self::Parquet),
            other => Err(CatalogError::invalid(format!(
                "unsupported dataset format '{other}': supported formats are: parquet"
            ))),
        }
    }
}

/// Type of a hive-style partition column (`key=value` directories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionType {
    /// UTF-8 string.
    String,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// Calendar date, `YYYY-MM-DD`.
    Date,
}

/// A declared hive-style partition column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionColumn {
    /// Column name as it appears in the path (`name=value`).
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub data_type: PartitionType,
}

/// Format and layout options of a dataset, stored as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetOptions {
    /// Hive partition columns. When absent they are inferred from the
    /// directory names and typed as strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_columns: Option<Vec<PartitionColumn>>,
    /// Only files with this suffix are read (default: the format's own, e.g. `.parquet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_extension: Option<String>,
}

impl DatasetOptions {
    /// Parses options JSON, naming the problem on failure.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| CatalogError::invalid(format!("invalid dataset options: {e}")))
    }
}

/// A registered dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    /// `namespace.dataset`.
    pub name: DatasetName,
    /// Free text, searchable.
    pub description: String,
    /// Labels, searchable.
    pub tags: Vec<String>,
    /// File format.
    pub format: DatasetFormat,
    /// URL of the dataset's root (a directory, ending in `/`) or of one file.
    pub location: String,
    /// Format and layout options.
    pub options: DatasetOptions,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
    /// Last change, Unix epoch milliseconds.
    pub updated_at: i64,
    /// Incremented on every change; caches key on it.
    pub revision: i64,
}

impl Dataset {
    /// Case-insensitive match of `needle` against name, description and tags.
    pub fn matches(&self, needle: &str) -> bool {
        let needle = needle.trim().to_lowercase();
        if needle.is_empty() {
            return true;
        }
        self.name.to_string().contains(&needle)
            || self.description.to_lowercase().contains(&needle)
            || self.tags.iter().any(|t| t.to_lowercase().contains(&needle))
    }
}

/// What a caller supplies to register a dataset.
#[derive(Debug, Clone)]
pub struct NewDataset {
    /// `namespace.dataset`; the namespace must exist.
    pub name: DatasetName,
    /// Free text.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// File format.
    pub format: DatasetFormat,
    /// URL of the data (directory ending in `/`, or a file).
    pub location: String,
    /// Format and layout options.
    pub options: DatasetOptions,
}

/// A user account.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// PHC-format password hash (argon2).
    pub password_hash: String,
    /// Disabled accounts cannot authenticate.
    pub disabled: bool,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
}

/// Permission to perform `action` on datasets matching `pattern`
/// (`namespace.*` or `namespace.dataset`, or `*` for everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The user the grant belongs to.
    pub principal: String,
    /// Dataset pattern.
    pub pattern: String,
    /// Action name (`read`).
    pub action: String,
}

impl Grant {
    /// Whether the grant's pattern covers `name`.
    pub fn covers(&self, name: &DatasetName) -> bool {
        match self.pattern.split_once('.') {
            _ if self.pattern == "*" => true,
            Some((ns, "*")) => ns == name.namespace,
            Some((ns, ds)) => ns == name.namespace && ds == name.dataset,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_patterns() {
        let g = |p: &str| Grant {
            principal: "u".into(),
            pattern: p.into(),
            action: "read".into(),
        };
        let trips = DatasetName::parse("demo.trips").unwrap();
        assert!(g("*").covers(&trips));
        assert!(g("demo.*").covers(&trips));
        assert!(g("demo.trips").covers(&trips));
        assert!(!g("demo.zones").covers(&trips));
        assert!(!g("other.*").covers(&trips));
        assert!(!g("demo").covers(&trips));
    }

    #[test]
    fn options_reject_unknown_fields() {
        let err = DatasetOptions::from_json(r#"{"partition_cols": []}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `partition_cols`"),
            "{err}"
        );
        let ok = DatasetOptions::from_json(
            r#"{"partition_columns": [{"name": "month", "type": "string"}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok.partition_columns.unwrap()[0].data_type,
            PartitionType::String
        );
    }
}
