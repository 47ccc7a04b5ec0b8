//! Errors of the auth crate.

use laker_catalog::CatalogError;

/// Result alias for auth operations.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// Why a caller was refused, or what failed while checking.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, expired or wrong credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The caller sent malformed input (e.g. an undecodable Basic header).
    #[error("{0}")]
    InvalidArgument(String),
    /// Too many failed logins; retry after the given number of seconds.
    #[error("{message}")]
    RateLimited {
        /// What was limited and why.
        message: String,
        /// Seconds until another attempt is considered.
        retry_after_secs: u64,
    },
    /// A service credentials are checked against (the directory) cannot
    /// answer now; says which, never why in detail (that is logged).
    #[error("{0}")]
    Unavailable(String),
    /// Reading users or grants failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Key material or hashing failed.
    #[error("auth internal error: {0}")]
    Internal(String),
}
