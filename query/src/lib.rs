//! Laker query: datasets as DataFusion tables over the lake, downloads (the
//! spec, compiled through row filters and masks into partitioned plans), SQL
//! planning per principal (session, sandbox, limits), memory and admission.
//! It must not know the transport (Flight, statuses), credentials, uploads.

pub mod access;
pub mod admission;
pub mod batching;
pub mod chunk_copy;
pub mod engine;
pub mod error;
pub mod filter;
pub mod functions;
pub mod limits;
pub mod memory;
mod one_child;
pub mod plan_guard;
pub mod policy;
pub mod principal_fns;
pub mod secure_view;
pub mod spec;
pub mod sql;
pub mod tables;

pub use access::read_access;
pub use chunk_copy::CopySource;
/// The `deltalake` crate Delta tables are read with.
pub use deltalake_core as deltalake;
pub use engine::{DownloadPlan, EngineConfig, QueryEngine, check_parquet_option};
pub use error::{QueryError, Result, Stopped};
pub use functions::FunctionLimits;
pub use limits::ExprLimits;
pub use policy::ReadAccess;
pub use principal_fns::PrincipalContext;
pub use spec::{DownloadSpec, SortKey};
pub use tables::storage::{StorageClass, StorageError};
pub use tables::{DeltaVersion, ResolvedTable, TableError, TableResolver};
