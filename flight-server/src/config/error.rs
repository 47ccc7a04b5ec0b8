//! The one error of configuration: a problem with the flags, variables, file
//! or stores, reported before the server starts.

/// A configuration problem, reported before the server starts.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
