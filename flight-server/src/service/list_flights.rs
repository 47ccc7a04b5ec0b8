//! ListFlights: the datasets the caller may discover ([`crate::discover`]),
//! optionally filtered by a search, as FlightInfos.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow_flight::{Criteria, FlightDescriptor, FlightInfo};
use laker_auth::Principal;
use laker_catalog::Dataset;
use tonic::Status;

use super::call::Call;
use super::metadata::{dataset_json, with_dataset_metadata};
use crate::discover::{MAX_SEARCH_BYTES, discover};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::wire::wire_schema;

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
        .map_err(|_| Error::InvalidArgument("search criteria must be UTF-8 text".into()))?;
    discover(state, principal, search)
        .await?
        .into_iter()
        .map(|found| dataset_info(&found.dataset, found.schema))
        .collect()
}

/// A dataset's listing: descriptor, schema, and description/tags as JSON
/// `app_metadata`. Call GetFlightInfo on the descriptor for tickets.
fn dataset_info(dataset: &Dataset, schema: Option<SchemaRef>) -> Result<FlightInfo> {
    let mut metadata = dataset_json(dataset, None);
    let schema = schema.unwrap_or_else(|| {
        metadata["error"] = "dataset is currently unavailable".into();
        Arc::new(Schema::empty())
    });
    let schema = with_dataset_metadata(&wire_schema(&schema), dataset, None);
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
