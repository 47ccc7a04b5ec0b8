//! Discovery: the datasets a caller may discover that match a search over
//! name, description, tags and column names — for ListFlights and the
//! HTTP API alike. Readers see the schema as their grants show it (hidden
//! columns left out); discover-only callers see an empty schema.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use laker_auth::authorize::DatasetAccess;
use laker_auth::{Action, Principal};
use laker_catalog::Dataset;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Longest accepted search string, in bytes.
pub const MAX_SEARCH_BYTES: usize = 1024;

/// One discovered dataset, with its schema as the caller sees it (`None`
/// when its files cannot be read right now).
#[derive(Debug)]
pub struct Found {
    /// The catalog record.
    pub dataset: Dataset,
    /// The schema the caller reads (empty for discover-only callers).
    pub schema: Option<SchemaRef>,
}

/// The datasets `principal` may discover matching `search`
/// (case-insensitive; empty matches all).
pub async fn discover(state: &AppState, principal: &Principal, search: &str) -> Result<Vec<Found>> {
    if search.len() > MAX_SEARCH_BYTES {
        return Err(Error::InvalidArgument(format!(
            "search longer than {MAX_SEARCH_BYTES} bytes"
        )));
    }
    let mut datasets = state.catalog.datasets().await?;
    datasets.extend(laker_catalog::system::system_datasets());
    let visible = state.authorizer.visible(principal, datasets).await?;
    let needle = search.trim().to_lowercase();
    let mut found = Vec::new();
    for (dataset, access) in visible {
        let schema = if access.allows(Action::Read) {
            dataset_schema(state, principal, &dataset, access).await
        } else {
            Some(Arc::new(Schema::empty()))
        };
        let column_match = || {
            schema.as_ref().is_some_and(|s| {
                s.fields()
                    .iter()
                    .any(|f| f.name().to_lowercase().contains(&needle))
            })
        };
        if dataset.matches(&needle) || column_match() {
            found.push(Found { dataset, schema });
        }
    }
    Ok(found)
}

/// The dataset's schema, or `None` (logged) when its files cannot be read:
/// one unreadable dataset must not hide the others.
async fn dataset_schema(
    state: &AppState,
    principal: &Principal,
    dataset: &Dataset,
    access: DatasetAccess,
) -> Option<SchemaRef> {
    let access = state.read_access(principal, access);
    match state.engine.view_schema(dataset, &access).await {
        Ok(schema) => Some(schema),
        Err(e) => {
            tracing::warn!(dataset = %dataset.name, error = %e, "dataset schema unavailable");
            None
        }
    }
}
