//! Laker query: the download spec, its compilation into DataFusion plans with
//! projection, filter and limit pushed into the scan, and partitioning into
//! independently executable endpoints.

pub mod engine;
pub mod error;
pub mod filter;
pub mod policy;
pub mod principal_fns;
mod secure_view;
pub mod spec;

pub use engine::{DownloadPlan, EngineConfig, QueryEngine, check_parquet_option};
pub use error::{QueryError, Result};
pub use policy::ReadAccess;
pub use principal_fns::PrincipalContext;
pub use spec::{DownloadSpec, SortKey};
