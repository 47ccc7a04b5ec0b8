//! Failures of the lake's storage (Delta logs, object stores), classified by
//! their type — never by their text — into what they mean for the caller:
//! retry later, retry now, fix the table, fix the request, or a server fault.

use std::error::Error as StdError;

use deltalake_core::DeltaTableError;
use deltalake_core::kernel::transaction::{CommitConflictError, TransactionError};

use crate::memory::reads::STORE_NAME as MEMORY_STORE;

/// Most bytes of a library's detail shown to a caller.
const MAX_SHOWN_DETAIL: usize = 1024;

/// What a storage failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    /// The store is down, unreachable or slow: retry later (UNAVAILABLE).
    Unavailable,
    /// A concurrent change won (a commit conflict, a conditional write
    /// lost): retry now (ABORTED).
    Conflict,
    /// The table is not in a state the operation needs (missing files, an
    /// append-only table, unsupported features) (FAILED_PRECONDITION).
    Precondition,
    /// The data or schema sent does not fit the table (INVALID_ARGUMENT).
    InvalidArgument,
    /// The server's memory budget refused the read (RESOURCE_EXHAUSTED).
    ResourceExhausted,
    /// Anything else, including credentials the store refused: a fault of
    /// the server, its configuration or the library (INTERNAL).
    Internal,
}

/// A storage failure: what was being done (shown to the caller), its
/// class, and the library's detail (logged, and in `Display` for the log
/// and the audit; it may name paths, buckets, columns or values).
#[derive(Debug, thiserror::Error)]
#[error("{context}: {detail}")]
pub struct StorageError {
    /// What the server was doing, safe to show to the caller.
    pub context: String,
    /// What it means for the caller.
    pub class: StorageClass,
    /// The library's message.
    pub detail: String,
    /// Whether the detail is about data the caller sent (an upload's
    /// schema or values) and may be shown to them.
    pub echo: bool,
}

impl StorageError {
    /// A failure of `deltalake` while `context`.
    pub fn delta(context: impl Into<String>, e: &DeltaTableError) -> Self {
        Self::new(context, delta_class(e), e)
    }

    /// A failure of an object store while `context`.
    pub fn object_store(context: impl Into<String>, e: &object_store::Error) -> Self {
        match e {
            // The memory budget's refusal names the limit: the server's own text.
            object_store::Error::Generic { store, source } if *store == MEMORY_STORE => {
                Self::new(context, StorageClass::ResourceExhausted, source)
            }
            _ => Self::new(context, object_store_class(e), e),
        }
    }

    /// The same failure, seen by a reader of the table: data that does not
    /// fit is the table's problem, not the reader's (and its detail may name
    /// what the reader's grants hide).
    pub fn on_read(mut self) -> Self {
        if self.class == StorageClass::InvalidArgument {
            self.class = StorageClass::Precondition;
        }
        self
    }

    /// A fault of the library itself (e.g. a loaded table without a version).
    pub fn internal(context: impl Into<String>, detail: &dyn std::fmt::Display) -> Self {
        Self::new(context, StorageClass::Internal, detail)
    }

    /// Marks the detail as about the caller's own data (an upload), so an
    /// INVALID_ARGUMENT may show it (cut to 1 KiB).
    pub fn about_callers_data(mut self) -> Self {
        self.echo = true;
        self
    }

    /// The detail the caller may see, if any.
    pub fn shown_detail(&self) -> Option<&str> {
        if !self.echo || self.class != StorageClass::InvalidArgument {
            return None;
        }
        let mut end = self.detail.len().min(MAX_SHOWN_DETAIL);
        while !self.detail.is_char_boundary(end) {
            end -= 1;
        }
        Some(&self.detail[..end])
    }

    fn new(context: impl Into<String>, class: StorageClass, e: &dyn std::fmt::Display) -> Self {
        Self {
            context: context.into(),
            class,
            detail: e.to_string(),
            echo: false,
        }
    }
}

/// The class of a `deltalake` error.
pub fn delta_class(e: &DeltaTableError) -> StorageClass {
    use DeltaTableError as D;
    match e {
        D::ObjectStore { source } => object_store_class(source),
        D::Io { source } => io_class(source),
        D::KernelError(k) => kernel_class(k),
        D::Kernel { source } => delta_rs_kernel_class(source),
        D::Transaction { source } => transaction_class(source),
        D::VersionAlreadyExists(_) | D::VersionMismatch(..) => StorageClass::Conflict,
        D::SchemaMismatch { .. }
        | D::InvalidData { .. }
        | D::PartitionError { .. }
        | D::InvalidPartitionFilter { .. }
        | D::InvalidVersion(_)
        | D::InvalidDateTimeString { .. } => StorageClass::InvalidArgument,
        D::Arrow {
            source:
                arrow::error::ArrowError::SchemaError(_)
                | arrow::error::ArrowError::CastError(_)
                | arrow::error::ArrowError::InvalidArgumentError(_),
        } => StorageClass::InvalidArgument,
        D::NotATable(_)
        | D::InvalidTableLocation(_)
        | D::NotInitializedWithFiles(_)
        | D::MissingFeature { .. }
        | D::UnsupportedColumnMapping { .. }
        | D::ChangeDataNotEnabled { .. } => StorageClass::Precondition,
        D::GenericError { source } => chain_class(source.as_ref()),
        D::Parquet { source } => chain_class(source),
        _ => StorageClass::Internal,
    }
}

/// The class of a Delta kernel error (snapshots are loaded through it).
fn kernel_class(e: &delta_kernel::Error) -> StorageClass {
    use delta_kernel::Error as K;
    match e {
        K::Backtraced { source, .. } => kernel_class(source),
        K::ObjectStore(inner) => object_store_class(inner),
        K::IOError(inner) => io_class(inner),
        K::Reqwest(_) => StorageClass::Unavailable,
        K::FileNotFound(_) | K::InvalidTableLocation(_) => StorageClass::Precondition,
        _ => StorageClass::Internal,
    }
}

/// The class of an error of deltalake's own kernel layer.
fn delta_rs_kernel_class(e: &deltalake_core::kernel::Error) -> StorageClass {
    use deltalake_core::kernel::Error as K;
    match e {
        K::ObjectStore(inner) => object_store_class(inner),
        K::FileNotFound(_) => StorageClass::Precondition,
        K::GenericError { source } => chain_class(source.as_ref()),
        K::Parquet(inner) => chain_class(inner),
        _ => StorageClass::Internal,
    }
}

fn transaction_class(e: &TransactionError) -> StorageClass {
    use TransactionError as T;
    match e {
        T::VersionAlreadyExists(_) | T::MaxCommitAttempts(_) => StorageClass::Conflict,
        T::CommitConflict(c) => match c {
            CommitConflictError::ConcurrentAppend
            | CommitConflictError::ConcurrentDeleteRead
            | CommitConflictError::ConcurrentDeleteDelete
            | CommitConflictError::MetadataChanged
            | CommitConflictError::ConcurrentTransaction
            | CommitConflictError::ProtocolChanged(_) => StorageClass::Conflict,
            CommitConflictError::UnsupportedWriterVersion(_)
            | CommitConflictError::UnsupportedReaderVersion(_) => StorageClass::Precondition,
            _ => StorageClass::Internal,
        },
        T::ObjectStore { source } => object_store_class(source),
        T::DeltaTableAppendOnly | T::UnsupportedTableFeatures(_) | T::TableFeaturesRequired(_) => {
            StorageClass::Precondition
        }
        T::LogStoreError { source, .. } => chain_class(source.as_ref()),
        _ => StorageClass::Internal,
    }
}

/// The class of an object store error. A remote store's `Generic` error is
/// the store failing (connection, timeout, 5xx after retries), unless an
/// I/O error underneath says otherwise (a full or read-only local disk).
pub fn object_store_class(e: &object_store::Error) -> StorageClass {
    use object_store::Error as O;
    match e {
        O::Generic { store, .. } if *store == MEMORY_STORE => StorageClass::ResourceExhausted,
        O::Generic { source, .. } => match find::<std::io::Error>(source.as_ref()) {
            Some(io) => io_class(io),
            None => StorageClass::Unavailable,
        },
        O::AlreadyExists { .. } | O::Precondition { .. } | O::NotModified { .. } => {
            StorageClass::Conflict
        }
        O::NotFound { .. } => StorageClass::Precondition,
        // PermissionDenied, Unauthenticated: the server's credentials or
        // configuration; retrying cannot help.
        _ => StorageClass::Internal,
    }
}

/// The class of whatever storage error lies in `e`'s source chain.
fn chain_class(e: &(dyn StdError + 'static)) -> StorageClass {
    if let Some(inner) = find::<object_store::Error>(e) {
        return object_store_class(inner);
    }
    if let Some(inner) = find::<DeltaTableError>(e) {
        return delta_class(inner);
    }
    match find::<std::io::Error>(e) {
        Some(io) => io_class(io),
        None => StorageClass::Internal,
    }
}

/// The first error of type `T` in `e` and its sources.
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

fn io_class(e: &std::io::Error) -> StorageClass {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => StorageClass::Precondition,
        K::AlreadyExists => StorageClass::Conflict,
        K::TimedOut
        | K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::Interrupted
        | K::UnexpectedEof
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => StorageClass::Unavailable,
        _ => StorageClass::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Boxed = Box<dyn StdError + Send + Sync>;

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "x")
    }

    /// An error that wraps another, as stores wrap their I/O errors.
    #[derive(Debug, thiserror::Error)]
    #[error("wrapped: {0}")]
    struct Wrapped(#[source] std::io::Error);

    #[test]
    fn object_store_errors_by_type() {
        use object_store::Error as O;
        let generic = |source: Boxed| O::Generic {
            store: "S3",
            source,
        };
        let cases = [
            (
                generic(Box::new(Wrapped(io(std::io::ErrorKind::TimedOut)))),
                StorageClass::Unavailable,
            ),
            (generic("503 Slow Down".into()), StorageClass::Unavailable),
            (
                generic(Box::new(Wrapped(io(std::io::ErrorKind::StorageFull)))),
                StorageClass::Internal,
            ),
            (
                generic(Box::new(io(std::io::ErrorKind::PermissionDenied))),
                StorageClass::Internal,
            ),
            (
                O::Generic {
                    store: MEMORY_STORE,
                    source: "over budget".into(),
                },
                StorageClass::ResourceExhausted,
            ),
            (
                O::PermissionDenied {
                    path: "p".into(),
                    source: "no".into(),
                },
                StorageClass::Internal,
            ),
            (
                O::Unauthenticated {
                    path: "p".into(),
                    source: "no".into(),
                },
                StorageClass::Internal,
            ),
            (
                O::AlreadyExists {
                    path: "p".into(),
                    source: "x".into(),
                },
                StorageClass::Conflict,
            ),
            (
                O::Precondition {
                    path: "p".into(),
                    source: "x".into(),
                },
                StorageClass::Conflict,
            ),
            (
                O::NotFound {
                    path: "p".into(),
                    source: "x".into(),
                },
                StorageClass::Precondition,
            ),
            (
                O::NotImplemented {
                    operation: "o".into(),
                    implementer: "i".into(),
                },
                StorageClass::Internal,
            ),
        ];
        for (e, class) in cases {
            assert_eq!(object_store_class(&e), class, "{e}");
        }
    }

    #[test]
    fn delta_errors_by_type() {
        use DeltaTableError as D;
        let store_down = || object_store::Error::Generic {
            store: "S3",
            source: Box::new(Wrapped(io(std::io::ErrorKind::ConnectionRefused))),
        };
        let cases = [
            (
                D::ObjectStore {
                    source: store_down(),
                },
                StorageClass::Unavailable,
            ),
            (
                D::KernelError(delta_kernel::Error::ObjectStore(store_down())),
                StorageClass::Unavailable,
            ),
            (
                D::KernelError(delta_kernel::Error::FileNotFound("f".into())),
                StorageClass::Precondition,
            ),
            (
                D::KernelError(delta_kernel::Error::Generic("g".into())),
                StorageClass::Internal,
            ),
            (
                D::Io {
                    source: io(std::io::ErrorKind::ConnectionReset),
                },
                StorageClass::Unavailable,
            ),
            (
                D::Transaction {
                    source: TransactionError::MaxCommitAttempts(3),
                },
                StorageClass::Conflict,
            ),
            (
                D::Transaction {
                    source: TransactionError::CommitConflict(CommitConflictError::ConcurrentAppend),
                },
                StorageClass::Conflict,
            ),
            (
                D::Transaction {
                    source: TransactionError::CommitConflict(
                        CommitConflictError::UnsupportedWriterVersion(9),
                    ),
                },
                StorageClass::Precondition,
            ),
            (
                D::Transaction {
                    source: TransactionError::ObjectStore {
                        source: store_down(),
                    },
                },
                StorageClass::Unavailable,
            ),
            (
                D::Transaction {
                    source: TransactionError::DeltaTableAppendOnly,
                },
                StorageClass::Precondition,
            ),
            (D::VersionAlreadyExists(3), StorageClass::Conflict),
            (
                D::SchemaMismatch { msg: "m".into() },
                StorageClass::InvalidArgument,
            ),
            (
                D::InvalidData {
                    message: "m".into(),
                },
                StorageClass::InvalidArgument,
            ),
            (
                D::Arrow {
                    source: arrow::error::ArrowError::SchemaError("s".into()),
                },
                StorageClass::InvalidArgument,
            ),
            (D::NotATable("t".into()), StorageClass::Precondition),
            (
                D::InvalidTableLocation("t".into()),
                StorageClass::Precondition,
            ),
            (
                D::GenericError {
                    source: Box::new(store_down()),
                },
                StorageClass::Unavailable,
            ),
            (D::Generic("g".into()), StorageClass::Internal),
            (D::NotInitialized, StorageClass::Internal),
            (D::NoSchema, StorageClass::Internal),
        ];
        for (e, class) in cases {
            assert_eq!(delta_class(&e), class, "{e}");
        }
    }

    #[test]
    fn a_memory_refusal_keeps_the_limits_own_words() {
        let e = object_store::Error::Generic {
            store: MEMORY_STORE,
            source: "over --memory-limit-mb".into(),
        };
        let refused = StorageError::object_store("reading", &e);
        assert_eq!(refused.class, StorageClass::ResourceExhausted);
        assert_eq!(refused.detail, "over --memory-limit-mb");
    }

    #[test]
    fn only_an_uploads_invalid_data_is_shown_and_cut() {
        let mismatch = D::SchemaMismatch {
            msg: "x".repeat(5000),
        };
        let read = StorageError::delta("reading the table", &mismatch);
        assert_eq!(read.class, StorageClass::InvalidArgument);
        assert_eq!(read.shown_detail(), None);
        assert!(
            read.to_string().starts_with("reading the table: "),
            "{read}"
        );
        assert_eq!(read.on_read().class, StorageClass::Precondition);
        let upload = StorageError::delta("writing the table", &mismatch).about_callers_data();
        assert_eq!(upload.shown_detail().map(str::len), Some(MAX_SHOWN_DETAIL));
        let conflict =
            StorageError::delta("committing", &D::VersionAlreadyExists(7)).about_callers_data();
        assert_eq!(conflict.class, StorageClass::Conflict);
        assert_eq!(conflict.shown_detail(), None);
        assert!(conflict.detail.contains('7'), "{}", conflict.detail);
    }

    use DeltaTableError as D;
}
