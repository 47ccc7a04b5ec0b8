//! The Laker catalog: namespaces, datasets, users and grants stored in SQLite
//! (embedded default) or PostgreSQL, and datasets resolved to DataFusion
//! tables over the lake's object stores.

pub mod access;
pub mod audit;
pub mod db;
pub mod error;
mod grants;
mod keys;
pub mod model;
pub mod names;
mod replicas;
mod roles;
pub mod rules;
pub mod store;
pub mod system;
pub mod tables;
pub mod users;

pub use access::{ColumnMask, Grant, GrantPolicy, Grantee, Role};
pub use db::Backend;
/// The `deltalake` crate this catalog reads Delta tables with.
pub use deltalake_core as deltalake;
pub use error::{CatalogError, Result};
pub use keys::ApiKey;
pub use model::{
    CsvOptions, Dataset, DatasetFormat, DatasetOptions, DatasetUpdate, Namespace, NewDataset,
    PartitionColumn, PartitionType, User,
};
pub use names::DatasetName;
pub use store::Catalog;
pub use tables::{DeltaVersion, ResolvedTable, TableResolver};
