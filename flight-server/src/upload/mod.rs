//! Uploads: DoPut with a path descriptor `["namespace", "dataset"]` (mode
//! and upload id in the `x-laker-upload-mode` / `x-laker-upload-id`
//! headers) or a JSON command descriptor writes the stream into the
//! dataset's Delta table in one atomic commit. The caller needs `write` on
//! the dataset. Batches are fitted to the dataset's schema ([`schema`]) as
//! they arrive; any problem, a limit, or a client that goes away leaves the
//! table as it was. The answer (the DoPut result) is sent only after the
//! commit is durable.

pub mod delta;
pub mod orphans;
pub mod rules;
pub mod schema;
pub mod staged;
pub mod target;

use std::sync::{Arc, Mutex};

use arrow::datatypes::Schema;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, PutResult};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake_core::protocol::SaveMode;
use futures::{Stream, StreamExt, TryStreamExt};
use laker_auth::{Action, Principal};
use laker_catalog::error::CatalogError;
use laker_catalog::model::{DatasetFormat, DatasetOptions, NewDataset};
use laker_catalog::tables::delta::log_store;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};
use crate::state::AppState;
use schema::Conformer;
use target::Target;

/// Limits on one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Most bytes of Arrow data.
    pub max_bytes: u64,
    /// Most rows.
    pub max_rows: u64,
    /// Size at which a data file is closed and the next begun.
    pub target_file_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 30,
            max_rows: 2_000_000_000,
            target_file_bytes: 128 << 20,
        }
    }
}

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
/// descriptor: a path or a JSON command) and headers `headers`.
pub fn target_of(first: &FlightData, headers: &MetadataMap) -> Result<Target> {
    let descriptor = first
        .flight_descriptor
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("the first DoPut message names no dataset".into()))?;
    target::target(descriptor, headers)
}

/// Writes an upload to `target`.
pub async fn write_upload(
    state: &Arc<AppState>,
    principal: &Principal,
    target: Target,
    first: FlightData,
    rest: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
) -> Result<Uploaded> {
    state
        .authorizer
        .require_grant(principal, Action::Write, &target.name)
        .await?;
    let dataset = target.name.to_string();
    let (location, registered, declared) = resolve(state, &target).await?;
    let (url, store) = store_at(state, &location)?;
    let staged = staged::Staged::new(store);
    let logs = log_store(&url, Arc::clone(&staged) as _)
        .map_err(|e| Error::Internal(format!("Delta log store for '{dataset}': {e}")))?;
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
        return Err(Error::Status(Status::already_exists(format!(
            "a Delta table already exists at the location of dataset '{dataset}'; \
             upload with create_append or create_replace"
        ))));
    }
    let upload_schema = Schema::try_from(&first).map_err(|_| {
        Error::InvalidArgument("the upload does not start with an Arrow schema message".into())
    })?;
    let table_schema = match &table {
        Some(t) if !target.mode.replaces() => Some(
            t.snapshot()
                .map_err(|e| Error::Internal(format!("Delta snapshot: {e}")))?
                .snapshot()
                .arrow_schema(),
        ),
        _ => None,
    };
    let conformer = Conformer::new(&dataset, table_schema.as_deref(), &upload_schema)?;
    let rules = rules::RuleChecker::new(&declared, &conformer.target)?;
    let counters = Arc::new(Mutex::new((0_u64, 0_u64)));
    let failure: Arc<Mutex<Option<Status>>> = Arc::default();
    let batches = checked(
        futures::stream::once(async { Ok(first) }).chain(rest),
        conformer.clone(),
        rules,
        state.upload_limits,
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
        target_file_bytes: state.upload_limits.target_file_bytes,
        transaction: target
            .upload_id
            .clone()
            .map(|id| (id, delta::UPLOAD_TXN_VERSION)),
    };
    let written = delta::write(commit, Arc::clone(&conformer.target), batches).await;
    let failed = failure.lock().ok().and_then(|mut f| f.take());
    let version = match (written, failed) {
        (Ok(v), None) => v,
        (_, Some(status)) => {
            discard(&staged, &logs, &url, target.upload_id.as_deref()).await;
            return Err(Error::Status(status));
        }
        (Err(e), None) => {
            let committed = discard(&staged, &logs, &url, target.upload_id.as_deref()).await;
            // A concurrent retry of the same upload won the commit.
            return if committed { Ok(duplicate()) } else { Err(e) };
        }
    };
    if !registered {
        register(state, &target, &location).await?;
    }
    let (rows, bytes) = counters.lock().map(|c| *c).unwrap_or_default();
    tracing::info!(dataset = %dataset, version, rows, bytes, "upload committed");
    crate::curate::landed(state, &target.name);
    state.notifier.commit(&crate::notify::CommitEvent {
        dataset: dataset.clone(),
        version,
        rows,
        principal: principal.name.clone(),
        upload_id: target.upload_id.clone(),
        mode: target.mode.as_str().to_string(),
        committed_at: chrono::Utc::now().to_rfc3339(),
    });
    Ok(answer(
        &dataset,
        Some(version),
        rows,
        bytes,
        target.upload_id.as_deref(),
        false,
    ))
}

/// The object store holding `location`, and the location as a URL.
pub fn store_at(
    state: &AppState,
    location: &str,
) -> Result<(url::Url, Arc<dyn object_store::ObjectStore>)> {
    let url = url::Url::parse(location)
        .map_err(|_| Error::Internal("a dataset has an invalid location".into()))?;
    let listing = datafusion::datasource::listing::ListingTableUrl::parse(location)?;
    let store = state
        .engine
        .state()
        .runtime_env()
        .object_store(&listing)
        .map_err(|e| Error::Internal(format!("no object store for a dataset: {e}")))?;
    Ok((url, store))
}

/// The Delta table at `location` (its log store, and the table when one exists).
pub async fn table_at(
    state: &AppState,
    location: &str,
) -> Result<(
    deltalake_core::logstore::LogStoreRef,
    Option<deltalake_core::DeltaTable>,
)> {
    let (url, store) = store_at(state, location)?;
    let logs =
        log_store(&url, store).map_err(|e| Error::Internal(format!("Delta log store: {e}")))?;
    let table = delta::open(logs.clone()).await?;
    Ok((logs, table))
}

/// Deletes the data files of an upload that did not commit, sparing any a
/// commit references after all; returns whether `upload_id` is committed.
async fn discard(
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
    state: &AppState,
    target: &Target,
) -> Result<(String, bool, Vec<laker_catalog::rules::Rule>)> {
    match state.catalog.dataset(&target.name).await {
        Ok(d) if d.format != DatasetFormat::Delta => Err(Error::FailedPrecondition(format!(
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
            state.catalog.namespace(&target.name.namespace).await?;
            let lake = state
                .locations
                .prefix(&state.upload_store)
                .cloned()
                .ok_or_else(|| Error::Internal("the upload store is not configured".into()))?;
            let location = lake
                .join(&format!(
                    "{}/{}/",
                    target.name.namespace, target.name.dataset
                ))
                .map_err(|e| Error::Internal(format!("new dataset location: {e}")))?;
            Ok((location.to_string(), false, Vec::new()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn register(state: &AppState, target: &Target, location: &str) -> Result<()> {
    let new = NewDataset {
        name: target.name.clone(),
        description: String::new(),
        tags: Vec::new(),
        format: DatasetFormat::Delta,
        location: location.to_string(),
        options: DatasetOptions::default(),
        owner: String::new(),
    };
    match state.catalog.register_dataset(new).await {
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

/// The upload's batches, fitted to the table and counted against the
/// limits. The first problem is kept in `failure` (with its status) and
/// ends the stream, so nothing is committed.
fn checked(
    data: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
    conformer: Conformer,
    mut rules: rules::RuleChecker,
    limits: UploadLimits,
    counters: Arc<Mutex<(u64, u64)>>,
    failure: Arc<Mutex<Option<Status>>>,
) -> datafusion::execution::SendableRecordBatchStream {
    let target = Arc::clone(&conformer.target);
    let decoded = FlightRecordBatchStream::new_from_flight_data(data);
    let stream = decoded.map(move |batch| {
        let result = (|| {
            let batch = batch.map_err(|e| match e {
                FlightError::Tonic(status) => Error::Status(*status),
                other => {
                    Error::InvalidArgument(format!("the upload is not valid Arrow data: {other}"))
                }
            })?;
            let mut c = counters
                .lock()
                .map_err(|_| Error::Internal("upload counters poisoned".into()))?;
            let first_row = c.0;
            c.0 += batch.num_rows() as u64;
            c.1 += batch.get_array_memory_size() as u64;
            if c.0 > limits.max_rows || c.1 > limits.max_bytes {
                return Err(Error::Status(Status::resource_exhausted(format!(
                    "the upload exceeds the server's limit of {} rows or {} bytes per upload",
                    limits.max_rows, limits.max_bytes
                ))));
            }
            drop(c);
            let batch = conformer.conform(&batch, first_row)?;
            rules.check(&batch, first_row)?;
            Ok(batch)
        })();
        result.map_err(|e| {
            let status = Status::from(e);
            if let Ok(mut f) = failure.lock()
                && f.is_none()
            {
                *f = Some(status.clone());
            }
            DataFusionError::External(Box::new(status))
        })
    });
    Box::pin(RecordBatchStreamAdapter::new(target, stream))
}
