//! Errors of the query crate.

use datafusion::error::DataFusionError;
use laker_auth::AuthError;
use laker_catalog::CatalogError;

use crate::tables::TableError;

/// Result alias for query operations.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// What went wrong compiling or running a download or a SQL query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The download spec is invalid; the message names the field.
    #[error("{0}")]
    InvalidSpec(String),
    /// The request is malformed or over a limit of its size (a SQL text
    /// too long, a plan too large); the message names the problem.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is not allowed (a SQL statement that is not a query).
    #[error("{0}")]
    PermissionDenied(String),
    /// A limit on running things was reached (a principal's streams or
    /// queries); the message names the limit.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A query was stopped by its deadline or cancelled.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// An access policy (row filter or column mask) of the caller's grants
    /// cannot be applied to this dataset; the read is refused.
    #[error("an access policy of your grants cannot be applied: {0}")]
    Policy(String),
    /// Parsing or planning the caller's SQL failed: syntax errors and
    /// unknown tables are the caller's, the rest is classified like any
    /// DataFusion error.
    #[error(transparent)]
    Sql(DataFusionError),
    /// Looking the dataset up failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Checking the principal's grants failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Opening the dataset's table failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Planning or executing failed for a reason not caused by the spec.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// A fault of the server.
    #[error("{0}")]
    Internal(String),
}

/// Why a query was stopped before it finished: what its planning fails
/// with, or its stream ends with (inside `DataFusionError::External`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// The query ran past its deadline (DEADLINE_EXCEEDED).
    #[error("the query ran longer than the server's SQL timeout")]
    DeadlineExceeded,
    /// The query was cancelled (CANCELLED).
    #[error("the query was cancelled")]
    Cancelled,
}

impl QueryError {
    /// An invalid-spec error for `field`.
    pub fn spec(field: &str, message: impl std::fmt::Display) -> Self {
        Self::InvalidSpec(format!("{field}: {message}"))
    }
}
