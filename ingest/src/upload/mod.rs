//! Uploads: DoPut with a path descriptor `["namespace", "dataset"]` (mode
//! and upload id in the `x-laker-upload-mode` / `x-laker-upload-id`
//! headers) or a JSON command descriptor writes the stream into the
//! dataset's Delta table in one atomic commit. The caller needs `write` on
//! the dataset. Batches are fitted to the dataset's schema ([`schema`]) as
//! they arrive; any problem, a limit, or a client that goes away leaves the
//! table as it was. The answer (the DoPut result) is sent only after the
//! commit is durable.

pub mod ctx;
pub mod limits;
pub mod orphans;
pub mod rules;
pub mod schema;
pub mod staged;
pub mod target;

use std::sync::{Arc, Mutex};

use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, PutResult};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake_core::protocol::SaveMode;
use futures::{Stream, StreamExt, TryStreamExt};
use laker_auth::{Action, Principal};
use laker_catalog::error::CatalogError;
use laker_catalog::model::{DatasetFormat, DatasetOptions, NewDataset};
use laker_query::StorageError;
use laker_query::tables::delta::log_store;

use crate::delta;
use crate::error::{IngestError, Result};
use crate::inbound::{self, Decoder};
use ctx::UploadCtx;
use limits::UploadLimits;
use schema::Conformer;
use target::Target;

/// What a finished upload reports (the DoPut result and the audit).
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The dataset written.
    pub dataset: String,
    /// Rows received.
    pub rows: u64,
    /// Bytes of Arrow data received.
    pub bytes: u64,
    /// The DoPut result.
    pub result: PutResult,
    /// The answer as JSON text (version, upload id, duplicate), for the audit.
    pub detail: String,
}

/// The target of the upload whose first message is `first` (with its
/// descriptor: a path or a JSON command) and request headers `headers`.
pub fn target_of(first: &FlightData, headers: &http::HeaderMap) -> Result<Target> {
    let descriptor = first.flight_descriptor.as_ref().ok_or_else(|| {
        IngestError::InvalidArgument("the first DoPut message names no dataset".into())
    })?;
    target::target(descriptor, headers)
}

/// Writes an upload to `target`. The client's stream failing in its
/// transport ends the upload with [`IngestError::Stream`].
pub async fn write_upload(
    ctx: &UploadCtx,
    principal: &Principal,
    target: Target,
    first: FlightData,
    rest: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
) -> Result<Uploaded> {
    ctx.authorizer
        .require_grant(principal, Action::Write, &target.name)
        .await?;
    // Held until the upload ends: its slot and the data file it buffers.
    let admitted = ctx.admission.upload(
        &principal.name,
        usize::try_from(ctx.limits.target_file_bytes).unwrap_or(usize::MAX),
        ctx.limits.decode.max_message_bytes,
    )?;
    let dataset = target.name.to_string();
    let (location, registered, declared) = resolve(ctx, &target).await?;
    if !registered {
        // A new dataset's place must not be (or hold) another's data.
        crate::locations::claim(
            &ctx.catalog,
            &ctx.authorizer,
            principal,
            &target.name,
            &location,
        )
        .await?;
    }
    let (url, store) = delta::store_at(&ctx.engine, &location)?;
    let staged = staged::Staged::new(store);
    let logs = log_store(&url, Arc::clone(&staged) as _)
        .map_err(|e| StorageError::delta(format!("opening the Delta log of '{dataset}'"), &e))?;
    // Also for a dataset not registered yet: an earlier upload may have
    // committed there and then failed to register it.
    let table = delta::open(logs.clone()).await?;
    let duplicate = || answer(&dataset, None, 0, 0, target.upload_id.as_deref(), true);
    if let (Some(table), Some(id)) = (&table, &target.upload_id)
        && delta::committed(table, id).await?
    {
        // Already committed: acknowledge again, write nothing.
        let drained = futures::stream::once(async { Ok(first) }).chain(rest);
        drained.try_for_each(|_| async { Ok(()) }).await.ok();
        return Ok(duplicate());
    }
    if table.is_some() && target.mode == target::Mode::Create {
        return Err(IngestError::AlreadyExists(format!(
            "a Delta table already exists at the location of dataset '{dataset}'; \
             upload with create_append or create_replace"
        )));
    }
    // What the decoded batches and dictionaries hold is charged to the
    // upload's memory while they are in flight.
    let mut decoder =
        Decoder::new(ctx.limits.decode).charged_to(admitted.memory().pool(), "an upload");
    decoder.push(&first).map_err(refused)?;
    let upload_schema = decoder.schema().cloned().ok_or_else(|| {
        IngestError::InvalidArgument(
            "the upload does not start with an Arrow schema message".into(),
        )
    })?;
    let table_schema = match &table {
        Some(t) if !target.mode.replaces() => Some(
            t.snapshot()
                .map_err(|e| StorageError::delta("reading the Delta snapshot", &e))?
                .snapshot()
                .arrow_schema(),
        ),
        _ => None,
    };
    let conformer = Conformer::new(&dataset, table_schema.as_deref(), upload_schema.as_ref())?;
    let rules = rules::RuleChecker::new(ctx.engine.state(), &declared, &conformer.target)?
        .with_memory(admitted.memory().pool());
    let counters = Arc::new(Mutex::new((0_u64, 0_u64)));
    let failure: Arc<Mutex<Option<IngestError>>> = Arc::default();
    let batches = checked(
        decoder,
        rest,
        conformer.clone(),
        rules,
        ctx.limits,
        Arc::clone(&counters),
        Arc::clone(&failure),
    );
    let mode = if target.mode.replaces() {
        SaveMode::Overwrite
    } else {
        SaveMode::Append
    };
    let commit = delta::Commit {
        table: table.unwrap_or_else(|| deltalake_core::DeltaTable::new(logs.clone())),
        mode,
        evolve: conformer.evolves,
        target_file_bytes: ctx.limits.target_file_bytes,
        transaction: target
            .upload_id
            .clone()
            .map(|id| (id, delta::UPLOAD_TXN_VERSION)),
    };
    let written = delta::write(commit, Arc::clone(&conformer.target), batches)
        .await
        .map_err(|e| match e {
            // The data is the caller's own: what does not fit may be shown.
            IngestError::Storage(s) => IngestError::Storage(s.about_callers_data()),
            other => other,
        });
    let failed = failure.lock().ok().and_then(|mut f| f.take());
    let version = match (written, failed) {
        (Ok(v), None) => v,
        (_, Some(failure)) => {
            discard(&staged, &logs, &url, target.upload_id.as_deref()).await;
            return Err(failure);
        }
        (Err(e), None) => {
            let committed = discard(&staged, &logs, &url, target.upload_id.as_deref()).await;
            // A concurrent retry of the same upload won the commit.
            return if committed { Ok(duplicate()) } else { Err(e) };
        }
    };
    if !registered {
        register(ctx, &target, &location).await?;
    }
    let (rows, bytes) = counters.lock().map(|c| *c).unwrap_or_default();
    tracing::info!(dataset = %dataset, version, rows, bytes, "upload committed");
    crate::curate::landed(&ctx.curator, &target.name);
    ctx.notifier
        .commit(&crate::notify::CommitEvent {
            event_id: crate::notify::CommitEvent::new_id(),
            dataset: dataset.clone(),
            version,
            rows,
            principal: principal.name.clone(),
            upload_id: target.upload_id.clone(),
            mode: target.mode.as_str().to_string(),
            committed_at: chrono::Utc::now().to_rfc3339(),
        })
        .await;
    Ok(answer(
        &dataset,
        Some(version),
        rows,
        bytes,
        target.upload_id.as_deref(),
        false,
    ))
}

/// Deletes the data files of an upload that did not commit, sparing any a
/// commit references after all; returns whether `upload_id` is committed.
pub(crate) async fn discard(
    staged: &staged::Staged,
    logs: &deltalake_core::logstore::LogStoreRef,
    root: &url::Url,
    upload_id: Option<&str>,
) -> bool {
    let table = match delta::open(logs.clone()).await {
        Ok(table) => table,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reread the Delta log; the upload's files stay for start-up cleanup");
            return false;
        }
    };
    let (known, duplicate) = match &table {
        Some(t) => {
            let known = match staged::referenced(t).await {
                Ok(known) => known,
                Err(e) => {
                    tracing::warn!(error = %e, "the upload's files stay for start-up cleanup");
                    return false;
                }
            };
            let duplicate = match upload_id {
                Some(id) => delta::committed(t, id).await.unwrap_or(false),
                None => false,
            };
            (known, duplicate)
        }
        None => (Default::default(), false),
    };
    let known: std::collections::HashSet<_> =
        known.iter().map(|p| orphans::in_store(root, p)).collect();
    let deleted = staged.discard(|p| known.contains(p)).await;
    tracing::info!(
        files = deleted,
        "files of an upload that did not commit deleted"
    );
    duplicate
}

/// The dataset's location, whether it is registered already, and its rules.
async fn resolve(
    ctx: &UploadCtx,
    target: &Target,
) -> Result<(String, bool, Vec<laker_catalog::rules::Rule>)> {
    match ctx.catalog.dataset(&target.name).await {
        Ok(d) if d.format != DatasetFormat::Delta => Err(IngestError::FailedPrecondition(format!(
            "dataset '{}' is {}; uploads go to Delta datasets",
            target.name,
            d.format.as_str()
        ))),
        Ok(_) if target.mode == target::Mode::Create => Err(CatalogError::AlreadyExists {
            kind: "dataset",
            name: target.name.to_string(),
        }
        .into()),
        Ok(d) => Ok((d.location, true, d.options.rules)),
        Err(CatalogError::NotFound { .. }) if target.mode.creates() => {
            ctx.catalog.namespace(&target.name.namespace).await?;
            let lake = ctx.locations.prefix(&ctx.store).cloned().ok_or_else(|| {
                IngestError::Internal("the upload store is not configured".into())
            })?;
            let location = lake
                .join(&format!(
                    "{}/{}/",
                    target.name.namespace, target.name.dataset
                ))
                .map_err(|e| IngestError::Internal(format!("new dataset location: {e}")))?;
            Ok((location.to_string(), false, Vec::new()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn register(ctx: &UploadCtx, target: &Target, location: &str) -> Result<()> {
    let new = NewDataset {
        name: target.name.clone(),
        description: String::new(),
        tags: Vec::new(),
        format: DatasetFormat::Delta,
        location: location.to_string(),
        options: DatasetOptions::default(),
        owner: String::new(),
    };
    match ctx.catalog.register_dataset(new).await {
        Ok(_) | Err(CatalogError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn answer(
    dataset: &str,
    version: Option<u64>,
    rows: u64,
    bytes: u64,
    upload_id: Option<&str>,
    duplicate: bool,
) -> Uploaded {
    let json = serde_json::json!({
        "dataset": dataset,
        "version": version,
        "rows": rows,
        "bytes": bytes,
        "upload_id": upload_id,
        "duplicate": duplicate,
    });
    let detail = json.to_string();
    Uploaded {
        dataset: dataset.to_string(),
        rows,
        bytes,
        result: PutResult {
            app_metadata: detail.clone().into_bytes().into(),
        },
        detail,
    }
}

/// The error for client data the decoder refused.
pub(crate) fn refused(e: inbound::Refused) -> IngestError {
    match e {
        inbound::Refused::Invalid(e) => {
            IngestError::InvalidArgument(format!("the upload is not valid Arrow data: {e}"))
        }
        inbound::Refused::TooLarge(e) => IngestError::ResourceExhausted(e.to_string()),
    }
}

/// The upload's batches (after its schema message, which `decoder` has
/// read), decoded within the limits, fitted to the table and counted. The
/// first problem is kept in `failure` and ends the stream, so nothing is
/// committed.
fn checked(
    decoder: Decoder,
    data: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
    conformer: Conformer,
    mut rules: rules::RuleChecker,
    limits: UploadLimits,
    counters: Arc<Mutex<(u64, u64)>>,
    failure: Arc<Mutex<Option<IngestError>>>,
) -> datafusion::execution::SendableRecordBatchStream {
    let target = Arc::clone(&conformer.target);
    // Decoding (decompression, validation) takes CPU: off the async workers.
    let decoder = Arc::new(Mutex::new(decoder));
    let decoded = data
        .then(move |message| {
            let decoder = Arc::clone(&decoder);
            async move {
                match message {
                    Ok(message) => tokio::task::spawn_blocking(move || {
                        let mut decoder = decoder
                            .lock()
                            .map_err(|_| IngestError::Internal("upload decoder poisoned".into()))?;
                        decoder.push(&message).map_err(refused)
                    })
                    .await
                    .unwrap_or_else(|e| Err(IngestError::Internal(format!("upload decoding: {e}"))))
                    .transpose(),
                    Err(e @ FlightError::Tonic(_)) => Some(Err(IngestError::Stream(e))),
                    Err(other) => Some(Err(IngestError::InvalidArgument(format!(
                        "the upload is not valid Arrow data: {other}"
                    )))),
                }
            }
        })
        .filter_map(futures::future::ready);
    let stream = decoded.map(move |batch| {
        let result = (|| {
            let batch = batch?;
            let first_row = {
                let c = counters
                    .lock()
                    .map_err(|_| IngestError::Internal("upload counters poisoned".into()))?;
                c.0
            };
            let rows = first_row.saturating_add(batch.num_rows() as u64);
            if rows > limits.max_rows {
                return Err(over_limit(&limits));
            }
            let batch = conformer.conform(&batch, first_row)?;
            let mut c = counters
                .lock()
                .map_err(|_| IngestError::Internal("upload counters poisoned".into()))?;
            c.0 = rows;
            // What is written: the conformed batch.
            c.1 =
                c.1.saturating_add(laker_query::memory::size::batch_bytes(&batch));
            if c.1 > limits.max_bytes {
                return Err(over_limit(&limits));
            }
            drop(c);
            rules.check(&batch, first_row)?;
            Ok(batch)
        })();
        result.map_err(|e| {
            // The writer sees only that the stream failed; the caller gets
            // the failure itself.
            let stopped = DataFusionError::Execution(format!("the upload failed: {e}"));
            if let Ok(mut f) = failure.lock()
                && f.is_none()
            {
                *f = Some(e);
            }
            stopped
        })
    });
    Box::pin(RecordBatchStreamAdapter::new(target, stream))
}

fn over_limit(limits: &UploadLimits) -> IngestError {
    IngestError::ResourceExhausted(format!(
        "the upload exceeds the server's limit of {} rows or {} bytes per upload \
         (--upload-max-rows, --upload-max-bytes)",
        limits.max_rows, limits.max_bytes
    ))
}
