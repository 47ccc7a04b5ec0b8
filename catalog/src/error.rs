//! Errors of the catalog crate.

/// Result alias for catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What went wrong in the catalog. Variants separate the caller's mistakes
/// (`InvalidArgument`, `NotFound`, `AlreadyExists`) from faults of the
/// database, so the server can map each to the right status.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The caller supplied an invalid name, URL or option.
    #[error("{0}")]
    InvalidArgument(String),
    /// The named object does not exist.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// What kind of object (namespace, dataset, user).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// An object with that name exists already.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The catalog database failed.
    #[error("catalog database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations to the catalog database failed.
    #[error("catalog migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The object changed concurrently; the caller should re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// The object still holds others (a namespace with datasets).
    #[error("{0}")]
    NotEmpty(String),
    /// The object's state forbids the operation (an access request that
    /// was already decided, a requester with too many pending requests).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A stored row could not be decoded (corrupt catalog).
    #[error("corrupt catalog row: {0}")]
    Corrupt(String),
}

impl CatalogError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    /// A NotFound error for the `kind` object `name`.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }
}
