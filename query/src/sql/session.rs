//! The SQL session of one principal: a catalog `laker` whose schemas are
//! namespaces and whose tables are exactly the datasets the principal may
//! read, each already behind its row filters and column masks. Nothing else
//! is reachable: no other catalog, no file or URL tables.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    SchemaProvider, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use laker_auth::{Action, Authorizer, Principal};
use laker_catalog::{Catalog, Dataset};

use crate::engine::QueryEngine;
use crate::error::{QueryError, Result};
use crate::policy::ReadAccess;

/// The catalog name Flight SQL clients see.
pub const CATALOG: &str = "laker";

/// The readable datasets of `principal`, by namespace and name.
pub type Readable = BTreeMap<String, BTreeMap<String, (Dataset, ReadAccess)>>;

/// What `principal` may read, grouped by namespace.
pub async fn readable(
    catalog: &Catalog,
    authorizer: &Authorizer,
    principal: &Principal,
) -> Result<Readable> {
    let mut datasets = catalog.datasets().await?;
    datasets.extend(laker_catalog::system::system_datasets());
    let mut readable = Readable::new();
    for (dataset, access) in authorizer.visible(principal, datasets).await? {
        if !access.allows(Action::Read) {
            continue;
        }
        let access = crate::access::read_access(principal, access);
        readable
            .entry(dataset.name.namespace.clone())
            .or_default()
            .insert(dataset.name.dataset.clone(), (dataset, access));
    }
    Ok(readable)
}

/// Whether `readable` includes the built-in `system` datasets (whose
/// readers should see every audit record of calls made before theirs).
pub fn reads_system(readable: &Readable) -> bool {
    readable.contains_key(laker_catalog::system::SYSTEM_NAMESPACE)
}

/// A SQL session over exactly the `readable` datasets of one principal.
pub fn principal_context(engine: &Arc<QueryEngine>, readable: Readable) -> Result<SessionContext> {
    let catalog = MemoryCatalogProvider::new();
    for (namespace, tables) in readable {
        let schema = NamespaceSchema {
            engine: Arc::clone(engine),
            tables,
        };
        catalog
            .register_schema(&namespace, Arc::new(schema))
            .map_err(|e| QueryError::Internal(format!("sql catalog: {e}")))?;
    }
    let catalogs = MemoryCatalogProviderList::new();
    catalogs.register_catalog(CATALOG.to_string(), Arc::new(catalog));
    let mut config = engine
        .state()
        .config()
        .clone()
        .with_default_catalog_and_schema(CATALOG, "public")
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true);
    // A query has its own budget, larger than a download stream's: its
    // sorts run per partition and merge (downloads sort once).
    config.options_mut().optimizer.repartition_sorts = true;
    let session = SessionStateBuilder::new_from_existing(engine.state().clone())
        .with_config(config)
        .with_catalog_list(Arc::new(catalogs))
        .build();
    Ok(SessionContext::new_with_state(session))
}

/// One namespace's readable datasets; tables resolve on first use.
#[derive(Debug)]
struct NamespaceSchema {
    engine: Arc<QueryEngine>,
    tables: BTreeMap<String, (Dataset, ReadAccess)>,
}

#[async_trait]
impl SchemaProvider for NamespaceSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let Some((dataset, access)) = self.tables.get(name) else {
            return Ok(None);
        };
        self.engine
            .secured_table(dataset, access)
            .await
            .map(Some)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>, DataFusionError> {
        Ok(self.tables.contains_key(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}
