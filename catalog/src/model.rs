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
    /// Delimited text with an optional header row (see [`CsvOptions`]).
    Csv,
    /// Newline-delimited JSON, one object per line.
    Json,
    /// Arrow IPC files.
    Arrow,
    /// A Delta Lake table (Parquet files and a `_delta_log/` transaction log).
    Delta,
    /// A built-in dataset of the `system` namespace (cannot be registered).
    System,
}

impl DatasetFormat {
    /// The name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Arrow => "arrow",
            Self::Delta => "delta",
            Self::System => "system",
        }
    }

    /// The file suffix read by default.
    pub fn default_extension(self) -> &'static str {
        match self {
            Self::Parquet => ".parquet",
            Self::Csv => ".csv",
            Self::Json => ".json",
            Self::Arrow => ".arrow",
            Self::Delta => ".parquet",
            Self::System => "",
        }
    }

    /// Parses a stored or user-given format name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Self::Parquet),
            "csv" => Ok(Self::Csv),
            "json" | "ndjson" | "jsonl" => Ok(Self::Json),
            "arrow" | "ipc" | "arrow_ipc" => Ok(Self::Arrow),
            "delta" | "deltalake" | "delta_lake" => Ok(Self::Delta),
            other => Err(CatalogError::invalid(format!(
                "unsupported dataset format '{other}': supported formats are: parquet, csv, json, arrow, delta"
            ))),
        }
    }
}

/// How CSV files are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// The first line names the columns (default true).
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// One ASCII character separating fields (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            delimiter: default_delimiter(),
        }
    }
}

impl CsvOptions {
    /// The delimiter as a byte; errors unless it is one ASCII character.
    pub fn delimiter_byte(&self) -> Result<u8> {
        match self.delimiter.as_bytes() {
            [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' && *b != b'"' => Ok(*b),
            _ => Err(CatalogError::invalid(format!(
                "invalid CSV delimiter '{}': use one ASCII character other than a quote or line break",
                self.delimiter
            ))),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_delimiter() -> String {
    ",".to_string()
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
    /// CSV layout (only for the `csv` format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
    /// Rules every upload must meet (Delta datasets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::Rule>,
    /// Fed from a landing dataset: each landing commit is transformed into
    /// this (Delta) dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<crate::rules::Transform>,
    /// Days a landing (Delta) dataset keeps its landed files; older ones
    /// are removed from the table, and deleted from the store after the
    /// server's deletion delay (a day by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

impl DatasetOptions {
    /// Checks the options make sense for `format`.
    pub fn validate(&self, format: DatasetFormat) -> Result<()> {
        if format == DatasetFormat::Delta
            && (self.partition_columns.is_some() || self.file_extension.is_some())
        {
            return Err(CatalogError::invalid(
                "'partition_columns' and 'file_extension' do not apply to Delta tables: their transaction log lists the files and partitions",
            ));
        }
        if !self.rules.is_empty() && format != DatasetFormat::Delta {
            return Err(CatalogError::invalid(
                "'rules' apply to Delta datasets, the ones uploads write to",
            ));
        }
        for rule in &self.rules {
            rule.validate()?;
        }
        if format != DatasetFormat::Delta
            && (self.transform.is_some() || self.retention_days.is_some())
        {
            return Err(CatalogError::invalid(
                "'transform' and 'retention_days' apply to Delta datasets",
            ));
        }
        if let Some(t) = &self.transform {
            t.validate()?;
        }
        if self.retention_days == Some(0) {
            return Err(CatalogError::invalid("'retention_days' must be at least 1"));
        }
        if let Some(csv) = &self.csv {
            if format != DatasetFormat::Csv {
                return Err(CatalogError::invalid(format!(
                    "'csv' options apply to the csv format, not {}",
                    format.as_str()
                )));
            }
            csv.delimiter_byte()?;
        }
        if let Some(cols) = &self.partition_columns {
            let mut seen = std::collections::HashSet::new();
            for c in cols {
                crate::names::validate_ident("partition column", &c.name)?;
                if !seen.insert(c.name.as_str()) {
                    return Err(CatalogError::invalid(format!(
                        "partition column '{}' is declared twice",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

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
    /// Who answers for the dataset (a team or person; free text).
    pub owner: String,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
    /// Last change, Unix epoch milliseconds.
    pub updated_at: i64,
    /// Last explicit refresh, Unix epoch milliseconds (0: never).
    pub refreshed_at: i64,
    /// Incremented on every change and refresh; caches key on it.
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
    /// Who answers for the dataset.
    pub owner: String,
}

/// Changes to a registered dataset; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DatasetUpdate {
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New format.
    pub format: Option<DatasetFormat>,
    /// New location.
    pub location: Option<String>,
    /// New options.
    pub options: Option<DatasetOptions>,
    /// New owner.
    pub owner: Option<String>,
}

impl DatasetUpdate {
    /// `dataset` with the changes applied (revision and times untouched).
    pub fn apply(self, dataset: &Dataset) -> Dataset {
        let mut d = dataset.clone();
        if let Some(v) = self.description {
            d.description = v;
        }
        if let Some(v) = self.tags {
            d.tags = v;
        }
        if let Some(v) = self.format {
            d.format = v;
        }
        if let Some(v) = self.location {
            d.location = v;
        }
        if let Some(v) = self.options {
            d.options = v;
        }
        if let Some(v) = self.owner {
            d.owner = v;
        }
        d
    }
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
    /// `user` (password and API keys) or `service` (API keys only).
    pub kind: String,
    /// Attributes row filters can read through `principal_attribute('name')`.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Tokens issued before this time (Unix epoch milliseconds) are revoked.
    pub tokens_not_before: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_csv_options() {
        assert_eq!(DatasetFormat::parse("NDJSON").unwrap(), DatasetFormat::Json);
        assert_eq!(DatasetFormat::parse("ipc").unwrap(), DatasetFormat::Arrow);
        assert!(
            DatasetFormat::parse("xlsx")
                .unwrap_err()
                .to_string()
                .contains("supported formats")
        );
        let o = DatasetOptions::from_json(r#"{"csv": {"delimiter": ";"}}"#).unwrap();
        let csv = o.csv.clone().unwrap();
        assert!(csv.has_header);
        assert_eq!(csv.delimiter_byte().unwrap(), b';');
        assert!(o.validate(DatasetFormat::Csv).is_ok());
        assert!(o.validate(DatasetFormat::Parquet).is_err());
        let bad = DatasetOptions::from_json(r#"{"csv": {"delimiter": "ab"}}"#).unwrap();
        assert!(
            bad.validate(DatasetFormat::Csv)
                .unwrap_err()
                .to_string()
                .contains("delimiter")
        );
        let dup = DatasetOptions::from_json(
            r#"{"partition_columns": [{"name": "y", "type": "int32"}, {"name": "y", "type": "string"}]}"#,
        )
        .unwrap();
        assert!(dup.validate(DatasetFormat::Csv).is_err());
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
