//! ListFlights: the datasets the caller may discover, optionally filtered by
//! a case-insensitive search over name, description, tags and column names.
//! Readers see the schema as their grants show it (hidden columns left
//! out); discover-only callers see no schema.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow_flight::{Criteria, FlightDescriptor, FlightInfo};
use laker_auth::authorize::DatasetAccess;
use laker_auth::{Action, Principal};
use laker_catalog::Dataset;
use tonic::Status;

use super::call::Call;
use super::metadata::{dataset_json, with_dataset_metadata};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Longest accepted search string.
const MAX_SEARCH_BYTES: usize = 1024;

/// ListFlights, audited with its search.
pub(super) async fn serve(
    state: &Arc<AppState>,
    call: Call,
    criteria: Criteria,
) -> Result<Vec<FlightInfo>, Status> {
    call.describe(|c| c.with_detail(&String::from_utf8_lossy(&criteria.expression)))
        .run(|principal, _| async move { list_flights(state, &principal, criteria).await })
        .await
}

/// Lists the caller's datasets matching `criteria`.
async fn list_flights(
    state: &Arc<AppState>,
    principal: &Principal,
    criteria: Criteria,
) -> Result<Vec<FlightInfo>> {
    if criteria.expression.len() > MAX_SEARCH_BYTES {
        return Err(Error::InvalidArgument(format!(
            "search criteria longer than {MAX_SEARCH_BYTES} bytes"
        )));
    }
    let search = std::str::from_utf8(&criteria.expression)
        .map_err(|_| Error::InvalidArgument("search criteria must be UTF-8 text".into()))?
        .to_string();
    let mut datasets = state.catalog.datasets().await?;
    datasets.extend(laker_catalog::system::system_datasets());
    let visible = state.authorizer.visible(principal, datasets).await?;
    let needle = search.trim().to_lowercase();
    let mut infos = Vec::new();
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
            infos.push(dataset_info(&dataset, schema)?);
        }
    }
    Ok(infos)
}

/// The dataset's schema, or `None` (logged) when its files cannot be read:
/// one unreadable dataset must not hide the others.
async fn dataset_schema(
    state: &Arc<AppState>,
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

/// A dataset's listing: descriptor, schema, and description/tags as JSON
/// `app_metadata`. Call GetFlightInfo on the descriptor for tickets.
fn dataset_info(dataset: &Dataset, schema: Option<SchemaRef>) -> Result<FlightInfo> {
    let mut metadata = dataset_json(dataset, None);
    let schema = schema.unwrap_or_else(|| {
        metadata["error"] = "dataset is currently unavailable".into();
        Arc::new(Schema::empty())
    });
    let schema = with_dataset_metadata(&schema, dataset, None);
    let descriptor = FlightDescriptor::new_path(vec![
        dataset.name.namespace.clone(),
        dataset.name.dataset.clone(),
    ]);
    Ok(FlightInfo::new()
        .try_with_schema(&schema)
        .map_err(|e| Error::Internal(format!("encoding schema failed: {e}")))?
        .with_descriptor(descriptor)
        .with_total_records(-1)
        .with_app_metadata(metadata.to_string().into_bytes()))
}
