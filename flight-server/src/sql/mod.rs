//! Flight SQL on the same port as plain Flight. Requests whose descriptor
//! command or ticket is a protobuf `Any` of a Flight SQL message come here;
//! everything else (JSON specs, path descriptors, signed download tickets)
//! stays on the download path.
//!
//! Statements are planned in the caller's own session (see [`session`]),
//! checked by the [`sandbox`], and streamed under the [`limits`]:
//! GetFlightInfo hands out a signed [`handle`] (one per partition when the
//! client asks for partitioned endpoints), and DoGet plans the SQL again —
//! no server memory holds plans or results between calls.

pub mod cancel;
pub mod handle;
mod info;
mod keys;
pub mod limits;
mod metadata;
pub mod prepared;
pub mod sandbox;
pub mod session;
mod type_info;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::CompressionType;
use arrow_flight::sql::{Any, Command, ProstMessageExt, TicketStatementQuery};
use arrow_flight::{
    CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, Ticket,
};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::{ExecutionPlanProperties, execute_stream};
use datafusion::prelude::SessionContext;
use laker_auth::Principal;
use laker_auth::token::unix_now;
use prost::Message;
use tracing::Span;

use crate::audit::AuditPermit;
use crate::error::{Error, Result};
use crate::service::audited::AuditedCall;
use crate::service::do_get::refused;
use crate::state::AppState;
use crate::stream::flight_data_stream;
use crate::wire::body::FrameStream;
use handle::StatementHandle;
use limits::{QueryLimiter, bounded};

/// Request header asking GetFlightInfo for one endpoint per independent
/// partition (value `partitioned`). Without it a statement has a single
/// endpoint, which every client reads correctly — some (SQLAlchemy's
/// flightsql-dbapi among them) read only the first endpoint.
pub const ENDPOINTS_HEADER: &str = "x-laker-endpoints";

/// Whether a request's headers ask for partitioned endpoints.
pub fn wants_partitions(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata
        .get(ENDPOINTS_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("partitioned"))
}

/// Type URL prefix of Flight SQL messages.
const SQL_TYPE_PREFIX: &str = "type.googleapis.com/arrow.flight.protocol.sql.";

/// The Flight SQL command in `bytes` (a descriptor command or a ticket), or
/// `None` when they are not a Flight SQL message.
pub fn decode_command(bytes: &[u8]) -> Option<Command> {
    let any = Any::decode(bytes).ok()?;
    if !any.type_url.starts_with(SQL_TYPE_PREFIX) {
        return None;
    }
    Command::try_from(any).ok()
}

/// What the audit records of a command: its SQL, or its kind.
pub fn describe_command(command: &Command) -> String {
    match command {
        Command::CommandStatementQuery(q) => q.query.clone(),
        other => other
            .type_url()
            .trim_start_matches(SQL_TYPE_PREFIX)
            .to_string(),
    }
}

/// GetFlightInfo for a Flight SQL command.
pub(crate) async fn get_flight_info(
    state: &Arc<AppState>,
    principal: &Principal,
    command: Command,
    descriptor: FlightDescriptor,
    partitioned: bool,
) -> Result<FlightInfo> {
    match command {
        Command::CommandStatementQuery(q) => {
            statement_info(state, principal, &q.query, None, descriptor, partitioned).await
        }
        Command::CommandPreparedStatementQuery(q) => {
            let prepared = prepared::verify(state, principal, &q.prepared_statement_handle)?;
            statement_info(
                state,
                principal,
                &prepared.sql,
                prepared.params.as_deref(),
                descriptor,
                partitioned,
            )
            .await
        }
        other => metadata::flight_info(state, principal, other, descriptor).await,
    }
}

/// GetSchema for a Flight SQL command: the schema its results will have.
pub(crate) async fn get_schema(
    state: &Arc<AppState>,
    principal: &Principal,
    command: Command,
) -> Result<SchemaRef> {
    let (sql, params) = match command {
        Command::CommandStatementQuery(q) => (q.query, None),
        Command::CommandPreparedStatementQuery(q) => {
            let prepared = prepared::verify(state, principal, &q.prepared_statement_handle)?;
            (prepared.sql, prepared.params)
        }
        other => return metadata::schema_of(&other),
    };
    let deadline = state.sql_limits.deadline();
    let plan = QueryLimiter::plan_within(
        deadline,
        physical_plan(state, principal, &sql, params.as_deref()),
    )
    .await?;
    Ok(plan.schema())
}

async fn statement_info(
    state: &Arc<AppState>,
    principal: &Principal,
    sql: &str,
    params: Option<&str>,
    descriptor: FlightDescriptor,
    partitioned: bool,
) -> Result<FlightInfo> {
    let deadline = state.sql_limits.deadline();
    let plan =
        QueryLimiter::plan_within(deadline, physical_plan(state, principal, sql, params)).await?;
    let partitions = if partitioned {
        plan.output_partitioning().partition_count().max(1) as u32
    } else {
        1
    };
    let exp = unix_now().saturating_add(state.ticket_ttl.as_secs());
    let endpoints = (0..partitions)
        .map(|p| {
            let handle = StatementHandle {
                sub: principal.name.clone(),
                sql: sql.to_string(),
                partition: partitioned.then_some(p),
                partitions,
                params: params.map(str::to_string),
                exp,
            };
            let ticket = TicketStatementQuery {
                statement_handle: handle.sign(&state.tickets).into(),
            };
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()))
        })
        .collect::<Vec<_>>();
    FlightInfo::new()
        .try_with_schema(plan.schema().as_ref())
        .map_err(|e| Error::Internal(format!("encoding schema failed: {e}")))
        .map(|info| {
            info.with_descriptor(descriptor)
                .with_endpoints(endpoints)
                .with_total_records(-1)
        })
}

/// Plans `sql` for `principal`; partitions are independent (each endpoint
/// runs alone) or merged into one.
async fn physical_plan(
    state: &Arc<AppState>,
    principal: &Principal,
    sql: &str,
    params: Option<&str>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let ctx = session::principal_context(state, principal).await?;
    plan_in(&ctx, sql, params).await
}

/// Plans `sql` with `params` in the principal's session `ctx`.
async fn plan_in(
    ctx: &SessionContext,
    sql: &str,
    params: Option<&str>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut logical = sandbox::plan_query(ctx, sql).await?;
    if let Some(values) = prepared::param_values(params)? {
        logical = logical
            .with_param_values(values)
            .map_err(|e| Error::Status(sandbox::sql_status(&e)))?;
    }
    let plan = ctx
        .state()
        .create_physical_plan(&logical)
        .await
        .map_err(|e| Error::Status(sandbox::sql_status(&e)))?;
    if laker_query::engine::independent_partitions(&plan) {
        Ok(plan)
    } else {
        Ok(Arc::new(CoalescePartitionsExec::new(plan)))
    }
}

/// DoGet for a Flight SQL ticket.
pub(crate) async fn do_get(
    state: &Arc<AppState>,
    principal: &Principal,
    (command, compression): (Command, Option<CompressionType>),
    span: Span,
    call: AuditedCall,
    permit: Option<AuditPermit>,
) -> Result<FrameStream> {
    let (call, batches) = match command {
        Command::TicketStatementQuery(t) => {
            let handle = match StatementHandle::verify(
                &state.tickets,
                &t.statement_handle,
                &principal.name,
                unix_now(),
            ) {
                Ok(h) => h,
                Err(e) => return Err(refused(call, permit, e.into())),
            };
            let call = call.with_detail(&handle.sql);
            match statement_stream(state, principal, &handle, &t.statement_handle).await {
                Ok(batches) => (call, batches),
                Err(e) => return Err(refused(call, permit, e)),
            }
        }
        other => match metadata::batches(state, principal, other).await {
            Ok(batches) => (call, batches),
            Err(e) => return Err(refused(call, permit, e)),
        },
    };
    let schema = batches.schema();
    Ok(flight_data_stream(
        batches,
        schema,
        compression,
        &state.metrics,
        span,
        Some((call, permit)),
    ))
}

async fn statement_stream(
    state: &Arc<AppState>,
    principal: &Principal,
    handle: &StatementHandle,
    handle_bytes: &[u8],
) -> Result<SendableRecordBatchStream> {
    let slot = state.sql_limits.admit(&principal.name)?;
    let cancel = state
        .cancellations
        .start(handle_bytes, handle.exp)
        .ok_or_else(|| Error::Status(tonic::Status::cancelled("the query was cancelled")))?;
    let registration = cancel::Registration::new(Arc::clone(&state.cancellations), handle_bytes);
    let deadline = state.sql_limits.deadline();
    let planning = async {
        let ctx = session::principal_context(state, principal).await?;
        let plan = plan_in(&ctx, &handle.sql, handle.params.as_deref()).await?;
        Ok((ctx, plan))
    };
    let (ctx, plan) = QueryLimiter::plan_within(deadline, planning).await?;
    let task = state.sql_limits.task_context(&ctx.state())?;
    let batches = match handle.partition {
        Some(p) => {
            let partitions = plan.output_partitioning().partition_count().max(1) as u32;
            if partitions != handle.partitions {
                return Err(Error::FailedPrecondition(
                    "the data changed since the statement was planned; call GetFlightInfo again"
                        .into(),
                ));
            }
            if (p as usize) < plan.output_partitioning().partition_count() {
                plan.execute(p as usize, task)?
            } else {
                Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        plan.schema(),
                        futures::stream::empty(),
                    ),
                )
            }
        }
        None => execute_stream(plan, task)?,
    };
    Ok(bounded(batches, deadline, cancel, (slot, registration)))
}

/// CancelFlightInfo: cancels the statements whose tickets `body` holds.
fn cancel_flight_info(state: &AppState, principal: &Principal, body: &[u8]) -> Result<Vec<u8>> {
    let request = CancelFlightInfoRequest::decode(body)
        .map_err(|_| Error::InvalidArgument("body is not a CancelFlightInfoRequest".into()))?;
    let info = request.info.ok_or_else(|| {
        Error::InvalidArgument("CancelFlightInfoRequest has no FlightInfo".into())
    })?;
    let now = unix_now();
    let mut handles = Vec::new();
    for endpoint in &info.endpoint {
        let Some(ticket) = &endpoint.ticket else {
            continue;
        };
        let Some(Command::TicketStatementQuery(t)) = decode_command(&ticket.ticket) else {
            return Err(Error::InvalidArgument(
                "only statements (Flight SQL queries) can be cancelled".into(),
            ));
        };
        let handle =
            StatementHandle::verify(&state.tickets, &t.statement_handle, &principal.name, now)?;
        handles.push((t.statement_handle, handle.exp));
    }
    if handles.is_empty() {
        return Err(Error::InvalidArgument(
            "the FlightInfo holds no statement tickets to cancel".into(),
        ));
    }
    for (bytes, exp) in handles {
        state.cancellations.cancel(&bytes, exp, now);
    }
    Ok(CancelFlightInfoResult::new(CancelStatus::Cancelled).encode_to_vec())
}

/// DoAction for the Flight SQL actions (prepared statements), or `None`
/// when `action` is not one of them.
pub(crate) async fn do_action(
    state: &Arc<AppState>,
    principal: &Principal,
    action: &arrow_flight::Action,
) -> Option<Result<Vec<arrow_flight::Result>>> {
    match action.r#type.as_str() {
        "CreatePreparedStatement" => Some(
            prepared::create(state, principal, &action.body)
                .await
                .map(|body| vec![arrow_flight::Result { body: body.into() }]),
        ),
        // Handles carry everything; there is nothing to free.
        "ClosePreparedStatement" => Some(Ok(Vec::new())),
        "CancelFlightInfo" => Some(
            cancel_flight_info(state, principal, &action.body)
                .map(|body| vec![arrow_flight::Result { body: body.into() }]),
        ),
        _ => None,
    }
}

/// DoPut: binding parameters to a prepared statement, or an upload.
pub(crate) async fn do_put(
    state: &Arc<AppState>,
    principal: Principal,
    headers: tonic::metadata::MetadataMap,
    mut data: tonic::Streaming<arrow_flight::FlightData>,
    dataset: &std::sync::OnceLock<String>,
) -> Result<crate::upload::Uploaded> {
    use futures::StreamExt;
    let principal = state.authenticator.require_active(&principal).await?;
    let first = data
        .message()
        .await
        .map_err(Error::Status)?
        .ok_or_else(|| Error::InvalidArgument("DoPut sent no data".into()))?;
    let command = first
        .flight_descriptor
        .as_ref()
        .and_then(|d| decode_command(&d.cmd));
    let rest = data.map(|r| r.map_err(|s| arrow_flight::error::FlightError::Tonic(Box::new(s))));
    match command {
        Some(Command::CommandPreparedStatementQuery(q)) => {
            let stream = futures::stream::once(async { Ok(first) })
                .chain(rest)
                .boxed();
            let body =
                prepared::bind(state, &principal, &q.prepared_statement_handle, stream).await?;
            Ok(crate::upload::Uploaded {
                dataset: String::new(),
                rows: 0,
                bytes: 0,
                result: arrow_flight::PutResult {
                    app_metadata: body.into(),
                },
                detail: String::new(),
            })
        }
        Some(Command::CommandStatementIngest(cmd)) => {
            let target = crate::upload::target::ingest_target(&cmd)?;
            let _ = dataset.set(target.name.to_string());
            let mut done =
                crate::upload::write_upload(state, &principal, target, first, rest).await?;
            let count = arrow_flight::sql::DoPutUpdateResult {
                record_count: i64::try_from(done.rows).unwrap_or(-1),
            };
            done.result.app_metadata = count.encode_to_vec().into();
            Ok(done)
        }
        Some(other) => Err(Error::Unimplemented(format!(
            "DoPut with Flight SQL command {} is not supported",
            describe_command(&other)
        ))),
        None => {
            let target = crate::upload::target_of(&first, &headers)?;
            let _ = dataset.set(target.name.to_string());
            crate::upload::write_upload(state, &principal, target, first, rest).await
        }
    }
}
