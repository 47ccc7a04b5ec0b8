//! What transforms and retention run with — built once by the server that
//! hosts them — and the locks that serialise the runs of each curated
//! dataset (and the retention runs of each dataset) within this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use laker_auth::{Authenticator, Authorizer};
use laker_catalog::{Catalog, DatasetName};
use laker_query::QueryEngine;
use laker_query::memory::ServerMemory;
use laker_query::sql::limits::SqlLimits;

use crate::audit::Audit;
use crate::notify::Notifier;

/// Everything a transform reads, checks and writes with.
#[derive(Debug)]
pub struct CurateCtx {
    /// Curated and landing datasets are looked up here.
    pub catalog: Catalog,
    /// Reads the lake; plans the transforms' SQL.
    pub engine: Arc<QueryEngine>,
    /// Checks that a transform's user may still log in.
    pub authenticator: Authenticator,
    /// Checks that user's grants.
    pub authorizer: Authorizer,
    /// A transform runs under a SQL query's memory and time limits.
    pub sql_limits: SqlLimits,
    /// The server's memory budget, which a transform draws from.
    pub memory: ServerMemory,
    /// Size at which a data file is closed and the next begun.
    pub target_file_bytes: u64,
    /// Announces commits.
    pub notifier: Notifier,
    /// Records each run.
    pub audit: Arc<dyn Audit>,
    /// How long files removed from a table by retention stay in the store.
    pub retention_delete_after: std::time::Duration,
}

/// Runs the transforms of curated datasets.
#[derive(Debug)]
pub struct Curator {
    pub(crate) ctx: CurateCtx,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Curator {
    /// A curator running transforms with `ctx`.
    pub fn new(ctx: CurateCtx) -> Self {
        Self {
            ctx,
            locks: Mutex::default(),
        }
    }

    /// The lock serialising the runs of `curated`.
    pub(crate) fn lock(&self, curated: &DatasetName) -> Arc<tokio::sync::Mutex<()>> {
        self.lock_for(curated.to_string())
    }

    /// The lock serialising the retention runs on `dataset` (not its
    /// transform's: the two never conflict).
    pub(crate) fn retention_lock(&self, dataset: &DatasetName) -> Arc<tokio::sync::Mutex<()>> {
        self.lock_for(format!("retention:{dataset}"))
    }

    fn lock_for(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(key).or_default())
    }
}
