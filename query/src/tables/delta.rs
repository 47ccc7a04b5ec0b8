//! Delta Lake tables through `deltalake`, read with DataFusion.
//!
//! The transaction log is read through the object store the server already
//! has for the table's URL, so a Delta table needs no store configuration of
//! its own. The latest snapshot of each table is kept and brought up to date
//! (one LIST of `_delta_log/`) whenever the latest version is asked for;
//! every 100 versions it is loaded afresh instead, from the
//! newest checkpoint, so what it holds stays the size of the table's current
//! state however many commits it has seen. Older versions (time travel) are
//! loaded on demand and kept in a small cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use datafusion::catalog::{Session, TableProvider};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

use super::error::{Result, TableError};
use super::storage::StorageError;
use laker_catalog::Dataset;

/// Most older-version snapshots kept per table.
const MAX_CACHED_VERSIONS: usize = 16;

/// Versions the latest snapshot is advanced commit by commit before it is
/// loaded afresh from the newest checkpoint (Laker checkpoints every 100
/// versions): an advanced snapshot keeps pieces of every commit it applied.
const FRESH_LOAD_EVERY: u64 = 100;

/// Which snapshot of a Delta table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaVersion {
    /// The newest committed version.
    Latest,
    /// Exactly this version.
    Version(u64),
    /// The newest version committed at or before this instant.
    AsOf(DateTime<Utc>),
}

/// One Delta table: its log store, latest snapshot and recently read versions.
pub(crate) struct DeltaSource {
    name: String,
    log_store: LogStoreRef,
    latest: tokio::sync::Mutex<Latest>,
    versions: Mutex<HashMap<u64, Arc<dyn TableProvider>>>,
}

/// The latest snapshot, and the version it was last loaded afresh at.
struct Latest {
    table: DeltaTable,
    loaded_at: Option<u64>,
}

impl DeltaSource {
    /// Opens the table at `url` over `store` (the store registered for the
    /// URL's bucket or root). Reads nothing yet.
    pub(crate) fn open(dataset: &Dataset, url: &Url, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let log_store =
            log_store(url, store).map_err(|e| delta_error(&dataset.name.to_string(), e))?;
        Ok(Self {
            name: dataset.name.to_string(),
            latest: tokio::sync::Mutex::new(Latest {
                table: DeltaTable::new(log_store.clone()),
                loaded_at: None,
            }),
            log_store,
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// The provider for `version` and the Delta version it reads.
    pub(crate) async fn provider(
        &self,
        session: &dyn Session,
        version: DeltaVersion,
    ) -> Result<(Arc<dyn TableProvider>, u64)> {
        match version {
            DeltaVersion::Latest => {
                let mut latest = self.latest.lock().await;
                let v = self.refresh(&mut latest).await?;
                if let Some(p) = self.cached(v) {
                    return Ok((p, v));
                }
                let provider = self.build(session, &latest.table).await?;
                Ok((self.remember(v, provider), v))
            }
            DeltaVersion::Version(v) => {
                if let Some(p) = self.cached(v) {
                    return Ok((p, v));
                }
                let latest = {
                    let mut latest = self.latest.lock().await;
                    self.refresh(&mut latest).await?
                };
                if v > latest {
                    return Err(TableError::invalid(format!(
                        "dataset '{}' has no version {v}; its latest version is {latest}",
                        self.name
                    )));
                }
                let mut table = DeltaTable::new(self.log_store.clone());
                table.load_version(v).await.map_err(|e| {
                    tracing::warn!(dataset = %self.name, version = v, error = %e, "cannot load Delta version");
                    TableError::invalid(format!(
                        "version {v} of dataset '{}' cannot be read (its log may have been cleaned up)",
                        self.name
                    ))
                })?;
                let provider = self.build(session, &table).await?;
                Ok((self.remember(v, provider), v))
            }
            DeltaVersion::AsOf(at) => {
                let mut table = DeltaTable::new(self.log_store.clone());
                table
                    .load_with_datetime(at)
                    .await
                    .map_err(|e| delta_error(&self.name, e))?;
                let v = loaded_version(&table, &self.name)?;
                let committed = table
                    .snapshot()
                    .ok()
                    .and_then(|s| s.version_timestamp(v))
                    .and_then(DateTime::<Utc>::from_timestamp_millis);
                if let Some(committed) = committed.filter(|c| *c > at) {
                    return Err(TableError::invalid(format!(
                        "dataset '{}' has no version as of {}: its first version was committed at {}",
                        self.name,
                        at.to_rfc3339(),
                        committed.to_rfc3339()
                    )));
                }
                if let Some(p) = self.cached(v) {
                    return Ok((p, v));
                }
                let provider = self.build(session, &table).await?;
                Ok((self.remember(v, provider), v))
            }
        }
    }

    /// The latest snapshot as of the last request for the latest version
    /// (loaded if there was none), so `describe` reports the same snapshot
    /// it just planned without listing the log again.
    pub(crate) async fn latest_table(&self) -> Result<DeltaTable> {
        let mut latest = self.latest.lock().await;
        if latest.table.version().is_none() {
            self.refresh(&mut latest).await?;
        }
        Ok(latest.table.clone())
    }

    /// Brings the latest snapshot up to date; returns its version. After
    /// [`FRESH_LOAD_EVERY`] versions applied one by one, the snapshot is
    /// loaded afresh (the newest checkpoint and the commits after it).
    async fn refresh(&self, latest: &mut Latest) -> Result<u64> {
        latest
            .table
            .update_incremental(None)
            .await
            .map_err(|e| delta_error(&self.name, e))?;
        let v = loaded_version(&latest.table, &self.name)?;
        match latest.loaded_at {
            Some(at) if v.saturating_sub(at) >= FRESH_LOAD_EVERY => {
                let mut fresh = DeltaTable::new(self.log_store.clone());
                fresh
                    .load_version(v)
                    .await
                    .map_err(|e| delta_error(&self.name, e))?;
                latest.table = fresh;
                latest.loaded_at = Some(v);
            }
            Some(_) => {}
            None => latest.loaded_at = Some(v),
        }
        Ok(v)
    }

    async fn build(
        &self,
        session: &dyn Session,
        table: &DeltaTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let session = Arc::new(session_state(session));
        let provider = table
            .table_provider()
            .with_session(session)
            .build()
            .await
            .map_err(TableError::Lake)?;
        Ok(Arc::new(provider))
    }

    fn cached(&self, version: u64) -> Option<Arc<dyn TableProvider>> {
        self.versions.lock().ok()?.get(&version).cloned()
    }

    fn remember(&self, version: u64, provider: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        if let Ok(mut versions) = self.versions.lock() {
            if versions.len() >= MAX_CACHED_VERSIONS
                && let Some(oldest) = versions.keys().min().copied()
            {
                versions.remove(&oldest);
            }
            versions.insert(version, Arc::clone(&provider));
        }
        provider
    }
}

/// The Delta log store of the table at `url`, over `root` (the object store
/// registered for the URL's bucket, container or `file:///`).
pub fn log_store(url: &Url, root: Arc<dyn ObjectStore>) -> Result<LogStoreRef, DeltaTableError> {
    let config = StorageConfig::default();
    let prefixed = config.decorate_store(Arc::clone(&root), url)?;
    Ok(default_logstore(Arc::from(prefixed), root, url, &config))
}

/// A `SessionState` carrying the session's configuration and runtime, so the
/// Delta scan inherits pushdown and type settings and reads through the same
/// object stores.
fn session_state(session: &dyn Session) -> datafusion::execution::SessionState {
    datafusion::execution::SessionStateBuilder::new()
        .with_config(session.config().clone())
        .with_runtime_env(Arc::clone(session.runtime_env()))
        .build()
}

fn loaded_version(table: &DeltaTable, name: &str) -> Result<u64> {
    table.version().ok_or_else(|| {
        TableError::Storage(StorageError::internal(
            format!("reading the Delta table of dataset '{name}'"),
            &"the loaded table has no version",
        ))
    })
}

/// Classifies a `deltalake` error: a location without a Delta log or an
/// unreadable log is the registrant's problem; I/O failures are the lake's.
pub(crate) fn delta_error(name: &str, e: DeltaTableError) -> TableError {
    match e {
        DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_) => {
            TableError::NotADeltaTable(format!(
                "dataset '{name}' is registered as a Delta table but its location has no Delta transaction log (_delta_log/)"
            ))
        }
        DeltaTableError::InvalidVersion(v) => {
            TableError::invalid(format!("dataset '{name}' has no version {v}"))
        }
        DeltaTableError::ObjectStore { source } => TableError::Lake(
            datafusion::error::DataFusionError::ObjectStore(Box::new(source)),
        ),
        other => TableError::Storage(
            StorageError::delta(
                format!("reading the Delta table of dataset '{name}'"),
                &other,
            )
            .on_read(),
        ),
    }
}
