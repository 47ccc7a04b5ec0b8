//! `laker get`: GetFlightInfo for the download spec, then every endpoint
//! fetched in parallel (in order when the result is ordered), with a
//! progress bar on a terminal. A stream cut by the network is resumed where
//! it stopped: the next DoGet asks the server to skip the rows already
//! received (`x-laker-skip-rows`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightDescriptor, FlightInfo, Ticket};
use futures::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tonic::Code;

use crate::error::{Failure, Result};
use crate::output::{Format, Writer};
use crate::session::Session;

/// Header asking the server to skip the rows a resumed stream already sent.
const SKIP_ROWS_HEADER: &str = "x-laker-skip-rows";
/// Times one endpoint's stream is resumed before the download fails.
const MAX_RESUMES: u32 = 10;

/// What to download and where to.
#[derive(Debug, Clone)]
pub struct Get {
    /// The download spec (JSON).
    pub spec: serde_json::Value,
    /// Output file (stdout when absent).
    pub output: Option<PathBuf>,
    /// Output format (from the file's extension when absent).
    pub format: Option<Format>,
    /// Endpoints fetched at once.
    pub parallel: usize,
}

/// Runs a download; returns the rows written.
pub async fn get(session: &Session, get: Get) -> Result<u64> {
    let mut client = session.client()?;
    let info = client
        .get_flight_info(FlightDescriptor::new_cmd(get.spec.to_string()))
        .await?;
    let schema = Arc::new(info.clone().try_decode_schema()?);
    let format = match (get.format, &get.output) {
        (Some(f), _) => f,
        (None, Some(path)) => Format::of_path(path)?,
        (None, None) => Format::Table,
    };
    let mut writer = Writer::create(format, get.output.as_deref(), schema)?;
    let progress = progress_bar(&info, get.output.is_some());
    let parallel = if info.ordered { 1 } else { get.parallel.max(1) };
    let (tx, mut rx) = mpsc::channel::<RecordBatch>(2 * parallel);
    let fetches = fetch_all(session.clone(), info, tx, progress.clone(), parallel);
    let fetching = tokio::spawn(fetches);
    let mut rows = 0;
    while let Some(batch) = rx.recv().await {
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    fetching
        .await
        .map_err(|e| Failure::new(format!("download task failed: {e}")))??;
    writer.finish()?;
    progress.finish_and_clear();
    Ok(rows)
}

fn progress_bar(info: &FlightInfo, to_file: bool) -> ProgressBar {
    let bar = match u64::try_from(info.total_records) {
        Ok(total) => ProgressBar::new(total),
        Err(_) => ProgressBar::new_spinner(),
    };
    // Drawn only when stderr is a terminal (and never over a printed table).
    let target = if to_file {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    bar.set_draw_target(target);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {human_pos}/{human_len} rows · {msg} · {per_sec} · ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

async fn fetch_all(
    session: Session,
    info: FlightInfo,
    tx: mpsc::Sender<RecordBatch>,
    progress: ProgressBar,
    parallel: usize,
) -> Result<()> {
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let fetches = info.endpoint.into_iter().map(|endpoint| {
        let (session, tx, progress, bytes) = (
            session.clone(),
            tx.clone(),
            progress.clone(),
            Arc::clone(&bytes),
        );
        async move {
            let ticket = endpoint
                .ticket
                .ok_or_else(|| Failure::new("the server sent an endpoint without a ticket"))?;
            fetch_endpoint(&session, ticket, &tx, &progress, &bytes).await
        }
    });
    // `buffered` keeps endpoint order (for ordered results, parallel is 1).
    futures::stream::iter(fetches)
        .buffered(parallel)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Failures worth resuming after: the connection, not the request.
fn resumable(e: &FlightError) -> bool {
    match e {
        FlightError::Tonic(status) => matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled | Code::Aborted
        ),
        _ => false,
    }
}

async fn fetch_endpoint(
    session: &Session,
    ticket: Ticket,
    tx: &mpsc::Sender<RecordBatch>,
    progress: &ProgressBar,
    bytes: &std::sync::atomic::AtomicU64,
) -> Result<()> {
    let mut received: u64 = 0;
    let mut resumes = 0;
    loop {
        let mut client = session.client()?;
        if received > 0 {
            client.add_header(SKIP_ROWS_HEADER, &received.to_string())?;
        }
        let attempt: std::result::Result<(), FlightError> = async {
            let mut stream = client.do_get(ticket.clone()).await?;
            while let Some(batch) = stream.try_next().await? {
                let n = batch.num_rows() as u64;
                // The batch's own slices (buffers may be shared with others).
                let size: u64 = batch
                    .columns()
                    .iter()
                    .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
                    .sum();
                if tx.send(batch).await.is_err() {
                    return Err(FlightError::protocol("the output stopped"));
                }
                received += n;
                progress.inc(n);
                let total = bytes.fetch_add(size, std::sync::atomic::Ordering::Relaxed) + size;
                progress.set_message(format!("{}", HumanBytes(total)));
            }
            Ok(())
        }
        .await;
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) if resumable(&e) && resumes < MAX_RESUMES => {
                resumes += 1;
                progress.suspend(|| {
                    eprintln!(
                        "laker: stream interrupted after {received} rows ({}); resuming",
                        Failure::from(e)
                    )
                });
                tokio::time::sleep(Duration::from_millis(100 * u64::from(resumes))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
