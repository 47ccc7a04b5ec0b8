//! Datasets as DataFusion tables over the lake's object stores.
//!
//! File datasets list their files and read footers once to infer the schema;
//! the table is cached per dataset revision so later requests plan without
//! touching the object store for metadata. Delta tables keep their latest
//! snapshot and check the transaction log for new commits on each use.

mod arrow_ipc;
mod columns;
pub mod delta;
pub mod error;
mod listing;
mod paged;
pub(crate) mod plain_strings;
pub mod storage;
pub mod system;
mod system_ingest;
mod system_requests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::listing::ListingTableUrl;
use object_store::ObjectStore;

pub use delta::DeltaVersion;

use error::Result;
pub use error::TableError;
use laker_catalog::Catalog;
use laker_catalog::DatasetName;
use laker_catalog::{Dataset, DatasetFormat};
use system::system_table;

/// A dataset's table, and for Delta tables the version it reads.
#[derive(Clone)]
pub struct ResolvedTable {
    /// The table to plan over.
    pub provider: Arc<dyn TableProvider>,
    /// The Delta version read; `None` for file datasets.
    pub delta_version: Option<u64>,
}

impl std::fmt::Debug for ResolvedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedTable")
            .field("delta_version", &self.delta_version)
            .finish_non_exhaustive()
    }
}

/// What is cached for one dataset.
#[derive(Clone)]
enum Source {
    Listing(Arc<dyn TableProvider>),
    Delta(Arc<delta::DeltaSource>),
}

/// A cached source and the dataset revision it was built from.
struct CachedSource {
    revision: i64,
    source: Source,
}

/// Turns catalog datasets into DataFusion [`TableProvider`]s, caching each by
/// dataset revision.
#[derive(Default)]
pub struct TableResolver {
    cache: RwLock<HashMap<DatasetName, CachedSource>>,
    system: Option<Catalog>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for TableResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableResolver").finish_non_exhaustive()
    }
}

impl TableResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver that also serves the built-in `system` datasets, read
    /// from `catalog`.
    pub fn with_system_tables(catalog: Catalog) -> Self {
        Self {
            system: Some(catalog),
            ..Self::default()
        }
    }

    /// The table for the latest data of `dataset`.
    pub async fn table(
        &self,
        session: &dyn Session,
        dataset: &Dataset,
    ) -> Result<Arc<dyn TableProvider>> {
        Ok(self
            .resolve(session, dataset, DeltaVersion::Latest)
            .await?
            .provider)
    }

    /// The table for `dataset` at `version` (time travel applies to Delta
    /// tables only).
    pub async fn resolve(
        &self,
        session: &dyn Session,
        dataset: &Dataset,
        version: DeltaVersion,
    ) -> Result<ResolvedTable> {
        if dataset.format != DatasetFormat::Delta && version != DeltaVersion::Latest {
            return Err(TableError::invalid(format!(
                "dataset '{}' is a {} dataset; 'version' and 'as_of' apply to Delta tables only",
                dataset.name,
                dataset.format.as_str()
            )));
        }
        let source = match self.cached(dataset) {
            Some(source) => source,
            None => self.open(session, dataset).await?,
        };
        match source {
            Source::Listing(provider) => Ok(ResolvedTable {
                provider,
                delta_version: None,
            }),
            Source::Delta(delta) => {
                let (provider, v) = delta.provider(session, version).await?;
                Ok(ResolvedTable {
                    provider,
                    delta_version: Some(v),
                })
            }
        }
    }

    /// The Delta table behind `dataset` at the snapshot the latest request
    /// read (see [`TableResolver::resolve`]), or `None` for file datasets.
    pub async fn delta_table(
        &self,
        session: &dyn Session,
        dataset: &Dataset,
    ) -> Result<Option<deltalake_core::DeltaTable>> {
        if dataset.format != DatasetFormat::Delta {
            return Ok(None);
        }
        let source = match self.cached(dataset) {
            Some(source) => source,
            None => self.open(session, dataset).await?,
        };
        match source {
            Source::Delta(delta) => Ok(Some(delta.latest_table().await?)),
            Source::Listing(_) => Ok(None),
        }
    }

    /// Forgets everything cached about `name`, so the next request re-reads
    /// its files or transaction log.
    pub fn invalidate(&self, name: &DatasetName) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(name);
        }
    }

    /// Tables served from the cache and tables opened, since start.
    pub fn cache_counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn cached(&self, dataset: &Dataset) -> Option<Source> {
        let found = self.cache.read().ok().and_then(|cache| {
            let entry = cache.get(&dataset.name)?;
            (entry.revision == dataset.revision).then(|| entry.source.clone())
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    async fn open(&self, session: &dyn Session, dataset: &Dataset) -> Result<Source> {
        if dataset.format == DatasetFormat::System {
            let catalog = self
                .system
                .as_ref()
                .ok_or_else(|| TableError::not_found(&dataset.name))?;
            return Ok(Source::Listing(system_table(catalog, &dataset.name)?));
        }
        let url = ListingTableUrl::parse(&dataset.location).map_err(|_| {
            TableError::invalid(format!("dataset {} has an invalid location", dataset.name))
        })?;
        let store = store_for(session, dataset, &url)?;
        let source = match dataset.format {
            DatasetFormat::Delta => {
                let location = url::Url::parse(&dataset.location).map_err(|_| {
                    TableError::invalid(format!("dataset {} has an invalid location", dataset.name))
                })?;
                Source::Delta(Arc::new(delta::DeltaSource::open(
                    dataset, &location, store,
                )?))
            }
            _ => {
                // DataFusion caches file listings without expiry and without
                // knowing our revisions; a (re)opened dataset must list afresh.
                if let Some(listings) = session.runtime_env().cache_manager.get_list_files_cache() {
                    listings.clear();
                }
                Source::Listing(listing::build_table(session, dataset, url).await?)
            }
        };
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(
                dataset.name.clone(),
                CachedSource {
                    revision: dataset.revision,
                    source: source.clone(),
                },
            );
        }
        Ok(source)
    }
}

/// The object store the server configured for the dataset's location.
fn store_for(
    session: &dyn Session,
    dataset: &Dataset,
    url: &ListingTableUrl,
) -> Result<Arc<dyn ObjectStore>> {
    // Readers see this message: the location stays out of it (its admins
    // find it with describe_dataset).
    session.runtime_env().object_store(url).map_err(|_| {
        TableError::StoreNotConfigured(format!(
            "dataset '{}' is on a store this server has not configured",
            dataset.name
        ))
    })
}
