//! Errors of resolving a dataset to a table: the registrant's mistakes
//! (location, format, version) apart from the lake's faults.

use datafusion::error::DataFusionError;

use super::storage::StorageError;

/// Result alias for table resolution.
pub type Result<T, E = TableError> = std::result::Result<T, E>;

/// What went wrong opening a dataset's table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The dataset's location, options or requested version are invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such (built-in) dataset.
    #[error("dataset '{0}' not found")]
    NotFound(String),
    /// The dataset's object store is not configured on this server.
    #[error("{0}")]
    StoreNotConfigured(String),
    /// A dataset registered as Delta has no Delta transaction log.
    #[error("{0}")]
    NotADeltaTable(String),
    /// Reading the dataset's files from the lake failed.
    #[error("lake error: {0}")]
    Lake(#[from] DataFusionError),
    /// Reading a Delta table's transaction log failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TableError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    pub(crate) fn not_found(name: &laker_catalog::DatasetName) -> Self {
        Self::NotFound(name.to_string())
    }
}

impl From<object_store::Error> for TableError {
    fn from(e: object_store::Error) -> Self {
        Self::Lake(DataFusionError::ObjectStore(Box::new(e)))
    }
}
