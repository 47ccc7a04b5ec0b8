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

pub mod curator;
pub mod landed;
pub mod prepare;
pub mod replay;
pub mod retention;

use std::sync::Arc;

use deltalake_core::protocol::SaveMode;
use futures::{FutureExt, StreamExt};
use laker_auth::Principal;
use laker_catalog::audit::AuditRecord;
use laker_catalog::rules::Transform;
use laker_catalog::{Dataset, DatasetName};

use crate::delta;
use crate::error::{IngestError, Result};
use curator::Curator;
use prepare::{Prepared, prepare};

/// The application id under which a curated table records its progress
/// through `landing`.
pub fn progress_id(landing: &str) -> String {
    format!("laker-transform:{landing}")
}

/// After a commit to `landing`: brings every dataset fed from it up to
/// date, then applies the landing dataset's retention, in the background.
pub fn landed(curator: &Arc<Curator>, landing: &DatasetName) {
    let curator = Arc::clone(curator);
    let landing = landing.clone();
    tokio::spawn(async move {
        let name = landing.to_string();
        catch_up_where(&curator, |t| t.landing == name).await;
        let retained = match curator.ctx.catalog.dataset(&landing).await {
            Ok(dataset) => retention::apply(&curator, &dataset).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = retained {
            tracing::error!(dataset = %landing, error = %e, "retention failed");
        }
    });
}

/// At start-up: brings every curated dataset up to date, in the background.
pub fn catch_up_all(curator: &Arc<Curator>) {
    let curator = Arc::clone(curator);
    tokio::spawn(async move { catch_up_where(&curator, |_| true).await });
}

/// After `curated` declared its transform: brings it up to date, in the background.
pub fn declared(curator: &Arc<Curator>, curated: &DatasetName) {
    let curator = Arc::clone(curator);
    let curated = curated.clone();
    tokio::spawn(async move {
        match curator.ctx.catalog.dataset(&curated).await {
            Ok(dataset) => catch_up_logged(&curator, &dataset).await,
            Err(e) => tracing::error!(dataset = %curated, error = %e, "transform not started"),
        }
    });
}

/// Brings up to date the curated datasets whose transform `wanted` picks.
async fn catch_up_where(curator: &Arc<Curator>, wanted: impl Fn(&Transform) -> bool) {
    let datasets = match curator.ctx.catalog.datasets().await {
        Ok(datasets) => datasets,
        Err(e) => {
            tracing::error!(error = %e, "cannot list curated datasets");
            return;
        }
    };
    for dataset in datasets {
        if dataset.options.transform.as_ref().is_some_and(&wanted) {
            catch_up_logged(curator, &dataset).await;
        }
    }
}

async fn catch_up_logged(curator: &Arc<Curator>, curated: &Dataset) {
    let started = std::time::Instant::now();
    match catch_up(curator, curated).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(dataset = %curated.name, versions = n, "curated dataset caught up"),
        Err(e) => {
            tracing::error!(dataset = %curated.name, error = %e, "transform failed");
            // Refused before it read or wrote anything (a grant gone, say):
            // audited like a run that failed, with what a client would read.
            let run_as = curated
                .options
                .transform
                .as_ref()
                .map(|t| Principal::new(t.run_as.clone()))
                .unwrap_or_default();
            let refused = Err(curator.ctx.audit.public_message(e));
            audit(
                curator,
                curated,
                &run_as,
                "the transform could not run",
                0,
                started,
                &refused,
            )
            .await;
        }
    }
}

/// Transforms the landing versions `curated` does not hold yet, one commit
/// each, in order; returns how many were committed.
pub async fn catch_up(curator: &Arc<Curator>, curated: &Dataset) -> Result<usize> {
    let lock = curator.lock(&curated.name);
    let _guard = lock.lock().await;
    let prepared = prepare(&curator.ctx, curated).await?;
    let (transform, landing) = (&prepared.transform, &prepared.landing);
    let engine = &curator.ctx.engine;
    let (_, landing_table) = delta::table_at(engine, &landing.location).await?;
    let Some(landing_table) = landing_table else {
        return Ok(0);
    };
    let Some(latest) = landing_table.version() else {
        return Ok(0);
    };
    let latest = i64::try_from(latest).unwrap_or(i64::MAX);
    let app_id = progress_id(&transform.landing);
    let (_, table) = delta::table_at(engine, &curated.location).await?;
    let first = match &table {
        Some(t) => delta::transaction_version(t, &app_id)
            .await?
            .map_or(0, |v| v + 1),
        None => 0,
    };
    let mut done = 0;
    for version in first..=latest {
        // Versions that added nothing (metadata, retention) are skipped.
        let Some(batch) = landed::Batch::of_version(landing, &landing_table, version).await? else {
            continue;
        };
        let rows = run(
            curator,
            curated,
            &prepared,
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

/// The rows of `batches` (landing versions after the first), each version
/// planned only when the one before is done; a version that gives other
/// columns than `schema` fails the stream.
fn later_versions(
    curator: Arc<Curator>,
    prepared: Prepared,
    schema: arrow::datatypes::SchemaRef,
    name: DatasetName,
    batches: Vec<landed::Batch>,
) -> futures::stream::BoxStream<'static, datafusion::error::Result<arrow::array::RecordBatch>> {
    futures::stream::iter(batches)
        .then(move |batch| {
            let (curator, prepared, schema, name) = (
                Arc::clone(&curator),
                prepared.clone(),
                Arc::clone(&schema),
                name.clone(),
            );
            async move {
                match batch.transform(&curator, &prepared).await {
                    Ok((stream, _)) if stream.schema() == schema => stream,
                    Ok(_) => failed(IngestError::FailedPrecondition(format!(
                        "the transform of '{name}' gives different columns for different landing versions"
                    ))),
                    Err(e) => failed(e),
                }
            }
            .boxed()
        })
        .flatten()
        .boxed()
}

/// A stream that fails with `e` (a landing version that could not be planned).
fn failed(e: IngestError) -> datafusion::execution::SendableRecordBatchStream {
    Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            Arc::new(arrow::datatypes::Schema::empty()),
            futures::stream::once(async move {
                Err(datafusion::error::DataFusionError::External(Box::new(e)))
            }),
        ),
    )
}

/// How a transform's output is committed.
pub struct Run {
    /// Append (the feed) or overwrite (a replay).
    pub mode: SaveMode,
    /// The progress recorded with the commit.
    pub transaction: (String, i64),
}

/// Runs the prepared transform over each of `batches` in turn and commits
/// all the output to `curated` in one commit; returns the rows written.
pub async fn run(
    curator: &Arc<Curator>,
    curated: &Dataset,
    prepared: &Prepared,
    batches: Vec<landed::Batch>,
    target: Run,
) -> Result<u64> {
    let (principal, transform) = (&prepared.principal, &prepared.transform);
    let started = std::time::Instant::now();
    // The first version is planned now (its columns are the commit's); the
    // others one at a time as the writer reaches them, so a long replay
    // holds one version's query at a time.
    let mut batches = batches.into_iter();
    let first = batches
        .next()
        .ok_or_else(|| IngestError::InvalidArgument("no landing version to transform".into()))?;
    let (first, reads) = first.transform(curator, prepared).await?;
    let schema = first.schema();
    let later = later_versions(
        Arc::clone(curator),
        prepared.clone(),
        Arc::clone(&schema),
        curated.name.clone(),
        batches.collect(),
    );
    let streams = first.chain(later);
    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Arc::clone(&rows);
    let chained = streams.map(move |b| {
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
    let detail = if reads.is_empty() {
        format!(
            "{} landing version {}",
            transform.landing, target.transaction.1
        )
    } else {
        format!(
            "{} landing version {}; also reads {reads}",
            transform.landing, target.transaction.1
        )
    };
    let (app_id, landing_version) = target.transaction;
    let ctx = &curator.ctx;
    let (logs, table) = delta::table_at(&ctx.engine, &curated.location).await?;
    let written = delta::write(
        delta::Commit {
            table: table.unwrap_or_else(|| deltalake_core::DeltaTable::new(logs)),
            mode: target.mode,
            evolve: false,
            target_file_bytes: ctx.target_file_bytes,
            transaction: Some((app_id, landing_version)),
        },
        schema,
        stream,
    )
    .await;
    let rows = rows.load(std::sync::atomic::Ordering::Relaxed);
    let outcome = written.as_ref().copied().map_err(ToString::to_string);
    audit(
        curator, curated, principal, &detail, rows, started, &outcome,
    )
    .await;
    let version = written?;
    ctx.engine.tables().invalidate(&curated.name);
    ctx.notifier
        .commit(&crate::notify::CommitEvent {
            event_id: crate::notify::CommitEvent::new_id(),
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
        })
        .await;
    Ok(rows)
}

/// Records a run of `curated`'s transform: the curated version it wrote,
/// or the message it failed with.
async fn audit(
    curator: &Curator,
    curated: &Dataset,
    principal: &Principal,
    detail: &str,
    rows: u64,
    started: std::time::Instant,
    written: &Result<u64, String>,
) {
    let (outcome, message) = match written {
        Ok(v) => ("ok".to_string(), format!("curated version {v}")),
        Err(e) => ("error".to_string(), e.clone()),
    };
    curator
        .ctx
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
