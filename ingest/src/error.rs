//! Errors of ingest. Each carries its class — what the caller should do —
//! and its message for the caller; the server turns them into statuses.

use arrow::error::ArrowError;
use arrow_flight::error::FlightError;
use datafusion::error::DataFusionError;
use laker_auth::AuthError;
use laker_catalog::CatalogError;
use laker_query::{QueryError, StorageError, TableError};

/// Result alias for ingest operations.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Everything an upload, a transform or a location check can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request or the data sent is malformed, or breaks a rule.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// What the request would create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller's grants do not allow it.
    #[error("{0}")]
    PermissionDenied(String),
    /// The dataset or table is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request is over a limit; the message names it.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A fault of the server.
    #[error("{0}")]
    Internal(String),
    /// The client's stream failed in its transport (the server knows what
    /// to answer: the stream's own status).
    #[error(transparent)]
    Stream(FlightError),
    /// From the catalog.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// From checking credentials or grants.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// From planning or limiting a query.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// From opening a dataset's table.
    #[error(transparent)]
    Table(#[from] TableError),
    /// From the lake's storage (Delta logs, object stores).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// From DataFusion while planning or running.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<ArrowError> for IngestError {
    fn from(e: ArrowError) -> Self {
        IngestError::Internal(format!("building the answer failed: {e}"))
    }
}
