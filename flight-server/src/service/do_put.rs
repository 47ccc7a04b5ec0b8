//! DoPut: binding parameters to a prepared statement, a Flight SQL ingest,
//! or an upload. The call runs in a task of its own, which also checks the
//! account and records the call: a client that goes away must not cut an
//! upload short before it has cleaned up what it wrote, nor leave a
//! committed upload unaudited.

use std::sync::Arc;

use arrow_flight::error::FlightError;
use arrow_flight::sql::{Command, DoPutUpdateResult};
use arrow_flight::{FlightData, PutResult};
use futures::StreamExt;
use laker_auth::Principal;
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status, Streaming};
use tracing::Instrument;

use super::call::{Call, Tally, observe};
use crate::audit::call::Notes;
use crate::error::{Error, Result};
use crate::sql;
use crate::state::AppState;
use crate::upload;
use laker_ingest::upload::{self as ingest, Uploaded};

/// DoPut, run and recorded by a task of its own.
pub(super) async fn do_put(
    state: &Arc<AppState>,
    call: Call,
    request: Request<Streaming<FlightData>>,
) -> Result<PutResult, Status> {
    let call = call.begin();
    let span = call.span();
    let headers = request.metadata().clone();
    let data = request.into_inner();
    let state = Arc::clone(state);
    let task = tokio::spawn(
        async move {
            let work = |principal: Principal, notes: Notes| async move {
                put(&state, &principal, headers, data, &notes).await
            };
            match call.checked().await {
                Ok(call) => call.perform(work, tally).await,
                Err(refused) => Err(refused),
            }
        }
        .instrument(span.clone()),
    );
    let joined = async {
        task.await
            .unwrap_or_else(|e| Err(Status::internal(format!("upload task: {e}"))))
            .map_err(Error::Status)
    };
    Ok(observe(span, joined).await?.result)
}

/// What an upload's record counts: the dataset written, the answer
/// (version, upload id, duplicate), rows and bytes. Binding parameters
/// writes no dataset, and counts nothing.
fn tally(done: &Uploaded) -> Option<Tally> {
    (!done.dataset.is_empty()).then(|| Tally {
        dataset: done.dataset.clone(),
        detail: done.detail.clone(),
        rows: done.rows,
        bytes: done.bytes,
    })
}

/// Routes DoPut by its first message: parameters for a prepared
/// statement, a Flight SQL ingest, or an upload; the datasets written are
/// noted in `notes` as soon as they are known (failed uploads are audited
/// with them too).
async fn put(
    state: &Arc<AppState>,
    principal: &Principal,
    headers: MetadataMap,
    data: Streaming<FlightData>,
    notes: &Notes,
) -> Result<Uploaded> {
    let data = data.map(|r| r.map_err(|s| FlightError::Tonic(Box::new(s))));
    let mut rest = upload::idle::bounded(data, state.uploads.limits.idle);
    let first = match rest.next().await {
        Some(Ok(first)) => first,
        Some(Err(FlightError::Tonic(status))) => return Err(Error::Status(*status)),
        Some(Err(other)) => return Err(Error::InvalidArgument(other.to_string())),
        None => return Err(Error::InvalidArgument("DoPut sent no data".into())),
    };
    let command = first
        .flight_descriptor
        .as_ref()
        .and_then(|d| sql::decode_command(&d.cmd));
    match command {
        Some(Command::CommandPreparedStatementQuery(q)) => {
            let stream = futures::stream::once(async { Ok(first) })
                .chain(rest)
                .boxed();
            let handle = &q.prepared_statement_handle;
            let body = sql::prepared::bind(state, principal, handle, stream, notes).await?;
            Ok(Uploaded {
                dataset: String::new(),
                rows: 0,
                bytes: 0,
                result: PutResult {
                    app_metadata: body.into(),
                },
                detail: String::new(),
            })
        }
        Some(Command::CommandStatementIngest(cmd)) => {
            let target = ingest::target::ingest_target(&cmd)?;
            let _ = notes.datasets.set(target.name.to_string());
            let mut done =
                ingest::write_upload(&state.uploads, principal, target, first, rest).await?;
            let count = DoPutUpdateResult {
                record_count: i64::try_from(done.rows).unwrap_or(-1),
            };
            done.result.app_metadata = count.encode_to_vec().into();
            Ok(done)
        }
        Some(other) => Err(Error::Unimplemented(format!(
            "DoPut with Flight SQL command {} is not supported",
            sql::describe_command(&other)
        ))),
        None => {
            let target = ingest::target_of(&first, headers.as_ref())?;
            let _ = notes.datasets.set(target.name.to_string());
            Ok(ingest::write_upload(&state.uploads, principal, target, first, rest).await?)
        }
    }
}
