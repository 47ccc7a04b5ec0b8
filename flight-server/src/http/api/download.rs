//! Downloads over HTTP: `check` plans a slice without reading it (what the
//! console shows as you type), `download` streams it as a file. The same
//! spec, grants, admission and audit as a Flight download; backpressure
//! reaches the scan, a client that leaves cancels it, and a failure after
//! the first bytes aborts the connection (a cut file never looks whole).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Status;

use super::path::PathParams;
use super::audited::{Asked, audited, begin};
use super::caller::Caller;
use super::compression::Codec;
use super::context::Api;
use super::encode::Encoder;
use super::format::Format;
use super::params::{Params, SLICE};
use super::problem::Problem;
use crate::audit::call::{AuditedCall, outcome_of};
use crate::download::{self, Planned};
use crate::error::{Error, datafusion_status};
use crate::metrics::Metrics;

/// Encoded chunks waiting for the client; with the chunk being encoded,
/// what one download holds beyond the scan's own buffers.
const QUEUED_CHUNKS: usize = 4;
/// Encoded bytes gathered before they are sent as one chunk.
const CHUNK_BYTES: usize = 1 << 20;
/// A download whose client reads nothing for this long is cancelled, so a
/// client that stops reading cannot hold its memory and slot for ever.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// `GET /api/v1/datasets/{name}/check`: the slice planned, not read.
pub async fn check(
    State(api): State<Api>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), SLICE)?;
    let spec = params.slice(&name)?;
    let detail = spec.spec().to_json();
    let dataset = spec.name().to_string();
    let asked = Asked {
        operation: "check",
        dataset: &dataset,
        detail: &detail,
    };
    let planned = audited(&api, &caller, asked, async {
        download::plan(&api.state, &caller.principal, &spec, false).await
    })
    .await?;
    let (rows, bytes) = planned.plan.estimate();
    let columns: Vec<_> = planned
        .plan
        .schema()
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    Ok(Json(serde_json::json!({
        "ok": true,
        "columns": columns,
        "version": planned.plan.delta_version.filter(|_| !planned.restricted),
        "estimated_rows": rows,
        "estimated_bytes": bytes,
    })))
}

/// `GET /api/v1/datasets/{name}/download`: the slice as a file.
pub async fn download(
    State(api): State<Api>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let mut allowed = SLICE.to_vec();
    allowed.extend(["format", "compression"]);
    let params = Params::parse(query.as_deref(), &allowed)?;
    let format = Format::parse(params.text("format"))?;
    let codec = Codec::parse(params.text("compression"), format)?;
    let spec = params.slice(&name)?;
    let mut detail = serde_json::to_value(spec.spec()).unwrap_or_default();
    detail["format"] = format.extension().into();
    if codec != Codec::None {
        detail["compression"] = codec.name().into();
    }
    let detail = detail.to_string();
    let audited_name = spec.name().to_string();
    let call = begin(
        &api,
        &caller,
        &Asked {
            operation: "download",
            dataset: &audited_name,
            detail: &detail,
        },
    );
    let started = async {
        let Planned {
            dataset,
            plan,
            restricted,
        } = download::plan(&api.state, &caller.principal, &spec, false).await?;
        let admitted = api
            .state
            .admission
            .download_planned(&caller.principal.name, &plan)?;
        let schema = plan.schema();
        let encoder = Encoder::new(format, &schema, codec)
            .map_err(|e| Error::Internal(format!("starting the {format:?} encoder failed: {e}")))?;
        let task = admitted.task_context(plan.task_context())?;
        let parallel = api.state.admission.limits().parallel_reads;
        let batches = plan.execute(None, task, parallel)?;
        let version = plan.delta_version.filter(|_| !restricted);
        Ok::<_, Error>((dataset, version, encoder, batches, admitted))
    }
    .await;
    let (dataset, version, encoder, batches, admitted) = match started {
        Ok(started) => started,
        Err(e) => {
            let status = Status::from(e);
            call.end_now(outcome_of(&status), status.message().to_string(), 0, 0);
            return Err(Problem::from(status).audited());
        }
    };
    let (sender, receiver) = mpsc::channel(QUEUED_CHUNKS);
    let metrics = Arc::clone(&api.state.metrics);
    tokio::spawn(async move {
        let _admitted = admitted;
        pump(batches, encoder, sender, (call, metrics)).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let file = match spec.spec().version {
        Some(v) => format!("{}.v{v}.{}", dataset.name, format.extension()),
        None => format!("{}.{}", dataset.name, format.extension()),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(v) = version {
        headers.insert("x-laker-version", HeaderValue::from(v));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

type Chunk = Result<Bytes, std::io::Error>;

/// How a download's stream ended early.
enum Stop {
    /// The client left (or stopped reading for [`STALL_TIMEOUT`]).
    Cancelled(&'static str),
    /// Reading or encoding failed.
    Failed(Status),
}

/// Hands `chunk` to the client, waiting at most [`STALL_TIMEOUT`] for room.
async fn deliver(
    sender: &mpsc::Sender<Chunk>,
    chunk: Vec<u8>,
    metrics: &Metrics,
) -> Result<(), Stop> {
    let n = chunk.len() as u64;
    match tokio::time::timeout(STALL_TIMEOUT, sender.send(Ok(Bytes::from(chunk)))).await {
        Ok(Ok(())) => {
            metrics.add_bytes(n);
            Ok(())
        }
        Ok(Err(_)) => Err(Stop::Cancelled("")),
        Err(_) => Err(Stop::Cancelled("the client read nothing for 120 s")),
    }
}

/// Reads batches, encodes them and hands the chunks to the client, one
/// bounded queue apart; records the download's outcome, rows and bytes.
async fn pump(
    mut batches: SendableRecordBatchStream,
    mut encoder: Encoder,
    sender: mpsc::Sender<Chunk>,
    (call, metrics): (AuditedCall, Arc<Metrics>),
) {
    let _open = metrics.open_stream();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut pending = Vec::new();
    let ended: Result<(), Stop> = loop {
        let next = tokio::select! {
            next = batches.next() => next,
            () = sender.closed() => break Err(Stop::Cancelled("")),
        };
        let done = next.is_none();
        let encoded = match next {
            Some(Ok(batch)) => {
                rows += batch.num_rows() as u64;
                metrics.add_rows(batch.num_rows() as u64);
                encoder.write(&batch).await
            }
            Some(Err(e)) => break Err(Stop::Failed(datafusion_status(&e))),
            None => encoder.finish().await,
        };
        match encoded {
            Ok(chunk) => pending.extend(chunk),
            Err(e) => {
                let e = Error::Internal(format!("encoding the download failed: {e}"));
                break Err(Stop::Failed(Status::from(e)));
            }
        }
        if pending.len() >= CHUNK_BYTES || done {
            bytes += pending.len() as u64;
            if let Err(stop) = deliver(&sender, std::mem::take(&mut pending), &metrics).await {
                break Err(stop);
            }
        }
        if done {
            break Ok(());
        }
    };
    // The scan stops here, whatever ended the download.
    drop(batches);
    let (outcome, message) = match ended {
        Ok(()) => ("ok".to_string(), String::new()),
        Err(Stop::Cancelled(why)) => ("cancelled".to_string(), why.to_string()),
        Err(Stop::Failed(status)) => {
            // An error in the body aborts the connection: no clean end.
            let _ = sender
                .send(Err(std::io::Error::other(status.message().to_string())))
                .await;
            (outcome_of(&status), status.message().to_string())
        }
    };
    call.end_now(outcome, message, rows, bytes);
}
