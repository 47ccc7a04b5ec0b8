//! The one place where errors become gRPC statuses.
//!
//! Callers' mistakes keep their message (it names the problem); faults of the
//! server or its backing systems are logged in full with a reference and
//! reach the client only as that reference, so no paths or internals leak.

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use laker_auth::AuthError;
use laker_catalog::CatalogError;
use laker_query::QueryError;
use parquet::errors::ParquetError;
use tonic::{Code, Status};

use crate::ticket::TicketError;

/// Result alias for server operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the catalog.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// From authentication or authorisation.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// From compiling or running a download.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// From decoding a ticket.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// From DataFusion while executing.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request no longer fits the server's state (e.g. the dataset changed).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Not offered by this server.
    #[error("{0}")]
    Unimplemented(String),
    /// A server fault.
    #[error("{0}")]
    Internal(String),
    /// An error already turned into the status the client gets.
    #[error("{}", .0.message())]
    Status(Status),
}

impl From<arrow_flight::error::FlightError> for Error {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        Error::Internal(format!("building the answer failed: {e}"))
    }
}

impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        Error::Internal(format!("building the answer failed: {e}"))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Catalog(e) => catalog_status(e),
            Error::Auth(e) => match e {
                AuthError::Unauthenticated(m) => Status::unauthenticated(m),
                AuthError::PermissionDenied(m) => Status::permission_denied(m),
                AuthError::InvalidArgument(m) => Status::invalid_argument(m),
                AuthError::RateLimited {
                    message,
                    retry_after_secs,
                } => {
                    let mut status = Status::resource_exhausted(message);
                    status
                        .metadata_mut()
                        .insert("retry-after", retry_after_secs.into());
                    status
                }
                AuthError::Catalog(e) => catalog_status(e),
                AuthError::Internal(m) => internal(&m),
            },
            Error::Query(e) => match e {
                QueryError::InvalidSpec(m) => Status::invalid_argument(m),
                e @ QueryError::Policy(_) => Status::permission_denied(e.to_string()),
                QueryError::Catalog(e) => catalog_status(e),
                QueryError::DataFusion(e) => datafusion_status(&e),
            },
            Error::Ticket(e) => match e {
                TicketError::Malformed(_) | TicketError::InvalidSpec(_) => {
                    Status::invalid_argument(e.to_string())
                }
                TicketError::BadSignature | TicketError::Expired | TicketError::WrongPrincipal => {
                    Status::permission_denied(e.to_string())
                }
            },
            Error::DataFusion(e) => datafusion_status(&e),
            Error::InvalidArgument(m) => Status::invalid_argument(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Unimplemented(m) => Status::unimplemented(m),
            Error::Internal(m) => internal(&m),
            Error::Status(status) => status,
        }
    }
}

fn catalog_status(e: CatalogError) -> Status {
    match e {
        CatalogError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        CatalogError::NotFound { .. } => Status::not_found(e.to_string()),
        CatalogError::AlreadyExists { .. } => Status::already_exists(e.to_string()),
        CatalogError::Lake(e) => datafusion_status(&e),
        CatalogError::Database(_) | CatalogError::Migration(_) => {
            logged(Code::Unavailable, "catalog database unavailable", &e)
        }
        CatalogError::StoreNotConfigured(m)
        | CatalogError::NotADeltaTable(m)
        | CatalogError::NotEmpty(m) => Status::failed_precondition(m),
        CatalogError::Conflict(m) => Status::aborted(m),
        CatalogError::Delta(_) | CatalogError::Corrupt(_) => internal(&e.to_string()),
    }
}

/// Classifies DataFusion errors deliberately: planning and data errors caused
/// by the request are the caller's; I/O and engine faults are the server's.
pub(crate) fn datafusion_status(e: &DataFusionError) -> Status {
    let root = e.find_root();
    match root {
        DataFusionError::Shared(inner) => datafusion_status(inner),
        // Limits (deadline, cancellation) end streams with their own status.
        DataFusionError::External(inner) if inner.is::<Status>() => inner
            .downcast_ref::<Status>()
            .cloned()
            .unwrap_or_else(|| internal("status")),
        DataFusionError::Collection(errs) if !errs.is_empty() => datafusion_status(&errs[0]),
        DataFusionError::ResourcesExhausted(m) => {
            Status::resource_exhausted(format!("query exceeded a resource limit: {m}"))
        }
        DataFusionError::SchemaError(..) | DataFusionError::Plan(_) | DataFusionError::SQL(..) => {
            Status::invalid_argument(root.strip_backtrace())
        }
        DataFusionError::ArrowError(a, _) => arrow_status(a, root),
        // Filters pushed into the Parquet decoder fail inside the reader.
        DataFusionError::ParquetError(p) => match p.as_ref() {
            ParquetError::External(inner) => match inner.downcast_ref::<ArrowError>() {
                Some(a) => arrow_status(a, root),
                None => internal(&root.to_string()),
            },
            _ => internal(&root.to_string()),
        },
        DataFusionError::NotImplemented(m) => Status::unimplemented(format!("not supported: {m}")),
        DataFusionError::ObjectStore(_) => {
            logged(Code::Unavailable, "the lake's object store failed", root)
        }
        _ => internal(&root.to_string()),
    }
}

/// Arrow errors raised while evaluating the caller's expressions over the
/// data (bad casts, division by zero, overflow) are the caller's.
fn arrow_status(a: &ArrowError, root: &DataFusionError) -> Status {
    match a {
        ArrowError::DivideByZero
        | ArrowError::CastError(_)
        | ArrowError::ComputeError(_)
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::InvalidArgumentError(_) => {
            Status::invalid_argument(format!("evaluating the request failed: {a}"))
        }
        _ => internal(&root.to_string()),
    }
}

/// An INTERNAL status carrying only a reference; the detail goes to the log.
fn internal(detail: &str) -> Status {
    logged(Code::Internal, "internal error", &detail)
}

fn logged(code: Code, public: &str, detail: &dyn std::fmt::Display) -> Status {
    let reference = format!("{:08x}", rand::random::<u32>());
    tracing::error!(error.reference = %reference, error.detail = %detail, "{public}");
    Status::new(code, format!("{public} (reference {reference})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let e = DataFusionError::IoError(std::io::Error::other("/secret/path/x.parquet"));
        let s: Status = Error::DataFusion(e).into();
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/secret"), "{}", s.message());
        assert!(s.message().starts_with("internal error (reference "));
    }

    #[test]
    fn classifications() {
        let cases: Vec<(Error, Code)> = vec![
            (
                DataFusionError::Plan("bad".into()).into(),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::ResourcesExhausted("mem".into()).into(),
                Code::ResourceExhausted,
            ),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None).into(),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::Context("ctx".into(), Box::new(DataFusionError::Plan("p".into())))
                    .into(),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::ParquetError(Box::new(ParquetError::External(Box::new(
                    ArrowError::CastError("bad".into()),
                ))))
                .into(),
                Code::InvalidArgument,
            ),
            (
                DataFusionError::ParquetError(Box::new(ParquetError::General("io".into()))).into(),
                Code::Internal,
            ),
            (
                CatalogError::NotFound {
                    kind: "dataset",
                    name: "a.b".into(),
                }
                .into(),
                Code::NotFound,
            ),
            (
                AuthError::PermissionDenied("no".into()).into(),
                Code::PermissionDenied,
            ),
            (
                AuthError::Unauthenticated("no".into()).into(),
                Code::Unauthenticated,
            ),
            (TicketError::Expired.into(), Code::PermissionDenied),
            (
                TicketError::Malformed("x".into()).into(),
                Code::InvalidArgument,
            ),
            (
                QueryError::InvalidSpec("filter: x".into()).into(),
                Code::InvalidArgument,
            ),
        ];
        for (err, code) in cases {
            let text = err.to_string();
            assert_eq!(Status::from(err).code(), code, "{text}");
        }
    }
}
