//! Downloads over HTTP: `check` plans a slice without reading it (what the
//! console shows as you type), `download` streams it as a file. The same
//! spec, grants, admission and audit as a Flight download; backpressure
//! reaches the scan, a client that leaves cancels it, and a failure after
//! the first bytes aborts the connection (a cut file never looks whole).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Status;

use super::audited::{Asked, audited, begin};
use super::caller::Caller;
use super::context::Api;
use super::encode::{Encoder, Format};
use super::params::{Params, SLICE};
use super::problem::Problem;
use crate::audit::call::{AuditedCall, outcome_of};
use crate::download::{self, Planned};
use crate::error::{Error, datafusion_status};

/// Encoded chunks waiting for the client; with the chunk being encoded,
/// what one download holds beyond the scan's own buffers.
const QUEUED_CHUNKS: usize = 4;
/// Encoded bytes gathered before they are sent as one chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// `GET /api/v1/datasets/{name}/check`: the slice planned, not read.
pub async fn check(
    State(api): State<Api>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), SLICE)?;
    let spec = params.slice(&name)?;
    let detail = spec.spec().to_json();
    let asked = Asked {
        operation: "check",
        dataset: &name,
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
        "version": planned.plan.delta_version,
        "estimated_rows": rows,
        "estimated_bytes": bytes,
    })))
}

/// `GET /api/v1/datasets/{name}/download`: the slice as a file.
pub async fn download(
    State(api): State<Api>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let mut allowed = SLICE.to_vec();
    allowed.push("format");
    let params = Params::parse(query.as_deref(), &allowed)?;
    let format = Format::parse(params.text("format"))?;
    let spec = params.slice(&name)?;
    let mut detail = serde_json::to_value(spec.spec()).unwrap_or_default();
    detail["format"] = format.extension().into();
    let detail = detail.to_string();
    let call = begin(
        &api,
        &caller,
        &Asked {
            operation: "download",
            dataset: &name,
            detail: &detail,
        },
    );
    let started = async {
        let admitted = api.state.admission.download(&caller.principal.name)?;
        let Planned { dataset, plan } =
            download::plan(&api.state, &caller.principal, &spec, false).await?;
        let schema = plan.schema();
        let encoder = Encoder::new(format, &schema)
            .map_err(|e| Error::Internal(format!("starting the {format:?} encoder failed: {e}")))?;
        let task = admitted.memory().task_context(plan.task_context())?;
        let parallel = api.state.admission.limits().parallel_reads;
        let batches = plan.execute(None, task, parallel)?;
        Ok::<_, Error>((dataset, plan.delta_version, encoder, batches, admitted))
    }
    .await;
    let (dataset, version, encoder, batches, admitted) = match started {
        Ok(started) => started,
        Err(e) => {
            let status = Status::from(e);
            call.end_now(outcome_of(&status), status.message().to_string(), 0, 0);
            return Err(status.into());
        }
    };
    let (sender, receiver) = mpsc::channel(QUEUED_CHUNKS);
    tokio::spawn(async move {
        let _admitted = admitted;
        pump(batches, encoder, sender, call).await;
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

/// Reads batches, encodes them and hands the chunks to the client, one
/// bounded queue apart; records the download's outcome, rows and bytes.
async fn pump(
    mut batches: SendableRecordBatchStream,
    mut encoder: Encoder,
    sender: mpsc::Sender<Chunk>,
    call: AuditedCall,
) {
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut pending = Vec::new();
    let failure = loop {
        let next = tokio::select! {
            next = batches.next() => next,
            () = sender.closed() => break Some(None),
        };
        let encoded = match next {
            Some(Ok(batch)) => {
                rows += batch.num_rows() as u64;
                encoder.write(&batch)
            }
            Some(Err(e)) => break Some(Some(datafusion_status(&e))),
            None => match encoder.finish() {
                Ok(last) => {
                    pending.extend(last);
                    break None;
                }
                Err(e) => Err(e),
            },
        };
        match encoded {
            Ok(chunk) => pending.extend(chunk),
            Err(e) => {
                let e = Error::Internal(format!("encoding the download failed: {e}"));
                break Some(Some(Status::from(e)));
            }
        }
        if pending.len() >= CHUNK_BYTES {
            bytes += pending.len() as u64;
            let chunk = Bytes::from(std::mem::take(&mut pending));
            if sender.send(Ok(chunk)).await.is_err() {
                break Some(None);
            }
        }
    };
    let (outcome, message) = match failure {
        None => {
            bytes += pending.len() as u64;
            if sender.send(Ok(Bytes::from(pending))).await.is_err() {
                ("cancelled".to_string(), String::new())
            } else {
                ("ok".to_string(), String::new())
            }
        }
        // The client left: the scan is dropped with this task.
        Some(None) => ("cancelled".to_string(), String::new()),
        Some(Some(status)) => {
            // An error in the body aborts the connection: no clean end.
            let _ = sender
                .send(Err(std::io::Error::other(status.message().to_string())))
                .await;
            (outcome_of(&status), status.message().to_string())
        }
    };
    drop(batches);
    call.end_now(outcome, message, rows, bytes);
}
