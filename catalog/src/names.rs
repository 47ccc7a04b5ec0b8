//! Validated names: namespaces, datasets and `namespace.dataset` pairs.

use std::fmt;

use crate::error::{CatalogError, Result};

/// Longest accepted identifier.
const MAX_IDENT_LEN: usize = 63;

/// Checks one identifier (namespace, dataset or user name part) and returns it
/// lower-cased. Identifiers start with a letter or `_` and hold ASCII letters,
/// digits and `_`; they are case-insensitive.
pub fn validate_ident(kind: &str, raw: &str) -> Result<String> {
    let ident = normalize_ident(raw);
    let mut chars = ident.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let ok_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok_start || !ok_rest || ident.len() > MAX_IDENT_LEN {
        return Err(CatalogError::invalid(format!(
            "invalid {kind} name '{}': use 1-{MAX_IDENT_LEN} characters [a-z0-9_], starting with a letter or '_'",
            truncate(raw)
        )));
    }
    Ok(ident)
}

/// An identifier as stored: trimmed and lower-cased (not yet validated).
pub fn normalize_ident(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// Shortens user input quoted back in error messages.
fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// A fully qualified dataset name, `namespace.dataset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetName {
    /// The namespace (Flight SQL schema).
    pub namespace: String,
    /// The dataset within the namespace (Flight SQL table).
    pub dataset: String,
}

impl DatasetName {
    /// Builds a name from its two parts, validating both.
    pub fn new(namespace: &str, dataset: &str) -> Result<Self> {
        Ok(Self {
            namespace: validate_ident("namespace", namespace)?,
            dataset: validate_ident("dataset", dataset)?,
        })
    }

    /// Parses `namespace.dataset`.
    pub fn parse(qualified: &str) -> Result<Self> {
        match qualified.split_once('.') {
            Some((ns, ds)) if !ds.contains('.') => Self::new(ns, ds),
            _ => Err(CatalogError::invalid(format!(
                "invalid dataset name '{}': expected 'namespace.dataset'",
                truncate(qualified)
            ))),
        }
    }
}

impl serde::Serialize for DatasetName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace, self.dataset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let n = DatasetName::parse("Demo.Trips").unwrap();
        assert_eq!(n.to_string(), "demo.trips");
        assert_eq!(n.namespace, "demo");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "demo",
            "a.b.c",
            ".x",
            "x.",
            "1a.b",
            "a.b-c",
            "a b.c",
            "../etc.passwd",
        ] {
            let err = DatasetName::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid"), "{bad}: {err}");
        }
        let long = format!("a.{}", "b".repeat(64));
        assert!(DatasetName::parse(&long).is_err());
    }
}
