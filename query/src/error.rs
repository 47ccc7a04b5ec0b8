//! Errors of the query crate.

use datafusion::error::DataFusionError;
use laker_catalog::CatalogError;

/// Result alias for query operations.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// What went wrong compiling or running a download.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The download spec is invalid; the message names the field.
    #[error("{0}")]
    InvalidSpec(String),
    /// An access policy (row filter or column mask) of the caller's grants
    /// cannot be applied to this dataset; the read is refused.
    #[error("an access policy of your grants cannot be applied: {0}")]
    Policy(String),
    /// Resolving the dataset failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Planning or executing failed for a reason not caused by the spec.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl QueryError {
    /// An invalid-spec error for `field`.
    pub fn spec(field: &str, message: impl std::fmt::Display) -> Self {
        Self::InvalidSpec(format!("{field}: {message}"))
    }
}
