//! GetFlightInfo and GetSchema: authorise, compile the spec, describe the
//! result and hand out one signed ticket per partition.

use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, SchemaAsIpc, SchemaResult, Ticket,
};
use laker_auth::Principal;
use laker_auth::token::unix_now;

use crate::error::{Error, Result};
use crate::service::descriptor::descriptor_spec;
use crate::service::metadata::{dataset_json, with_dataset_metadata};
use crate::state::AppState;
use crate::ticket::TicketClaims;

/// Describes the download `descriptor` asks for.
pub async fn get_flight_info(
    state: &Arc<AppState>,
    principal: &Principal,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo> {
    let mut spec = descriptor_spec(&descriptor)?;
    let (dataset, plan, _) = state.plan_download(principal, &spec).await?;
    // Pin the Delta version read now, so every endpoint reads one snapshot
    // even if the table gets new commits before the tickets are redeemed.
    if let Some(v) = plan.delta_version {
        spec.version = Some(v);
        spec.as_of = None;
    }
    let partitions = plan.partitions();
    let exp = unix_now().saturating_add(state.ticket_ttl.as_secs());
    let claims = |partition: Option<u32>| TicketClaims {
        sub: principal.name.clone(),
        spec: spec.clone(),
        partition,
        partitions: partitions as u32,
        revision: dataset.revision,
        exp,
    };
    let endpoints: Vec<FlightEndpoint> = if partitions == 0 {
        vec![claims(None)]
    } else {
        (0..partitions as u32).map(|p| claims(Some(p))).collect()
    }
    .iter()
    .map(|c| FlightEndpoint::new().with_ticket(Ticket::new(state.tickets.sign(c))))
    .collect();
    let endpoints = if state.fan_out {
        crate::replicas::spread(&state.catalog, endpoints).await
    } else {
        endpoints
    };
    let schema = with_dataset_metadata(&plan.schema(), &dataset, plan.delta_version);
    let info = FlightInfo::new()
        .try_with_schema(&schema)
        .map_err(|e| Error::Internal(format!("encoding schema failed: {e}")))?
        .with_descriptor(descriptor)
        .with_endpoints(endpoints)
        .with_total_records(plan.total_records().map_or(-1, |n| n as i64))
        .with_ordered(plan.ordered)
        .with_app_metadata(
            dataset_json(&dataset, plan.delta_version)
                .to_string()
                .into_bytes(),
        );
    Ok(info)
}

/// The schema of the download `descriptor` asks for.
pub async fn get_schema(
    state: &Arc<AppState>,
    principal: &Principal,
    descriptor: FlightDescriptor,
) -> Result<SchemaResult> {
    if let Some(command) = crate::sql::decode_command(&descriptor.cmd) {
        let schema = crate::sql::get_schema(state, principal, command).await?;
        return schema_result(&schema);
    }
    let spec = descriptor_spec(&descriptor)?;
    let (dataset, plan, _) = state.plan_download(principal, &spec).await?;
    schema_result(&with_dataset_metadata(
        &plan.schema(),
        &dataset,
        plan.delta_version,
    ))
}

/// Encodes a schema as a `SchemaResult`.
pub fn schema_result(schema: &Schema) -> Result<SchemaResult> {
    SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| {
            Error::Internal(format!("encoding schema failed: {e}"))
        })
}
