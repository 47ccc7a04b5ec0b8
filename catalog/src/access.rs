//! Access-control records: roles, grants and the row filters and column
//! masks a grant may carry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::names::{DatasetName, validate_ident};

/// Actions a grant can allow.
pub const ACTIONS: [&str; 4] = ["discover", "read", "write", "admin"];

/// Who a grant belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Grantee {
    /// A user or service account.
    User(String),
    /// A role; every principal holding it gets the grant.
    Role(String),
}

impl Grantee {
    /// `user` or `role`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Role(_) => "role",
        }
    }

    /// The user's or role's name.
    pub fn name(&self) -> &str {
        match self {
            Self::User(n) | Self::Role(n) => n,
        }
    }

    /// Rebuilds a grantee from its stored kind and name.
    pub(crate) fn from_parts(kind: &str, name: String) -> Result<Self> {
        match kind {
            "user" => Ok(Self::User(name)),
            "role" => Ok(Self::Role(name)),
            other => Err(CatalogError::Corrupt(format!(
                "unknown grantee kind '{other}'"
            ))),
        }
    }

    /// Validates and lower-cases the name.
    pub(crate) fn validated(self) -> Result<Self> {
        Ok(match self {
            Self::User(n) => Self::User(validate_ident("user", &n)?),
            Self::Role(n) => Self::Role(validate_ident("role", &n)?),
        })
    }
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}'", self.kind(), self.name())
    }
}

/// How a column is shown to a principal whose grant masks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnMask {
    /// The column is left out, as if the dataset did not have it.
    Hide,
    /// Every value reads as NULL.
    Null,
    /// Values are replaced by a keyed SHA-256 hex digest (equal values stay
    /// equal, so the column can still be joined and counted).
    Hash,
    /// Values are replaced by this SQL expression over the row.
    Expr(String),
}

/// The row filter and column masks a grant applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantPolicy {
    /// SQL boolean expression; only rows where it is true are visible. It may
    /// call `current_user()` and `principal_attribute('name')`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter: Option<String>,
    /// Column name → mask.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_masks: BTreeMap<String, ColumnMask>,
}

impl GrantPolicy {
    /// True when the policy shows every row and every value.
    pub fn is_unrestricted(&self) -> bool {
        self.row_filter.is_none() && self.column_masks.is_empty()
    }

    /// Normalises the policy: a blank filter is no filter.
    pub(crate) fn normalised(mut self) -> Self {
        if self
            .row_filter
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            self.row_filter = None;
        }
        self
    }
}

/// Permission to perform `action` on datasets matching `pattern`
/// (`namespace.*`, `namespace.dataset`, or `*` for everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The user or role holding the grant.
    pub grantee: Grantee,
    /// Dataset pattern.
    pub pattern: String,
    /// Action name: `discover`, `read`, `write` or `admin`.
    pub action: String,
    /// Row filter and column masks (only meaningful for `read`).
    #[serde(flatten)]
    pub policy: GrantPolicy,
}

impl Grant {
    /// Whether the grant's pattern covers the whole namespace `ns`
    /// (`*` or `ns.*`).
    pub fn covers_namespace(&self, ns: &str) -> bool {
        self.pattern == "*" || self.pattern.strip_suffix(".*") == Some(ns)
    }

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

/// A role: a named set of grants that principals can hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// Validated, lower-case name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
    /// Principals holding the role, sorted.
    pub members: Vec<String>,
}

/// Normalises and checks a grant pattern.
pub(crate) fn validate_pattern(pattern: &str) -> Result<String> {
    let pattern = pattern.trim().to_ascii_lowercase();
    if pattern == "*" {
        return Ok(pattern);
    }
    match pattern.split_once('.') {
        Some((ns, "*")) => Ok(format!("{}.*", validate_ident("namespace", ns)?)),
        Some((ns, ds)) => Ok(format!(
            "{}.{}",
            validate_ident("namespace", ns)?,
            validate_ident("dataset", ds)?
        )),
        None => Err(CatalogError::invalid(format!(
            "invalid grant pattern '{pattern}': expected '*', 'namespace.*' or 'namespace.dataset'"
        ))),
    }
}

/// Normalises and checks an action name.
pub(crate) fn validate_action(action: &str) -> Result<String> {
    let action = action.trim().to_ascii_lowercase();
    if ACTIONS.contains(&action.as_str()) {
        Ok(action)
    } else {
        Err(CatalogError::invalid(format!(
            "unknown action '{action}': grants allow one of {}",
            ACTIONS.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(pattern: &str) -> Grant {
        Grant {
            grantee: Grantee::User("u".into()),
            pattern: pattern.into(),
            action: "read".into(),
            policy: GrantPolicy::default(),
        }
    }

    #[test]
    fn grant_patterns() {
        let trips = DatasetName::parse("demo.trips").unwrap();
        assert!(grant("*").covers(&trips));
        assert!(grant("demo.*").covers(&trips));
        assert!(grant("demo.trips").covers(&trips));
        assert!(!grant("demo.zones").covers(&trips));
        assert!(!grant("other.*").covers(&trips));
        assert!(!grant("demo").covers(&trips));
        assert!(grant("*").covers_namespace("demo"));
        assert!(grant("demo.*").covers_namespace("demo"));
        assert!(!grant("demo.trips").covers_namespace("demo"));
        assert!(!grant("other.*").covers_namespace("demo"));
    }

    #[test]
    fn masks_parse_from_json() {
        let p: GrantPolicy = serde_json::from_str(
            r#"{"row_filter": "region = 'EU'", "column_masks": {"a": "hide", "b": "null", "c": "hash", "d": {"expr": "left(d, 2)"}}}"#,
        )
        .unwrap();
        assert_eq!(p.column_masks["a"], ColumnMask::Hide);
        assert_eq!(p.column_masks["c"], ColumnMask::Hash);
        assert_eq!(p.column_masks["d"], ColumnMask::Expr("left(d, 2)".into()));
        assert!(!p.is_unrestricted());
        let err = serde_json::from_str::<GrantPolicy>(r#"{"column_masks": {"a": "blur"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `blur`"), "{err}");
        assert!(serde_json::from_str::<GrantPolicy>(r#"{"filter": "x"}"#).is_err());
    }

    #[test]
    fn actions_are_checked() {
        assert_eq!(validate_action(" Read ").unwrap(), "read");
        let err = validate_action("delete").unwrap_err().to_string();
        assert!(err.contains("discover, read, write, admin"), "{err}");
    }
}
