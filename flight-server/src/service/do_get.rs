//! DoGet: verify the ticket, re-authorise, re-plan, stream one partition.
//! The download is audited when its stream ends (rows, bytes, outcome), or
//! at once when it is refused.
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
use tonic::Status;
use tracing::Span;

use crate::audit::AuditPermit;
use crate::error::{Error, Result};
use crate::service::audited::AuditedCall;
use crate::state::AppState;
use crate::stream::flight_data_stream;
use crate::ticket::Ticket as Decoded;
use crate::wire::body::FrameStream;

/// Header of a resumed download: rows of the partition the client has.
pub const SKIP_ROWS_HEADER: &str = "x-laker-skip-rows";

/// The rows a resuming client asks to skip (0 without the header).
pub fn skip_rows(headers: &tonic::metadata::MetadataMap) -> Result<u64> {
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
pub const COMPRESSION_HEADER: &str = "x-laker-compression";

/// The body compression a client asks for (none without the header).
pub fn compression(headers: &tonic::metadata::MetadataMap) -> Result<Option<CompressionType>> {
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

/// Streams the rows a ticket stands for, skipping the first `skip`,
/// bodies compressed with `compression`.
pub async fn do_get(
    state: &Arc<AppState>,
    principal: &Principal,
    (ticket, skip, compression): (Ticket, u64, Option<CompressionType>),
    span: Span,
    call: AuditedCall,
    permit: Option<AuditPermit>,
) -> Result<FrameStream> {
    let decoded = match state
        .tickets
        .decode(&ticket.ticket, &principal.name, unix_now())
    {
        Ok(decoded) => decoded,
        Err(e) => return Err(refused(call, permit, e.into())),
    };
    let (spec, partition, expected) = match decoded {
        Decoded::Signed(c) => (c.spec, c.partition, Some((c.partitions, c.revision))),
        Decoded::Spec(spec) => (spec, None, None),
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
        .with_detail(&detail.to_string());
    // The ticket proves what was authorised then; grants are checked again now.
    let planned = async {
        let (dataset, plan, _) = state.plan_download(principal, &spec).await?;
        if let Some((partitions, revision)) = expected
            && (revision != dataset.revision || partitions as usize != plan.partitions())
        {
            return Err(Error::FailedPrecondition(format!(
                "dataset '{}' changed since the ticket was issued; call GetFlightInfo again",
                dataset.name
            )));
        }
        let batches = plan.execute(partition.map(|p| p as usize))?;
        Ok((skipping(batches, skip), plan.schema()))
    }
    .await;
    match planned {
        Ok((batches, schema)) => Ok(flight_data_stream(
            batches,
            schema,
            compression,
            &state.metrics,
            span,
            Some((call, permit)),
        )),
        Err(e) => Err(refused(call, permit, e)),
    }
}

/// Audits a download refused before it started; returns its error.
pub(crate) fn refused(call: AuditedCall, permit: Option<AuditPermit>, error: Error) -> Error {
    let status = Status::from(error);
    if let Some(permit) = permit {
        permit.send(call.finish::<()>(&Err(status.clone())));
    }
    Error::Status(status)
}
