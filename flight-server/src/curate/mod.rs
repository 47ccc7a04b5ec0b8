//! Landing → curated: a Delta dataset may declare a `transform` in its
//! options — a landing dataset and a SQL query over the table `landing`.
//! After each commit to the landing dataset, the query runs over the rows
//! that commit added and its result is appended to the curated dataset in
//! one commit. The curated table records, as a Delta application
//! transaction, the last landing version it holds, so each landing version
//! is transformed exactly once: after a crash or on another replica the
//! feed resumes where the table says it stopped. `replay` (an admin
//! action, [`replay`]) rebuilds the curated table from a range of landing
//! versions.
//!
//! The transform reads and writes as the catalog user who declared it,
//! whose grants are checked on every run.

pub mod landed;
pub mod replay;
pub mod retention;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deltalake_core::protocol::SaveMode;
use futures::StreamExt;
use laker_auth::{Action, Principal};
use laker_catalog::audit::AuditRecord;
use laker_catalog::rules::Transform;
use laker_catalog::{Dataset, DatasetName};

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::upload::delta;

/// Serialises the runs of each curated dataset within this process.
#[derive(Debug, Default)]
pub struct Curator {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The application id under which a curated table records its progress
/// through `landing`.
pub fn progress_id(landing: &str) -> String {
    format!("laker-transform:{landing}")
}

impl Curator {
    fn lock(&self, curated: &DatasetName) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(curated.to_string()).or_default())
    }
}

/// After a commit to `landing`: brings every dataset fed from it up to
/// date, then applies the landing dataset's retention, in the background.
pub fn landed(state: &Arc<AppState>, landing: &DatasetName) {
    let state = Arc::clone(state);
    let landing = landing.clone();
    tokio::spawn(async move {
        let name = landing.to_string();
        catch_up_where(&state, |t| t.landing == name).await;
        let retained = match state.catalog.dataset(&landing).await {
            Ok(dataset) => retention::enforce(&state, &dataset).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = retained {
            tracing::error!(dataset = %landing, error = %e, "retention failed");
        }
    });
}

/// At start-up: brings every curated dataset up to date, in the background.
pub fn catch_up_all(state: &Arc<AppState>) {
    let state = Arc::clone(state);
    tokio::spawn(async move { catch_up_where(&state, |_| true).await });
}

/// After `curated` declared its transform: brings it up to date, in the background.
pub fn declared(state: &Arc<AppState>, curated: &DatasetName) {
    let state = Arc::clone(state);
    let curated = curated.clone();
    tokio::spawn(async move {
        match state.catalog.dataset(&curated).await {
            Ok(dataset) => catch_up_logged(&state, &dataset).await,
            Err(e) => tracing::error!(dataset = %curated, error = %e, "transform not started"),
        }
    });
}

/// Brings up to date the curated datasets whose transform `wanted` picks.
async fn catch_up_where(state: &Arc<AppState>, wanted: impl Fn(&Transform) -> bool) {
    let datasets = match state.catalog.datasets().await {
        Ok(datasets) => datasets,
        Err(e) => {
            tracing::error!(error = %e, "cannot list curated datasets");
            return;
        }
    };
    for dataset in datasets {
        if dataset.options.transform.as_ref().is_some_and(&wanted) {
            catch_up_logged(state, &dataset).await;
        }
    }
}

async fn catch_up_logged(state: &Arc<AppState>, curated: &Dataset) {
    match catch_up(state, curated).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(dataset = %curated.name, versions = n, "curated dataset caught up"),
        Err(e) => tracing::error!(dataset = %curated.name, error = %e, "transform failed"),
    }
}

/// The transform of `curated`, the principal it runs as (checked), and the
/// landing dataset.
pub async fn prepare(
    state: &AppState,
    curated: &Dataset,
) -> Result<(Transform, Principal, Dataset)> {
    let transform = curated.options.transform.clone().ok_or_else(|| {
        Error::FailedPrecondition(format!("dataset '{}' declares no transform", curated.name))
    })?;
    let landing_name = DatasetName::parse(&transform.landing)?;
    let principal = state
        .authenticator
        .require_active(&Principal::new(transform.run_as.clone()))
        .await
        .map_err(|_| {
            Error::FailedPrecondition(format!(
                "the transform of '{}' runs as '{}', who can no longer log in; declare it again",
                curated.name, transform.run_as
            ))
        })?;
    state
        .authorizer
        .require_grant(&principal, Action::Read, &landing_name)
        .await?;
    state
        .authorizer
        .require_grant(&principal, Action::Write, &curated.name)
        .await?;
    let landing = state.catalog.dataset(&landing_name).await?;
    Ok((transform, principal, landing))
}

/// Transforms the landing versions `curated` does not hold yet, one commit
/// each, in order; returns how many were committed.
pub async fn catch_up(state: &Arc<AppState>, curated: &Dataset) -> Result<usize> {
    let lock = state.curator.lock(&curated.name);
    let _guard = lock.lock().await;
    let (transform, principal, landing) = prepare(state, curated).await?;
    let (_, landing_table) = crate::upload::table_at(state, &landing.location).await?;
    let Some(landing_table) = landing_table else {
        return Ok(0);
    };
    let Some(latest) = landing_table.version() else {
        return Ok(0);
    };
    let latest = i64::try_from(latest).unwrap_or(i64::MAX);
    let app_id = progress_id(&transform.landing);
    let (_, table) = crate::upload::table_at(state, &curated.location).await?;
    let first = match &table {
        Some(t) => delta::transaction_version(t, &app_id)
            .await?
            .map_or(0, |v| v + 1),
        None => 0,
    };
    let mut done = 0;
    for version in first..=latest {
        // Versions that added nothing (metadata, retention) are skipped.
        let Some(batch) = landed::Batch::of_version(&landing, &landing_table, version).await?
        else {
            continue;
        };
        let rows = run(
            state,
            curated,
            &principal,
            &transform,
            vec![batch],
            Run {
                mode: SaveMode::Append,
                transaction: (app_id.clone(), version),
            },
        )
        .await?;
        tracing::info!(dataset = %curated.name, landing_version = version, rows, "landing version transformed");
        done += 1;
    }
    Ok(done)
}

/// How a transform's output is committed.
pub struct Run {
    /// Append (the feed) or overwrite (a replay).
    pub mode: SaveMode,
    /// The progress recorded with the commit.
    pub transaction: (String, i64),
}

/// Runs `transform` over each of `batches` in turn and commits all the
/// output to `curated` in one commit; returns the rows written.
pub async fn run(
    state: &Arc<AppState>,
    curated: &Dataset,
    principal: &Principal,
    transform: &Transform,
    batches: Vec<landed::Batch>,
    target: Run,
) -> Result<u64> {
    let started = std::time::Instant::now();
    let mut streams = Vec::with_capacity(batches.len());
    let mut schema = None;
    for batch in batches {
        let stream = batch.transform(state, principal, &transform.sql).await?;
        let s = stream.schema();
        if let Some(first) = &schema
            && first != &s
        {
            return Err(Error::FailedPrecondition(format!(
                "the transform of '{}' gives different columns for different landing versions",
                curated.name
            )));
        }
        schema = Some(s);
        streams.push(stream);
    }
    let schema =
        schema.ok_or_else(|| Error::InvalidArgument("no landing version to transform".into()))?;
    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Arc::clone(&rows);
    let chained = futures::stream::iter(streams).flatten().map(move |b| {
        if let Ok(b) = &b {
            counted.fetch_add(b.num_rows() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        b
    });
    let stream = Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            chained,
        ),
    );
    let detail = format!(
        "{} landing version {}",
        transform.landing, target.transaction.1
    );
    let (app_id, landing_version) = target.transaction;
    let (logs, table) = crate::upload::table_at(state, &curated.location).await?;
    let written = delta::write(
        delta::Commit {
            table: table.unwrap_or_else(|| deltalake_core::DeltaTable::new(logs)),
            mode: target.mode,
            evolve: false,
            target_file_bytes: state.upload_limits.target_file_bytes,
            transaction: Some((app_id, landing_version)),
        },
        schema,
        stream,
    )
    .await;
    let rows = rows.load(std::sync::atomic::Ordering::Relaxed);
    audit(state, curated, principal, &detail, rows, started, &written).await;
    let version = written?;
    state.engine.tables().invalidate(&curated.name);
    state.notifier.commit(&crate::notify::CommitEvent {
        dataset: curated.name.to_string(),
        version,
        rows,
        principal: principal.name.clone(),
        upload_id: None,
        mode: if target.mode == SaveMode::Overwrite {
            "replay".into()
        } else {
            "transform".into()
        },
        committed_at: chrono::Utc::now().to_rfc3339(),
    });
    Ok(rows)
}

async fn audit(
    state: &AppState,
    curated: &Dataset,
    principal: &Principal,
    detail: &str,
    rows: u64,
    started: std::time::Instant,
    written: &Result<u64>,
) {
    let (outcome, message) = match written {
        Ok(v) => ("ok".to_string(), format!("curated version {v}")),
        Err(e) => ("error".to_string(), e.to_string()),
    };
    state
        .audit
        .record(AuditRecord {
            time: chrono::Utc::now().timestamp_millis(),
            principal: principal.name.clone(),
            source: String::new(),
            action: "Transform".into(),
            dataset: curated.name.to_string(),
            detail: detail.to_string(),
            rows: i64::try_from(rows).unwrap_or(i64::MAX),
            bytes: 0,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            outcome,
            message,
        })
        .await;
}
