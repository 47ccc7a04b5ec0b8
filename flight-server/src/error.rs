//! The one place where errors become gRPC statuses.
//!
//! Callers' mistakes keep their message (it names the problem); faults of the
//! server or its backing systems are logged in full with a reference and
//! reach the client only as that reference, so no paths or internals leak.

use arrow::error::ArrowError;
use arrow_flight::error::FlightError;
use datafusion::error::DataFusionError;
use laker_auth::AuthError;
use laker_catalog::CatalogError;
use laker_ingest::IngestError;
use laker_query::{QueryError, Stopped, StorageClass, StorageError, TableError};
use parquet::errors::ParquetError;
use tonic::{Code, Status};

use crate::signed::SignedError;
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
    /// From opening a dataset's table in the lake.
    #[error(transparent)]
    Table(#[from] TableError),
    /// From the lake's storage (Delta logs, object stores).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// From an upload, a transform or a location check.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// From decoding a ticket or verifying a statement handle.
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

impl From<SignedError> for Error {
    fn from(e: SignedError) -> Self {
        Error::Ticket(e.into())
    }
}

impl From<ArrowError> for Error {
    fn from(e: ArrowError) -> Self {
        Error::Internal(format!("building the answer failed: {e}"))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        bounded(status_of(err))
    }
}

/// Longest message a status carries: clients refuse metadata over 16 KiB
/// (gRPC's default), and no message needs more to name a problem.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// `status` with its message cut to [`MAX_MESSAGE_BYTES`] (on a character
/// boundary, saying so), keeping its code and metadata.
pub(crate) fn bounded(status: Status) -> Status {
    let message = status.message();
    if message.len() <= MAX_MESSAGE_BYTES {
        return status;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = format!(
        "{} … (message cut: {} bytes in all)",
        &message[..end],
        message.len()
    );
    Status::with_metadata(status.code(), cut, status.metadata().clone())
}

fn status_of(err: Error) -> Status {
    match err {
        Error::Catalog(e) => catalog_status(e),
        Error::Auth(e) => auth_status(e),
        Error::Query(e) => query_status(e),
        Error::Ticket(e) => match e {
            TicketError::Signed(SignedError::Malformed(_)) | TicketError::InvalidSpec(_) => {
                Status::invalid_argument(e.to_string())
            }
            TicketError::Signed(
                SignedError::BadSignature | SignedError::Expired | SignedError::WrongPrincipal,
            ) => Status::permission_denied(e.to_string()),
        },
        Error::Table(e) => table_status(&e),
        Error::Storage(e) => storage_status(&e),
        Error::Ingest(e) => ingest_status(e),
        Error::DataFusion(e) => datafusion_status(&e),
        Error::InvalidArgument(m) => Status::invalid_argument(m),
        Error::FailedPrecondition(m) => Status::failed_precondition(m),
        Error::Unimplemented(m) => Status::unimplemented(m),
        Error::Internal(m) => internal(&m),
        Error::Status(status) => status,
    }
}

fn auth_status(e: AuthError) -> Status {
    match e {
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
        AuthError::Unavailable(m) => Status::unavailable(m),
        AuthError::Catalog(e) => catalog_status(e),
        AuthError::Internal(m) => internal(&m),
    }
}

fn query_status(e: QueryError) -> Status {
    match e {
        QueryError::InvalidSpec(m) | QueryError::InvalidArgument(m) => Status::invalid_argument(m),
        QueryError::PermissionDenied(m) => Status::permission_denied(m),
        QueryError::ResourceExhausted(m) => Status::resource_exhausted(m),
        QueryError::Stopped(s) => stopped_status(s),
        // The detail can name hidden columns or echo hidden values:
        // it goes to the log, the caller gets a reference.
        e @ QueryError::Policy(_) => logged(
            Code::PermissionDenied,
            "an access policy of your grants cannot be applied to this dataset; \
             its administrator can tell why",
            &e,
        ),
        QueryError::Sql(e) => sql_status(&e),
        QueryError::Catalog(e) => catalog_status(e),
        QueryError::Auth(e) => auth_status(e),
        QueryError::Table(e) => table_status(&e),
        QueryError::DataFusion(e) => datafusion_status(&e),
        QueryError::Internal(m) => internal(&m),
    }
}

/// A query stopped by its deadline or cancelled.
fn stopped_status(s: Stopped) -> Status {
    match s {
        Stopped::DeadlineExceeded => Status::deadline_exceeded(s.to_string()),
        Stopped::Cancelled => Status::cancelled(s.to_string()),
    }
}

/// The status of a SQL planning error: syntax errors and unknown tables
/// are the caller's, with the parser's message and position.
pub(crate) fn sql_status(e: &DataFusionError) -> Status {
    match e.find_root() {
        DataFusionError::Plan(m) if m.starts_with("table '") && m.contains("not found") => {
            Status::not_found(m.clone())
        }
        DataFusionError::SQL(..) => Status::invalid_argument(e.find_root().strip_backtrace()),
        _ => datafusion_status(e),
    }
}

fn ingest_status(e: IngestError) -> Status {
    match e {
        IngestError::InvalidArgument(m) => Status::invalid_argument(m),
        IngestError::NotFound(m) => Status::not_found(m),
        IngestError::AlreadyExists(m) => Status::already_exists(m),
        IngestError::PermissionDenied(m) => Status::permission_denied(m),
        IngestError::FailedPrecondition(m) => Status::failed_precondition(m),
        IngestError::ResourceExhausted(m) => Status::resource_exhausted(m),
        IngestError::Internal(m) => internal(&m),
        // The client's stream ended with its own status (it went away, or
        // sent nothing for too long).
        IngestError::Stream(FlightError::Tonic(status)) => *status,
        IngestError::Stream(other) => {
            Status::invalid_argument(format!("the upload is not valid Arrow data: {other}"))
        }
        IngestError::Catalog(e) => catalog_status(e),
        IngestError::Auth(e) => auth_status(e),
        IngestError::Query(e) => query_status(e),
        IngestError::Table(e) => table_status(&e),
        IngestError::Storage(e) => storage_status(&e),
        IngestError::DataFusion(e) => datafusion_status(&e),
    }
}

/// An error checking a transform's SQL: the caller's mistakes in it
/// (syntax, planning) name the option they are in.
pub(crate) fn in_transform_sql(e: IngestError) -> Error {
    let status = match e {
        IngestError::Query(QueryError::Sql(e)) => sql_status(&e),
        other => return other.into(),
    };
    if status.code() == Code::InvalidArgument {
        Error::Status(Status::invalid_argument(format!(
            "transform 'sql': {}",
            status.message()
        )))
    } else {
        Error::Status(status)
    }
}

fn catalog_status(e: CatalogError) -> Status {
    match e {
        CatalogError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        CatalogError::NotFound { .. } => Status::not_found(e.to_string()),
        CatalogError::AlreadyExists { .. } => Status::already_exists(e.to_string()),
        CatalogError::Database(_) | CatalogError::Migration(_) => {
            logged(Code::Unavailable, "catalog database unavailable", &e)
        }
        CatalogError::NotEmpty(m) | CatalogError::FailedPrecondition(m) => {
            Status::failed_precondition(m)
        }
        CatalogError::Conflict(m) => Status::aborted(m),
        CatalogError::Corrupt(_) => internal(&e.to_string()),
    }
}

fn table_status(e: &TableError) -> Status {
    match e {
        TableError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        TableError::NotFound(_) => Status::not_found(e.to_string()),
        TableError::Lake(inner) => datafusion_status(inner),
        TableError::StoreNotConfigured(m) | TableError::NotADeltaTable(m) => {
            Status::failed_precondition(m.clone())
        }
        TableError::Storage(inner) => storage_status(inner),
    }
}

/// A table that failed to open inside DataFusion (a SQL session's catalog
/// wraps the error): classified as when a download opens it.
fn wrapped_table_status(e: &(dyn std::error::Error + 'static)) -> Option<Status> {
    match e.downcast_ref::<QueryError>() {
        Some(QueryError::Table(table)) => Some(table_status(table)),
        _ => e.downcast_ref::<TableError>().map(table_status),
    }
}

/// Storage failures by class: what the caller should do, in words. The
/// library's detail (paths, buckets, columns, values) goes to the log; only
/// an upload's own invalid data is echoed (cut to 1 KiB).
pub(crate) fn storage_status(e: &StorageError) -> Status {
    let detail = format!("{}: {}", e.context, e.detail);
    let (code, what) = match e.class {
        StorageClass::Unavailable => (
            Code::Unavailable,
            "the lake's storage is unavailable; try again later",
        ),
        StorageClass::Conflict => (Code::Aborted, "a concurrent change to the table won; retry"),
        StorageClass::Precondition => (
            Code::FailedPrecondition,
            "the table is not in a state that allows this",
        ),
        // The budget's own words name the limit (no paths in them).
        StorageClass::ResourceExhausted => {
            return Status::resource_exhausted(format!(
                "{}: a resource limit was reached: {}",
                e.context, e.detail
            ));
        }
        StorageClass::InvalidArgument => match e.shown_detail() {
            Some(shown) => {
                return Status::invalid_argument(format!("{}: {shown}", e.context));
            }
            None => (
                Code::InvalidArgument,
                "the data does not fit the table's schema or partitions",
            ),
        },
        StorageClass::Internal => return internal(&detail),
    };
    logged(code, &format!("{}: {what}", e.context), &detail)
}

/// Classifies DataFusion errors deliberately: planning and data errors caused
/// by the request are the caller's; I/O and engine faults are the server's.
pub(crate) fn datafusion_status(e: &DataFusionError) -> Status {
    let root = e.find_root();
    if let DataFusionError::External(inner) = root
        && let Some(status) = wrapped_table_status(inner.as_ref())
    {
        return status;
    }
    match root {
        DataFusionError::Shared(inner) => datafusion_status(inner),
        // Limits (deadline, cancellation) end streams with their own status.
        DataFusionError::External(inner) if inner.is::<Status>() => inner
            .downcast_ref::<Status>()
            .cloned()
            .unwrap_or_else(|| internal("status")),
        DataFusionError::External(inner) if inner.is::<Stopped>() => inner
            .downcast_ref::<Stopped>()
            .map_or_else(|| internal("stopped"), |s| stopped_status(*s)),
        DataFusionError::External(inner)
            if inner.is::<laker_query::secure_view::PolicyFailure>() =>
        {
            logged(
                Code::PermissionDenied,
                "an access policy of your grants could not be applied to a row; \
                 its administrator can tell why",
                root,
            )
        }
        DataFusionError::Collection(errs) if !errs.is_empty() => datafusion_status(&errs[0]),
        DataFusionError::ResourcesExhausted(m) => {
            Status::resource_exhausted(format!("a resource limit was reached: {m}"))
        }
        DataFusionError::SchemaError(..) | DataFusionError::Plan(_) | DataFusionError::SQL(..) => {
            Status::invalid_argument(root.strip_backtrace())
        }
        DataFusionError::ArrowError(a, _) => arrow_status(a, root),
        // Filters pushed into the Parquet decoder fail inside the reader.
        DataFusionError::ParquetError(p) => match p.as_ref() {
            ParquetError::External(inner) => match inner.downcast_ref::<ArrowError>() {
                Some(a) => arrow_status(a, root),
                None => inner
                    .downcast_ref::<object_store::Error>()
                    .and_then(memory_refusal)
                    .unwrap_or_else(|| internal(&root.to_string())),
            },
            _ => internal(&root.to_string()),
        },
        DataFusionError::NotImplemented(m) => Status::unimplemented(format!("not supported: {m}")),
        DataFusionError::ObjectStore(e) => memory_refusal(e.as_ref())
            .unwrap_or_else(|| logged(Code::Unavailable, "the lake's object store failed", root)),
        _ => internal(&root.to_string()),
    }
}

/// A lake read refused for want of memory (see `laker_query::memory::reads`).
fn memory_refusal(e: &object_store::Error) -> Option<Status> {
    match e {
        object_store::Error::Generic { store, source }
            if *store == laker_query::memory::reads::STORE_NAME =>
        {
            Some(Status::resource_exhausted(format!(
                "a resource limit was reached: {source}"
            )))
        }
        _ => None,
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
        let e = StorageError::object_store(
            "reading the table",
            &object_store::Error::NotFound {
                path: "/secret/path/x.parquet".into(),
                source: "gone".into(),
            },
        );
        let s: Status = Error::Storage(e).into();
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(!s.message().contains("/secret"), "{}", s.message());
        assert!(
            s.message().starts_with("reading the table: "),
            "{}",
            s.message()
        );
    }

    #[test]
    fn long_messages_are_cut_keeping_code_and_metadata() {
        let long = "é".repeat(10_000);
        let s: Status = Error::InvalidArgument(format!("bad: {long}")).into();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("bad: é"), "{}", &s.message()[..20]);
        assert!(s.message().len() < MAX_MESSAGE_BYTES + 64);
        assert!(s.message().ends_with("(message cut: 20005 bytes in all)"));
        let limited: Status = Error::Auth(AuthError::RateLimited {
            message: "x".repeat(5000),
            retry_after_secs: 7,
        })
        .into();
        assert_eq!(limited.code(), Code::ResourceExhausted);
        assert_eq!(limited.metadata().get("retry-after").unwrap(), "7");
        let short: Status = Error::InvalidArgument("short".into()).into();
        assert_eq!(short.message(), "short");
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
            (
                AuthError::Unavailable("the directory (LDAP) is unavailable".into()).into(),
                Code::Unavailable,
            ),
            (SignedError::Expired.into(), Code::PermissionDenied),
            (
                StorageError::delta(
                    "committing",
                    &laker_query::deltalake::DeltaTableError::VersionAlreadyExists(3),
                )
                .into(),
                Code::Aborted,
            ),
            (
                StorageError::object_store(
                    "reading",
                    &object_store::Error::Generic {
                        store: "S3",
                        source: "connection refused".into(),
                    },
                )
                .into(),
                Code::Unavailable,
            ),
            (
                StorageError::delta(
                    "writing",
                    &laker_query::deltalake::DeltaTableError::SchemaMismatch { msg: "m".into() },
                )
                .into(),
                Code::InvalidArgument,
            ),
            (
                StorageError::delta(
                    "writing",
                    &laker_query::deltalake::DeltaTableError::NotATable("t".into()),
                )
                .into(),
                Code::FailedPrecondition,
            ),
            (
                StorageError::delta(
                    "writing",
                    &laker_query::deltalake::DeltaTableError::Generic("g".into()),
                )
                .into(),
                Code::Internal,
            ),
            (
                SignedError::Malformed("x".into()).into(),
                Code::InvalidArgument,
            ),
            (
                TicketError::InvalidSpec("x".into()).into(),
                Code::InvalidArgument,
            ),
            (
                QueryError::InvalidSpec("filter: x".into()).into(),
                Code::InvalidArgument,
            ),
            (
                QueryError::Stopped(Stopped::DeadlineExceeded).into(),
                Code::DeadlineExceeded,
            ),
            (
                DataFusionError::External(Box::new(Stopped::Cancelled)).into(),
                Code::Cancelled,
            ),
            (
                QueryError::ResourceExhausted("too many".into()).into(),
                Code::ResourceExhausted,
            ),
            (
                QueryError::PermissionDenied("read-only".into()).into(),
                Code::PermissionDenied,
            ),
            (
                QueryError::Sql(DataFusionError::Plan("table 'a.b' not found".into())).into(),
                Code::NotFound,
            ),
            (
                IngestError::AlreadyExists("a table exists".into()).into(),
                Code::AlreadyExists,
            ),
            (
                IngestError::ResourceExhausted("too large".into()).into(),
                Code::ResourceExhausted,
            ),
            (
                IngestError::Stream(FlightError::Tonic(Box::new(Status::deadline_exceeded(
                    "quiet",
                ))))
                .into(),
                Code::DeadlineExceeded,
            ),
        ];
        for (err, code) in cases {
            let text = err.to_string();
            assert_eq!(Status::from(err).code(), code, "{text}");
        }
    }
}
