//! Downloads over HTTP: `check` plans a slice without reading it (what the
//! console shows as you type), `download` streams it as a file. The same
//! spec, grants, admission and audit as a Flight download; backpressure
//! reaches the scan, a client that leaves cancels it, and a failure after
//! the first bytes aborts the connection (a cut file never looks whole).
//! A Parquet download that needs no row-level work is assembled from the
//! lake's column chunks instead ([`super::parquet_copy`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Status;

use super::audited::{Asked, audited, begin};
use super::caller::Caller;
use super::compression::Codec;
use super::context::Api;
use super::encode::Encoder;
use super::format::Format;
use super::outlet::{CHUNK_BYTES, Outlet, Stop};
use super::params::{Params, SLICE};
use super::parquet_copy::{self, ParquetCopy};
use super::path::PathParams;
use super::problem::Problem;
use crate::audit::call::outcome_of;
use crate::download::{self, Planned};
use crate::error::{Error, datafusion_status};

/// Chunks waiting for the client; with the chunk being encoded (or the
/// column chunk being copied), what one download holds beyond the scan's
/// own buffers.
const QUEUED_CHUNKS: usize = 4;

/// How a download's file is written.
enum Writing {
    /// The plan's batches, encoded.
    Encoded(SendableRecordBatchStream, Encoder),
    /// The files' column chunks, copied.
    Copied(ParquetCopy),
}

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
    // Copied column chunks keep their codec unless one is asked for.
    let asked_codec = params.text("compression").map(|_| codec.parquet());
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
        let task = admitted.task_context(plan.task_context())?;
        let copy = match format {
            // Row filters and masks are in the plan too (and refuse it):
            // a restricted caller's download is never even considered.
            Format::Parquet if !restricted => {
                parquet_copy::prepare(&plan, &task, asked_codec).await
            }
            _ => None,
        };
        // What a copy holds at most is held up front; without room, the
        // download is read and encoded instead (its scan is bounded alike).
        let copy = copy.filter(|c| admitted.memory().hold(c.peak_bytes()).is_ok());
        let writing = match copy {
            Some(copy) => Writing::Copied(copy),
            None => {
                let schema = plan.schema();
                let encoder = Encoder::new(format, &schema, codec).map_err(|e| {
                    Error::Internal(format!("starting the {format:?} encoder failed: {e}"))
                })?;
                let parallel = api.state.admission.limits().parallel_reads;
                Writing::Encoded(plan.execute(None, task, parallel)?, encoder)
            }
        };
        let version = plan.delta_version.filter(|_| !restricted);
        Ok::<_, Error>((dataset, version, writing, admitted))
    }
    .await;
    let (dataset, version, writing, admitted) = match started {
        Ok(started) => started,
        Err(e) => {
            let status = Status::from(e);
            call.end_now(outcome_of(&status), status.message().to_string(), 0, 0);
            return Err(Problem::from(status).audited());
        }
    };
    let copied = matches!(writing, Writing::Copied(_));
    let (sender, receiver) = mpsc::channel(QUEUED_CHUNKS);
    let mut outlet = Outlet::new(sender, Arc::clone(&api.state.metrics));
    let body = outlet.body(receiver);
    tokio::spawn(async move {
        let _admitted = admitted;
        let ended = match writing {
            Writing::Encoded(batches, encoder) => pump(batches, encoder, &mut outlet).await,
            Writing::Copied(copy) => copy.run(&mut outlet).await,
        };
        outlet.end(ended, call).await;
    });
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
    if copied {
        headers.insert("x-laker-parquet", HeaderValue::from_static("copied"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Reads batches, encodes them and hands the chunks to the client, one
/// bounded queue apart, counting the rows; the scan stops when it returns,
/// whatever ended the download.
async fn pump(
    mut batches: SendableRecordBatchStream,
    mut encoder: Encoder,
    outlet: &mut Outlet,
) -> Result<(), Stop> {
    let mut pending = Vec::new();
    loop {
        let next = tokio::select! {
            next = batches.next() => next,
            () = outlet.closed() => return Err(Stop::Cancelled("")),
        };
        let done = next.is_none();
        let encoded = match next {
            Some(Ok(batch)) => {
                outlet.count_rows(batch.num_rows() as u64);
                encoder.write(&batch).await
            }
            Some(Err(e)) => return Err(Stop::Failed(datafusion_status(&e))),
            None => encoder.finish().await,
        };
        match encoded {
            Ok(chunk) => pending.extend(chunk),
            Err(e) => {
                let e = Error::Internal(format!("encoding the download failed: {e}"));
                return Err(Stop::Failed(Status::from(e)));
            }
        }
        if pending.len() >= CHUNK_BYTES || done {
            outlet.send(std::mem::take(&mut pending)).await?;
        }
        if done {
            return Ok(());
        }
    }
}
