//! `name=value` settings: parsed from flags, read from TOML tables.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Parses `name=value` of `--parquet-option`.
pub(super) fn parquet_option(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected name=value, got '{s}'"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// Parses `value=role` of `--jwt-role-map` (role names are lowercase).
pub(super) fn role_mapping(s: &str) -> Result<(String, String), String> {
    let (value, role) = s
        .split_once('=')
        .ok_or_else(|| format!("expected value=role, got '{s}'"))?;
    Ok((value.trim().to_string(), role.trim().to_ascii_lowercase()))
}

/// A TOML table of strings as `(key, value)` pairs, in key order.
pub(super) fn key_value_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    BTreeMap::<String, String>::deserialize(deserializer).map(|m| m.into_iter().collect())
}
