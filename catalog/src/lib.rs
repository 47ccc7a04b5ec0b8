//! Laker catalog: the metadata database (namespaces, datasets, users, roles,
//! grants, API keys, replicas, access requests, failed logins, revoked
//! tokens, the outbox of commit notifications, the audit log, ingest jobs
//! with their runs and manifests) in SQLite or PostgreSQL.
//! It owns records only: it must not know how a dataset's files are read,
//! nor Arrow, DataFusion, object stores, grants' enforcement or transport.

pub mod access;
pub mod audit;
pub mod db;
pub mod error;
mod grants;
pub mod ingest_jobs;
pub mod ingest_manifest;
pub mod ingest_runs;
mod keys;
mod login_failures;
pub mod model;
pub mod names;
mod outbox;
mod replicas;
mod requests;
mod revoked_tokens;
mod roles;
pub mod rules;
pub mod store;
pub mod system;
pub mod usage;
pub mod users;

pub use access::{ColumnMask, Grant, GrantPolicy, Grantee, Role};
pub use db::Backend;
pub use error::{CatalogError, Result};
pub use ingest_jobs::IngestJobRecord;
pub use ingest_manifest::{ManifestEntry, ManifestFile, TakenVersion};
pub use ingest_runs::{IngestRun, RunSummary};
pub use keys::ApiKey;
pub use login_failures::LoginFailures;
pub use model::{
    CsvOptions, Dataset, DatasetFormat, DatasetOptions, DatasetUpdate, Namespace, NewDataset,
    PartitionColumn, PartitionType, User,
};
pub use names::DatasetName;
pub use outbox::{MAX_OUTBOX_ID_LEN, Notification};
pub use requests::{
    AccessRequest, MAX_PENDING_REQUESTS, MAX_REQUEST_TEXT, NewAccessRequest, RequestStatus,
};
pub use revoked_tokens::MAX_TOKEN_ID_LEN;
pub use store::Catalog;
