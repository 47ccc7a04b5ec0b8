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
use laker_auth::Action;
use laker_auth::Principal;
use laker_catalog::Dataset;
use laker_query::ReadAccess;

use crate::error::Result;
use crate::state::AppState;

/// The catalog name Flight SQL clients see.
pub const CATALOG: &str = "laker";

/// The readable datasets of `principal`, by namespace and name.
pub type Readable = BTreeMap<String, BTreeMap<String, (Dataset, ReadAccess)>>;

/// What `principal` may read, grouped by namespace.
pub async fn readable(state: &AppState, principal: &Principal) -> Result<Readable> {
    let mut datasets = state.catalog.datasets().await?;
    datasets.extend(laker_catalog::system::system_datasets());
    let mut readable = Readable::new();
    for (dataset, access) in state.authorizer.visible(principal, datasets).await? {
        if !access.allows(Action::Read) {
            continue;
        }
        let access = state.read_access(principal, access);
        readable
            .entry(dataset.name.namespace.clone())
            .or_default()
            .insert(dataset.name.dataset.clone(), (dataset, access));
    }
    Ok(readable)
}

/// A session for `principal`'s SQL.
pub async fn principal_context(
    state: &Arc<AppState>,
    principal: &Principal,
) -> Result<SessionContext> {
    let catalog = MemoryCatalogProvider::new();
    let readable = readable(state, principal).await?;
    if readable.contains_key(laker_catalog::system::SYSTEM_NAMESPACE) {
        // Readers of the audit see every record of calls made before theirs.
        state.audit.flush().await;
    }
    for (namespace, tables) in readable {
        let schema = NamespaceSchema {
            state: Arc::clone(state),
            tables,
        };
        catalog
            .register_schema(&namespace, Arc::new(schema))
            .map_err(|e| crate::error::Error::Internal(format!("sql catalog: {e}")))?;
    }
    let catalogs = MemoryCatalogProviderList::new();
    catalogs.register_catalog(CATALOG.to_string(), Arc::new(catalog));
    let config = state
        .engine
        .state()
        .config()
        .clone()
        .with_default_catalog_and_schema(CATALOG, "public")
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true);
    let session = SessionStateBuilder::new_from_existing(state.engine.state().clone())
        .with_config(config)
        .with_catalog_list(Arc::new(catalogs))
        .build();
    Ok(SessionContext::new_with_state(session))
}

/// One namespace's readable datasets; tables resolve on first use.
#[derive(Debug)]
struct NamespaceSchema {
    state: Arc<AppState>,
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
        self.state
            .engine
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
