//! Flight SQL on the same port as plain Flight. Requests whose descriptor
//! command or ticket is a protobuf `Any` of a Flight SQL message come here;
//! everything else (JSON specs, path descriptors, signed download tickets)
//! stays on the download path.
//!
//! Statements are planned in the caller's own session (see [`session`]),
//! checked by the [`sandbox`], and streamed under the
//! [`laker_query::sql::limits`]:
//! GetFlightInfo hands out a signed [`handle`] (one per partition when the
//! client asks for partitioned endpoints), and DoGet plans the SQL again —
//! no server memory holds plans or results between calls.

pub mod handle;
mod info;
mod keys;
mod metadata;
pub mod prepared;
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
use laker_query::sql::limits::{QueryLimiter, bounded};
use laker_query::sql::sandbox;
use prost::Message;
use tracing::Span;

use laker_query::sql::cancel;

use crate::audit::call::{AuditedCall, Notes, canonical_sql};
use crate::error::{Error, Result, sql_status};
use crate::state::AppState;
use crate::stream::flight_data_stream;
use crate::wire::body::FrameStream;
use crate::wire::wire_schema;
use handle::StatementHandle;

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

/// What the audit records of a statement: its SQL and the values bound
/// to its parameters.
pub(crate) fn statement_detail(sql: &str, params: Option<&str>) -> String {
    let sql = canonical_sql(sql);
    match prepared::param_values(params) {
        Ok(Some(values)) => {
            let values: Vec<String> = values.iter().map(ToString::to_string).collect();
            format!("{sql} -- parameters: [{}]", values.join(", "))
        }
        _ => sql,
    }
}

/// What the audit records of a command: its SQL, or its kind.
pub fn describe_command(command: &Command) -> String {
    match command {
        Command::CommandStatementQuery(q) => canonical_sql(&q.query),
        other => other
            .type_url()
            .trim_start_matches(SQL_TYPE_PREFIX)
            .to_string(),
    }
}

/// GetFlightInfo for a Flight SQL command; the datasets a statement
/// reads are noted in `read` (for the audit).
pub(crate) async fn get_flight_info(
    state: &Arc<AppState>,
    principal: &Principal,
    command: Command,
    descriptor: FlightDescriptor,
    partitioned: bool,
    notes: &Notes,
) -> Result<FlightInfo> {
    let (sql, params) = match CommandSql::of(command, state, principal, notes).await? {
        CommandSql::Sql(sql, params) => (sql, params),
        CommandSql::Other(other) => {
            return metadata::flight_info(state, principal, other, descriptor).await;
        }
    };
    let statement = Statement {
        sql,
        params,
        descriptor,
        partitioned,
    };
    statement_info(state, principal, statement, notes).await
}

/// A Flight SQL command as GetFlightInfo and GetSchema see it.
enum CommandSql {
    /// A statement, plain or prepared: its SQL and bound parameters.
    Sql(String, Option<String>),
    /// Any other command (catalog metadata and the like).
    Other(Command),
}

impl CommandSql {
    /// The SQL and parameters of `command` when it is a statement or a
    /// prepared statement (a prepared one's detail noted for the audit).
    async fn of(
        command: Command,
        state: &Arc<AppState>,
        principal: &Principal,
        notes: &Notes,
    ) -> Result<Self> {
        Ok(match command {
            Command::CommandStatementQuery(q) => Self::Sql(q.query, None),
            Command::CommandPreparedStatementQuery(q) => {
                let handle = &q.prepared_statement_handle;
                let prepared = prepared::verify(state, principal, handle).await?;
                let _ = notes
                    .detail
                    .set(statement_detail(&prepared.sql, prepared.params.as_deref()));
                Self::Sql(prepared.sql, prepared.params)
            }
            other => Self::Other(other),
        })
    }
}

/// A statement to describe with GetFlightInfo.
struct Statement {
    sql: String,
    params: Option<String>,
    descriptor: FlightDescriptor,
    partitioned: bool,
}

/// GetSchema for a Flight SQL command: the schema its results will have.
pub(crate) async fn get_schema(
    state: &Arc<AppState>,
    principal: &Principal,
    command: Command,
    notes: &Notes,
) -> Result<SchemaRef> {
    let (sql, params) = match CommandSql::of(command, state, principal, notes).await? {
        CommandSql::Sql(sql, params) => (sql, params),
        CommandSql::Other(other) => return metadata::schema_of(&other),
    };
    let deadline = state.sql_limits.deadline();
    let planned = QueryLimiter::plan_within(
        deadline,
        physical_plan(state, principal, &sql, params.as_deref()),
    )
    .await?;
    let _ = notes.datasets.set(planned.datasets);
    Ok(planned.plan.schema())
}

async fn statement_info(
    state: &Arc<AppState>,
    principal: &Principal,
    statement: Statement,
    notes: &Notes,
) -> Result<FlightInfo> {
    let Statement {
        sql,
        params,
        descriptor,
        partitioned,
    } = statement;
    let (sql, params) = (sql.as_str(), params.as_deref());
    let deadline = state.sql_limits.deadline();
    let Planned { plan, datasets } =
        QueryLimiter::plan_within(deadline, physical_plan(state, principal, sql, params)).await?;
    let _ = notes.datasets.set(datasets);
    // One endpoint per partition when asked, up to --max-partitions (a
    // union sums its inputs' partitions); beyond that, one for all.
    let count = plan.output_partitioning().partition_count().max(1);
    let split = partitioned && count <= state.engine.state().config().target_partitions();
    let partitions = if split { count as u32 } else { 1 };
    let exp = unix_now().saturating_add(state.ticket_ttl.as_secs());
    let iat_ms = crate::ticket::now_ms();
    let endpoints = (0..partitions)
        .map(|p| {
            let handle = StatementHandle {
                sub: principal.name.clone(),
                sql: sql.to_string(),
                partition: split.then_some(p),
                partitions,
                params: params.map(str::to_string),
                exp,
                iat_ms,
            };
            let ticket = TicketStatementQuery {
                statement_handle: state.tickets.sign(&handle).into(),
            };
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()))
        })
        .collect::<Vec<_>>();
    FlightInfo::new()
        .try_with_schema(&wire_schema(&plan.schema()))
        .map_err(|e| Error::Internal(format!("encoding schema failed: {e}")))
        .map(|info| {
            info.with_descriptor(descriptor)
                .with_endpoints(endpoints)
                .with_total_records(-1)
        })
}

/// A planned statement and the datasets it reads (`ns.dataset`,
/// comma-separated, for the audit).
struct Planned {
    plan: Arc<dyn ExecutionPlan>,
    datasets: String,
}

/// Plans `sql` for `principal`; partitions are independent (each endpoint
/// runs alone) or merged into one.
async fn physical_plan(
    state: &Arc<AppState>,
    principal: &Principal,
    sql: &str,
    params: Option<&str>,
) -> Result<Planned> {
    let ctx = session::principal_context(state, principal).await?;
    plan_in(&ctx, sql, params).await
}

/// Plans `sql` with `params` in the principal's session `ctx`.
async fn plan_in(ctx: &SessionContext, sql: &str, params: Option<&str>) -> Result<Planned> {
    let mut logical = sandbox::plan_query(ctx, sql).await?;
    let datasets = sandbox::datasets_read(&logical);
    if let Some(values) = prepared::param_values(params)? {
        logical = logical
            .with_param_values(values)
            .map_err(|e| Error::Status(sql_status(&e)))?;
    }
    let plan = ctx
        .state()
        .create_physical_plan(&logical)
        .await
        .map_err(|e| Error::Status(sql_status(&e)))?;
    let plan = if laker_query::engine::independent_partitions(&plan) {
        plan
    } else {
        Arc::new(CoalescePartitionsExec::new(plan))
    };
    Ok(Planned { plan, datasets })
}

/// DoGet for a Flight SQL ticket.
pub(crate) async fn do_get(
    state: &Arc<AppState>,
    principal: &Principal,
    (command, compression): (Command, Option<CompressionType>),
    span: Span,
    call: AuditedCall,
) -> Result<FrameStream> {
    let (call, batches) = match command {
        Command::TicketStatementQuery(t) => {
            let handle = match state.tickets.verify::<StatementHandle>(
                &t.statement_handle,
                &principal.name,
                unix_now(),
            ) {
                Ok(h) => h,
                Err(e) => return Err(call.refuse(e.into())),
            };
            let call = call
                .with_detail(&statement_detail(&handle.sql, handle.params.as_deref()))
                .begin(&state.audit);
            if let Err(e) = state
                .authenticator
                .require_not_revoked(principal, handle.iat_ms, "statement ticket")
                .await
            {
                return Err(call.refuse(e.into()));
            }
            let notes = call.notes();
            match statement_stream(state, principal, &handle, &t.statement_handle, &notes).await {
                Ok(batches) => (call, batches),
                Err(e) => return Err(call.refuse(e)),
            }
        }
        other => match metadata::batches(state, principal, other).await {
            Ok(batches) => (call, batches),
            Err(e) => return Err(call.refuse(e)),
        },
    };
    let schema = batches.schema();
    Ok(flight_data_stream(
        batches,
        schema,
        compression,
        &state.metrics,
        span,
        Some(call),
        None,
    ))
}

async fn statement_stream(
    state: &Arc<AppState>,
    principal: &Principal,
    handle: &StatementHandle,
    handle_bytes: &[u8],
    notes: &Notes,
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
        let planned = plan_in(&ctx, &handle.sql, handle.params.as_deref()).await?;
        Ok::<_, Error>((ctx, planned))
    };
    let (ctx, Planned { plan, datasets }) = QueryLimiter::plan_within(deadline, planning).await?;
    let _ = notes.datasets.set(datasets);
    let (task, memory) = state.sql_limits.task_context(&ctx.state())?;
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
    Ok(bounded(
        batches,
        deadline,
        cancel,
        (slot, registration, memory),
    ))
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
            state
                .tickets
                .verify::<StatementHandle>(&t.statement_handle, &principal.name, now)?;
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

/// What the audit records of a Flight SQL action (the SQL a prepared
/// statement is created with), or `None` when `action` is not one.
pub(crate) fn describe_action(action: &arrow_flight::Action) -> Option<String> {
    match action.r#type.as_str() {
        "CreatePreparedStatement" => Some(canonical_sql(
            &prepared::query_of(&action.body).unwrap_or_default(),
        )),
        "ClosePreparedStatement" | "CancelFlightInfo" => Some(String::new()),
        _ => None,
    }
}

/// DoAction for the Flight SQL actions (prepared statements, cancelling);
/// [`describe_action`] tells which actions those are.
pub(crate) async fn do_action(
    state: &Arc<AppState>,
    principal: &Principal,
    action: &arrow_flight::Action,
) -> Result<Vec<arrow_flight::Result>> {
    let one = |body: Vec<u8>| vec![arrow_flight::Result { body: body.into() }];
    match action.r#type.as_str() {
        "CreatePreparedStatement" => prepared::create(state, principal, &action.body)
            .await
            .map(one),
        // Handles carry everything; there is nothing to free.
        "ClosePreparedStatement" => Ok(Vec::new()),
        "CancelFlightInfo" => cancel_flight_info(state, principal, &action.body).map(one),
        other => Err(Error::Unimplemented(format!(
            "{other} is not a Flight SQL action"
        ))),
    }
}
