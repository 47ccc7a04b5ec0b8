//! Prepared statements without server state: the handle is the signed SQL
//! (and, once bound through DoPut, its parameter values), so creating,
//! binding, executing and closing work on any replica.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_flight::sql::{
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    DoPutPreparedStatementResult, ProstMessageExt,
};
use arrow_flight::{FlightData, IpcMessage, SchemaAsIpc};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::common::ScalarValue;
use futures::{Stream, StreamExt};
use laker_auth::Principal;
use laker_auth::token::unix_now;
use laker_query::sql::sandbox;
use prost::Message;

use super::handle::PreparedHandle;
use super::session;
use crate::error::{Error, Result, sql_status};
use crate::state::AppState;
use crate::wire::wire_schema;

/// Most bytes of bound parameters.
const MAX_PARAM_BYTES: usize = 1 << 20;

fn create_request(body: &[u8]) -> Result<ActionCreatePreparedStatementRequest> {
    Any::decode(body)
        .ok()
        .and_then(|any| any.unpack().ok().flatten())
        .ok_or_else(|| {
            Error::InvalidArgument("body is not an ActionCreatePreparedStatementRequest".into())
        })
}

/// The SQL of a CreatePreparedStatement body, if it is one.
pub fn query_of(body: &[u8]) -> Option<String> {
    create_request(body).ok().map(|r| r.query)
}

/// CreatePreparedStatement: checks and plans the SQL; returns the handle,
/// the result schema and the parameter schema.
pub async fn create(state: &Arc<AppState>, principal: &Principal, body: &[u8]) -> Result<Vec<u8>> {
    let request = create_request(body)?;
    let ctx = session::principal_context(state, principal).await?;
    let plan = sandbox::plan_query(&ctx, &request.query).await?;
    let mut params: Vec<(String, Option<DataType>)> = plan
        .get_parameter_types()
        .map_err(|e| Error::Status(sql_status(&e)))?
        .into_iter()
        .collect();
    params.sort_by_key(|(name, _)| {
        name.trim_start_matches('$')
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    let parameter_schema = Schema::new(
        params
            .into_iter()
            .map(|(name, ty)| Field::new(name, ty.unwrap_or(DataType::Null), true))
            .collect::<Vec<_>>(),
    );
    let handle = PreparedHandle {
        sub: principal.name.clone(),
        sql: request.query,
        params: None,
        exp: unix_now().saturating_add(state.ticket_ttl.as_secs()),
        iat_ms: crate::ticket::now_ms(),
    };
    let result = ActionCreatePreparedStatementResult {
        prepared_statement_handle: state.tickets.sign(&handle).into(),
        dataset_schema: ipc_schema(&wire_schema(plan.schema().as_arrow()))?,
        parameter_schema: ipc_schema(&parameter_schema)?,
    };
    Ok(result.as_any().encode_to_vec())
}

/// DoPut of parameter values: returns an updated handle that carries them.
/// Messages are checked as they arrive — at most [`MAX_PARAM_BYTES`] read
/// in all, one row of values — so nothing larger is ever held.
pub(crate) async fn bind<S>(
    state: &Arc<AppState>,
    principal: &Principal,
    handle: &[u8],
    mut data: S,
    notes: &crate::audit::call::Notes,
) -> Result<Vec<u8>>
where
    S: Stream<Item = Result<FlightData, arrow_flight::error::FlightError>> + Send + Unpin + 'static,
{
    let mut prepared = verify(state, principal, handle).await?;
    let limits = laker_ingest::inbound::Limits::default().capped(MAX_PARAM_BYTES);
    let mut decoder = laker_ingest::inbound::Decoder::new(limits);
    let mut received = 0usize;
    let mut row: Option<RecordBatch> = None;
    while let Some(message) = data.next().await {
        let message = message.map_err(|e| match e {
            arrow_flight::error::FlightError::Tonic(status) => Error::Status(*status),
            other => Error::InvalidArgument(format!("invalid parameter data: {other}")),
        })?;
        received = received
            .saturating_add(message.data_header.len())
            .saturating_add(message.data_body.len());
        if received > MAX_PARAM_BYTES {
            return Err(Error::InvalidArgument(format!(
                "parameters are larger than {MAX_PARAM_BYTES} bytes"
            )));
        }
        let batch = decoder
            .push(&message)
            .map_err(|e| Error::InvalidArgument(format!("invalid parameter data: {}", e)))?;
        let Some(batch) = batch.filter(|b| b.num_rows() > 0) else {
            continue;
        };
        if row.is_some() || batch.num_rows() > 1 {
            return Err(Error::InvalidArgument(
                "bind one row of parameters per execution".into(),
            ));
        }
        row = Some(batch);
    }
    prepared.params = row.as_ref().map(encode_params).transpose()?;
    let _ = notes.detail.set(super::statement_detail(
        &prepared.sql,
        prepared.params.as_deref(),
    ));
    let result = DoPutPreparedStatementResult {
        prepared_statement_handle: Some(state.tickets.sign(&prepared).into()),
    };
    Ok(result.encode_to_vec())
}

/// A prepared handle issued to `principal` (and not before its tokens were revoked).
pub async fn verify(
    state: &AppState,
    principal: &Principal,
    bytes: &[u8],
) -> Result<PreparedHandle> {
    let handle = state
        .tickets
        .verify::<PreparedHandle>(bytes, &principal.name, unix_now())?;
    state
        .authenticator
        .require_not_revoked(principal, handle.iat_ms, "prepared statement")
        .await?;
    Ok(handle)
}

/// The scalar values of the one-row parameter batch in a handle.
pub fn param_values(params: Option<&str>) -> Result<Option<Vec<ScalarValue>>> {
    let Some(text) = params else {
        return Ok(None);
    };
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| Error::InvalidArgument("corrupt parameters".into()))?;
    let mut reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let Some(batch) = reader.next().transpose()? else {
        return Ok(None);
    };
    batch
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, 0).map_err(Error::from))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn encode_params(batch: &RecordBatch) -> Result<String> {
    let row = batch.slice(0, 1);
    let mut bytes = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut bytes, row.schema_ref())?;
        writer.write(&row)?;
        writer.finish()?;
    }
    if bytes.len() > MAX_PARAM_BYTES {
        return Err(Error::InvalidArgument(format!(
            "parameters are larger than {MAX_PARAM_BYTES} bytes"
        )));
    }
    Ok(STANDARD.encode(bytes))
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Error::Internal(format!("encoding schema: {e}")))?;
    Ok(bytes)
}
