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
//!
//! With `--result-cache-mb`, a partition's encoded messages may come from
//! the result cache ([`crate::cache`]) instead of a scan — always after the
//! ticket, the grants and the plan were checked for the caller as they are
//! now, and only for a key that covers that very plan.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
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
use crate::cache::{self, CachedResult, KeyParts, Lookup, Recorder};
use crate::download::{self, CheckedSpec, Planned};
use crate::error::{Error, Result};
use crate::sql;
use crate::state::AppState;
use crate::stream::{MAX_FLIGHT_DATA_BYTES, encode_frames, observed};
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

/// Where a download's messages come from.
enum Source {
    /// Batches read now; recorded for the cache when there is a recorder.
    Fresh {
        batches: SendableRecordBatchStream,
        schema: SchemaRef,
        recorder: Option<Recorder>,
    },
    /// The cached result of this very plan.
    Cached(Arc<CachedResult>),
}

/// The result cache's answer for a planned download: a resumed download
/// (`skip` rows) and a plan whose bytes cannot be keyed are never cached.
fn cache_lookup(
    state: &Arc<AppState>,
    principal: &Principal,
    planned: &Planned,
    (partition, skip, compression): (Option<usize>, u64, Option<CompressionType>),
) -> Lookup {
    if skip > 0 || !state.results.enabled() {
        return Lookup::Pass;
    }
    let parts = KeyParts {
        dataset: &planned.dataset,
        delta_version: planned.plan.delta_version,
        plan: planned.plan.physical_plan(),
        partition,
        compression,
        max_message_bytes: MAX_FLIGHT_DATA_BYTES,
        reader: planned.restricted.then_some(principal.name.as_str()),
    };
    match cache::result_key(&parts) {
        Some(key) => state.results.lookup(key),
        None => Lookup::Pass,
    }
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
        // A signed ticket's spec is checked again (it was checked when it
        // was signed, perhaps by another version); a raw JSON spec was
        // checked as it was parsed.
        let spec = match expected {
            Some(_) => CheckedSpec::check(spec)?,
            None => CheckedSpec::parsed(spec)?,
        };
        let planned = download::plan(state, principal, &spec, expected.is_some()).await?;
        let (dataset, plan) = (&planned.dataset, &planned.plan);
        if let Some((partitions, revision)) = expected
            && (revision != dataset.revision || partitions as usize != plan.partitions())
        {
            return Err(Error::FailedPrecondition(format!(
                "dataset '{}' changed since the ticket was issued; call GetFlightInfo again",
                dataset.name
            )));
        }
        // Admitted once planned: a download its statistics show to be
        // small reserves little of the memory budget.
        let mut admitted = state
            .admission
            .download_sized(&principal.name, plan.in_flight_hint())?;
        let partition = partition.map(|p| p as usize);
        let lookup = cache_lookup(state, principal, &planned, (partition, skip, compression));
        let recorder = match lookup {
            Lookup::Hit(result) => return Ok((Source::Cached(result), admitted)),
            Lookup::Record(recorder) => Some(recorder),
            Lookup::Pass => None,
        };
        // A fresh read (not a cached replay) may use large batches.
        state.admission.grant_large_batches(&mut admitted, plan);
        let task = admitted.task_context(plan.task_context())?;
        let parallel = state.admission.limits().parallel_reads;
        let batches = plan.execute(partition, task, parallel)?;
        let source = Source::Fresh {
            batches: skipping(batches, skip),
            schema: plan.schema(),
            recorder,
        };
        Ok((source, admitted))
    }
    .await;
    let (source, admitted) = match planned {
        Ok(planned) => planned,
        Err(e) => return Err(call.refuse(e)),
    };
    let rows = Arc::new(AtomicU64::new(0));
    let frames = match source {
        Source::Fresh {
            batches,
            schema,
            recorder,
        } => {
            let frames = encode_frames(batches, &schema, compression, &rows);
            match recorder {
                Some(recorder) => cache::recording(frames, Arc::clone(&rows), recorder),
                None => frames,
            }
        }
        Source::Cached(result) => {
            // The record says the rows came from the cache.
            detail["result_cache"] = "hit".into();
            let _ = call.notes().detail.set(detail.to_string());
            cache::replay(result, Arc::clone(&rows))
        }
    };
    Ok(observed(
        frames,
        rows,
        &state.metrics,
        span,
        Some(call),
        Some(Box::new(admitted)),
    ))
}
