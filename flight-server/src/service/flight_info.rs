//! GetFlightInfo, PollFlightInfo and GetSchema, routed alike: a descriptor
//! holds a Flight SQL command (answered by [`crate::sql`]) or asks for a
//! download, whose spec is checked once and planned for the caller; a
//! download's FlightInfo hands out one signed ticket per partition.

use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::sql::Command;
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, SchemaAsIpc, SchemaResult, Ticket,
};
use laker_auth::Principal;
use laker_auth::token::unix_now;
use tonic::{Request, Status};

use super::call::Call;
use super::metadata::{dataset_json, with_dataset_metadata};
use crate::download::{self, CheckedSpec, Planned};
use crate::error::{Error, Result};
use crate::sql;
use crate::state::AppState;
use crate::ticket::TicketClaims;
use crate::wire::wire_schema;

/// What a descriptor asks for.
enum Asked {
    /// A Flight SQL command.
    Sql(Command),
    /// A download, or why the descriptor names none.
    Download(Result<CheckedSpec>),
}

/// Routes `descriptor`, and describes `call` with what it asks.
fn route(call: Call, descriptor: &FlightDescriptor) -> (Call, Asked) {
    let asked = match sql::decode_command(&descriptor.cmd) {
        Some(command) => Asked::Sql(command),
        None => Asked::Download(download::descriptor_spec(descriptor)),
    };
    let call = call.describe(|record| match &asked {
        Asked::Sql(command) => record.with_detail(&sql::describe_command(command)),
        Asked::Download(Ok(spec)) => record.with_spec(spec.spec()),
        Asked::Download(Err(_)) => record.with_descriptor_text(descriptor),
    });
    (call, asked)
}

/// GetFlightInfo (or PollFlightInfo): what the descriptor's answer holds
/// and where to fetch it.
pub(super) async fn flight_info(
    state: &Arc<AppState>,
    call: Call,
    request: Request<FlightDescriptor>,
) -> Result<FlightInfo, Status> {
    let partitioned = sql::wants_partitions(request.metadata());
    let descriptor = request.into_inner();
    let (call, asked) = route(call, &descriptor);
    call.run(|principal, notes| async move {
        match asked {
            Asked::Sql(command) => {
                sql::get_flight_info(state, &principal, command, descriptor, partitioned, &notes)
                    .await
            }
            Asked::Download(spec) => download_info(state, &principal, spec?, descriptor).await,
        }
    })
    .await
}

/// GetSchema: the schema of the descriptor's answer.
pub(super) async fn schema(
    state: &Arc<AppState>,
    call: Call,
    descriptor: FlightDescriptor,
) -> Result<SchemaResult, Status> {
    let (call, asked) = route(call, &descriptor);
    call.run(|principal, notes| async move {
        match asked {
            Asked::Sql(command) => {
                let schema = sql::get_schema(state, &principal, command, &notes).await?;
                schema_result(schema.as_ref())
            }
            Asked::Download(spec) => {
                let Planned { dataset, plan, .. } =
                    download::plan(state, &principal, &spec?, false).await?;
                schema_result(&with_dataset_metadata(
                    &plan.schema(),
                    &dataset,
                    plan.delta_version,
                ))
            }
        }
    })
    .await
}

/// Describes the download `spec` asks for, with its tickets.
async fn download_info(
    state: &Arc<AppState>,
    principal: &Principal,
    spec: CheckedSpec,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo> {
    let Planned { dataset, plan, .. } = download::plan(state, principal, &spec, false).await?;
    let mut spec = spec.into_spec();
    // Pin the Delta version read now, so every endpoint reads one snapshot
    // even if the table gets new commits before the tickets are redeemed.
    if let Some(v) = plan.delta_version {
        spec.version = Some(v);
        spec.as_of = None;
    }
    let partitions = plan.partitions();
    let exp = unix_now().saturating_add(state.ticket_ttl.as_secs());
    let iat_ms = crate::ticket::now_ms();
    let claims = |partition: Option<u32>| TicketClaims {
        sub: principal.name.clone(),
        spec: spec.clone(),
        partition,
        partitions: partitions as u32,
        revision: dataset.revision,
        exp,
        iat_ms,
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
    let schema = with_dataset_metadata(&wire_schema(&plan.schema()), &dataset, plan.delta_version);
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

/// Encodes a schema as a `SchemaResult`.
fn schema_result(schema: &Schema) -> Result<SchemaResult> {
    SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| {
            Error::Internal(format!("encoding schema failed: {e}"))
        })
}
