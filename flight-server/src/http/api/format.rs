//! The file formats an HTTP download comes in: the `format` parameter,
//! file name extensions and media types.

use super::problem::Problem;

/// A download's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Arrow IPC stream.
    Arrow,
    /// Apache Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a `format` parameter names (CSV when absent).
    pub fn parse(name: Option<&str>) -> Result<Self, Problem> {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None | Some("csv") => Ok(Self::Csv),
            Some("parquet") => Ok(Self::Parquet),
            Some("jsonl" | "ndjson") => Ok(Self::Jsonl),
            Some("arrow" | "ipc") => Ok(Self::Arrow),
            Some(other) => Err(Problem::invalid(format!(
                "parameter 'format' must be one of: csv, parquet, jsonl, arrow (got '{}')",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Arrow => "arrow",
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_formats_are_named() {
        assert_eq!(Format::parse(None).unwrap(), Format::Csv);
        assert_eq!(Format::parse(Some("Parquet")).unwrap(), Format::Parquet);
        let e = Format::parse(Some("xlsx")).unwrap_err();
        assert!(format!("{e:?}").contains("csv, parquet, jsonl, arrow"));
    }
}
