//! DoGet: read the request's headers, then stream a Flight SQL ticket's
//! results ([`crate::sql`]) or a download: verify the ticket, re-authorise,
//! re-plan, stream one partition. The call is audited when its stream ends
//! (rows, bytes, outcome), or at once when it is refused.
//!
//! A client resuming an interrupted download sends the rows it already has
//! in the `x-laker-skip-rows` header: the partition is planned exactly as
//! before (same Delta version, same files in the same order), and its first
//! rows are dropped instead of sent.
//!
//! A client may ask for compressed message bodies with the
//! `x-laker-compression` header (`lz4` or `zstd`; Arrow IPC buffer
//! compression, which every Arrow Flight client decodes). Off by default:
//! on fast networks it costs more CPU than it saves.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::ipc::CompressionType;
use arrow_flight::Ticket;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use laker_auth::Principal;
use laker_auth::token::unix_now;
use tonic::Request;
use tracing::Span;

use crate::audit::call::AuditedCall;
use crate::download::{self, CheckedSpec, Planned};
use crate::error::{Error, Result};
use crate::sql;
use crate::state::AppState;
use crate::stream::flight_data_stream;
use crate::ticket::Ticket as Decoded;
use crate::wire::body::FrameStream;

/// Streams what the request's ticket stands for: a Flight SQL ticket's
/// results, or a download's partition. `call` is the call's record, ended
/// when the stream ends.
pub(super) async fn do_get(
    state: &Arc<AppState>,
    principal: Principal,
    request: Request<Ticket>,
    call: AuditedCall,
    span: Span,
) -> Result<FrameStream> {
    let headers = request.metadata();
    let options = skip_rows(headers).and_then(|skip| Ok((skip, compression(headers)?)));
    let (skip, compression) = match options {
        Ok(options) => options,
        Err(e) => return Err(call.refuse(e)),
    };
    if let Some(command) = sql::decode_command(&request.get_ref().ticket) {
        let call = call.with_detail(&sql::describe_command(&command));
        if skip > 0 {
            // A query run again need not return its rows in the same order.
            return Err(call.refuse(Error::InvalidArgument(format!(
                "{SKIP_ROWS_HEADER} resumes downloads only; run the SQL query again"
            ))));
        }
        return sql::do_get(state, &principal, (command, compression), span, call).await;
    }
    let ticket = request.into_inner();
    stream_download(state, &principal, (ticket, skip, compression), span, call).await
}

/// Header of a resumed download: rows of the partition the client has.
const SKIP_ROWS_HEADER: &str = "x-laker-skip-rows";

/// The rows a resuming client asks to skip (0 without the header).
fn skip_rows(headers: &tonic::metadata::MetadataMap) -> Result<u64> {
    match headers.get(SKIP_ROWS_HEADER) {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{SKIP_ROWS_HEADER} must be a number of rows"))
            }),
    }
}

/// Header choosing the compression of message bodies.
const COMPRESSION_HEADER: &str = "x-laker-compression";

/// The body compression a client asks for (none without the header).
fn compression(headers: &tonic::metadata::MetadataMap) -> Result<Option<CompressionType>> {
    let Some(value) = headers.get(COMPRESSION_HEADER) else {
        return Ok(None);
    };
    match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
        Ok(v) if v == "lz4" || v == "lz4_frame" => Ok(Some(CompressionType::LZ4_FRAME)),
        Ok(v) if v == "zstd" => Ok(Some(CompressionType::ZSTD)),
        Ok(v) if v == "none" || v.is_empty() => Ok(None),
        _ => Err(Error::InvalidArgument(format!(
            "{COMPRESSION_HEADER} must be lz4, zstd or none"
        ))),
    }
}

/// `batches` without their first `skip` rows.
fn skipping(batches: SendableRecordBatchStream, skip: u64) -> SendableRecordBatchStream {
    if skip == 0 {
        return batches;
    }
    let schema = batches.schema();
    let mut left = skip;
    let rest = batches.filter_map(move |batch| {
        let out = match batch {
            Ok(b) if left >= b.num_rows() as u64 => {
                left -= b.num_rows() as u64;
                None
            }
            Ok(b) if left > 0 => {
                let from = left as usize;
                left = 0;
                Some(Ok::<RecordBatch, _>(b.slice(from, b.num_rows() - from)))
            }
            other => Some(other),
        };
        futures::future::ready(out)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, rest))
}

/// Streams the rows a download ticket stands for, skipping the first
/// `skip`, bodies compressed with `compression`.
async fn stream_download(
    state: &Arc<AppState>,
    principal: &Principal,
    (ticket, skip, compression): (Ticket, u64, Option<CompressionType>),
    span: Span,
    call: AuditedCall,
) -> Result<FrameStream> {
    let decoded = match Decoded::decode(&state.tickets, &ticket.ticket, &principal.name, unix_now())
    {
        Ok(decoded) => decoded,
        Err(e) => return Err(call.refuse(e.into())),
    };
    let (spec, partition, expected, issued) = match decoded {
        Decoded::Signed(c) => (
            c.spec,
            c.partition,
            Some((c.partitions, c.revision)),
            Some(c.iat_ms),
        ),
        Decoded::Spec(spec) => (spec, None, None, None),
    };
    let mut detail = serde_json::to_value(&spec).unwrap_or_default();
    if let Some(p) = partition {
        detail["partition"] = p.into();
    }
    if skip > 0 {
        detail["skip_rows"] = skip.into();
    }
    let call = call
        .with_dataset(spec.dataset.clone())
        .with_detail(&detail.to_string())
        .begin(&state.audit);
    // The ticket proves what was authorised then; grants are checked again now.
    let planned = async {
        if let Some(issued) = issued {
            state
                .authenticator
                .require_not_revoked(principal, issued, "ticket")
                .await?;
        }
        let admitted = state.admission.download(&principal.name)?;
        // A signed ticket's spec is checked again (it was checked when it
        // was signed, perhaps by another version); a raw JSON spec was
        // checked as it was parsed.
        let spec = match expected {
            Some(_) => CheckedSpec::check(spec)?,
            None => CheckedSpec::parsed(spec)?,
        };
        let Planned { dataset, plan, .. } =
            download::plan(state, principal, &spec, expected.is_some()).await?;
        if let Some((partitions, revision)) = expected
            && (revision != dataset.revision || partitions as usize != plan.partitions())
        {
            return Err(Error::FailedPrecondition(format!(
                "dataset '{}' changed since the ticket was issued; call GetFlightInfo again",
                dataset.name
            )));
        }
        let task = admitted.memory().task_context(plan.task_context())?;
        let parallel = state.admission.limits().parallel_reads;
        let batches = plan.execute(partition.map(|p| p as usize), task, parallel)?;
        Ok((skipping(batches, skip), plan.schema(), admitted))
    }
    .await;
    match planned {
        Ok((batches, schema, admitted)) => Ok(flight_data_stream(
            batches,
            schema,
            compression,
            &state.metrics,
            span,
            Some(call),
            Some(Box::new(admitted)),
        )),
        Err(e) => Err(call.refuse(e)),
    }
}
