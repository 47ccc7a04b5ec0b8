//! `laker get`: GetFlightInfo for the download spec, then every endpoint
//! fetched in parallel (in order when the result is ordered), with a
//! progress bar on a terminal. A stream cut by the network is resumed where
//! it stopped: the next DoGet asks the server to skip the rows already
//! received (`x-laker-skip-rows`). A download to a file keeps its resume
//! state beside it ([`crate::resume`]), so `--resume` continues it after
//! the process itself died.
//!
//! The table version a download read is the `version` of the FlightInfo's
//! `app_metadata`: the Delta version the server pinned in every ticket
//! (file datasets have none); its `revision` is the dataset's catalog
//! revision, which a resumed download of files must find unchanged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightDescriptor, FlightInfo, Ticket};
use futures::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tonic::Code;

use crate::error::{Failure, Result};
use crate::output::{Format, Writer};
use crate::partial::PartialFile;
use crate::resume::{self, ResumeState};
use crate::session::Session;
use crate::table::count;

/// Header asking the server to skip the rows a resumed stream already sent.
const SKIP_ROWS_HEADER: &str = "x-laker-skip-rows";
/// Header asking the server to compress message bodies.
const COMPRESSION_HEADER: &str = "x-laker-compression";
/// Times one endpoint's stream is resumed before the download fails.
const MAX_RESUMES: u32 = 10;
/// How often a download to a file syncs it and saves its resume state.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Compression of the Arrow IPC bodies the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Zstandard: smaller, more CPU.
    Zstd,
    /// LZ4 frames: fast.
    Lz4,
}

impl Compression {
    fn header(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Lz4 => "lz4",
        }
    }
}

/// What to download and where to.
#[derive(Debug, Clone)]
pub struct Get {
    /// The download spec (JSON).
    pub spec: serde_json::Value,
    /// Output file (stdout when absent).
    pub output: Option<std::path::PathBuf>,
    /// Output format (from the file's extension when absent).
    pub format: Option<Format>,
    /// Endpoints fetched at once.
    pub parallel: usize,
    /// Body compression to ask for.
    pub compression: Option<Compression>,
    /// Continue an interrupted download to the output file.
    pub resume: bool,
}

/// What a download did.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Rows in the output.
    pub rows: u64,
    /// Rows an interrupted download had already written (0 when not resumed).
    pub resumed_at: u64,
    /// The Delta table version read (`None` for file datasets).
    pub version: Option<u64>,
}

/// One endpoint to fetch: its index in the FlightInfo, its ticket, and the
/// rows of it already written.
struct Fetch {
    index: usize,
    ticket: Ticket,
    skip: u64,
}

/// What the fetching tasks hand to the writer.
enum Received {
    /// A batch of endpoint `.0`.
    Batch(usize, RecordBatch),
    /// Endpoint `.0` sent all its rows.
    Done(usize),
}

/// The table version a FlightInfo's tickets read, if the dataset has one.
pub fn table_version(info: &FlightInfo) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(&info.app_metadata)
        .ok()
        .and_then(|meta| meta["version"].as_u64())
}

/// The catalog revision of the dataset a FlightInfo reads, if the server
/// says (it changes when the dataset is changed or refreshed).
pub fn dataset_revision(info: &FlightInfo) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(&info.app_metadata)
        .ok()
        .and_then(|meta| meta["revision"].as_i64())
}

/// Runs a download.
pub async fn get(session: &Session, get: Get) -> Result<Outcome> {
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
    match get.output.clone() {
        Some(path) => to_file(session, &get, info, schema, (format, path.as_path())).await,
        None => to_stdout(session, &get, info, schema, format).await,
    }
}

/// The endpoints still to fetch: all, or those a resumed download has not
/// finished, from the row each stopped at.
fn fetches(info: &FlightInfo, state: Option<&ResumeState>) -> Result<Vec<Fetch>> {
    let mut fetches = Vec::new();
    for (index, endpoint) in info.endpoint.iter().enumerate() {
        let ticket = endpoint
            .ticket
            .clone()
            .ok_or_else(|| Failure::new("the server sent an endpoint without a ticket"))?;
        let (done, skip) = match state {
            Some(s) => (
                s.done.get(index).copied().unwrap_or(false),
                s.rows.get(index).copied().unwrap_or(0),
            ),
            None => (false, 0),
        };
        if !done {
            fetches.push(Fetch {
                index,
                ticket,
                skip,
            });
        }
    }
    Ok(fetches)
}

fn parallelism(info: &FlightInfo, asked: usize) -> usize {
    if info.ordered { 1 } else { asked.max(1) }
}

async fn to_stdout(
    session: &Session,
    get: &Get,
    info: FlightInfo,
    schema: SchemaRef,
    format: Format,
) -> Result<Outcome> {
    let version = table_version(&info);
    let mut writer = Writer::create(format, None, schema)?;
    let progress = progress_bar(&info, false, 0);
    let parallel = parallelism(&info, get.parallel);
    let fetches = fetches(&info, None)?;
    let (tx, mut rx) = mpsc::channel::<Received>(2 * parallel);
    let fetching = tokio::spawn(fetch_all(
        session.clone(),
        fetches,
        tx,
        (progress.clone(), parallel, get.compression),
    ));
    let mut rows = 0;
    while let Some(received) = rx.recv().await {
        if let Received::Batch(_, batch) = received {
            rows += batch.num_rows() as u64;
            writer.write(&batch)?;
        }
    }
    fetching
        .await
        .map_err(|e| Failure::new(format!("download task failed: {e}")))??;
    writer.finish()?;
    progress.finish_and_clear();
    Ok(Outcome {
        rows,
        resumed_at: 0,
        version,
    })
}

async fn to_file(
    session: &Session,
    get: &Get,
    info: FlightInfo,
    schema: SchemaRef,
    (format, path): (Format, &Path),
) -> Result<Outcome> {
    let version = table_version(&info);
    let total = u64::try_from(info.total_records).ok();
    let now = ResumeState::new(
        get.spec.clone(),
        format.name(),
        version,
        total,
        &schema,
        info.endpoint.len(),
    )
    .with_revision(dataset_revision(&info));
    let state_path = resume::state_path(path);
    let (mut state, resuming) = match ResumeState::load(&state_path)? {
        Some(previous) if get.resume => {
            if let Some(why) = previous.mismatch(&now, path) {
                return Err(Failure::new(why));
            }
            (previous, true)
        }
        Some(previous) => {
            eprintln!(
                "laker: starting over; the interrupted download to {} had {} rows (--resume \
                 continues one)",
                path.display(),
                count(previous.rows_written())
            );
            (now, false)
        }
        None => (now, false),
    };
    let mut file = PartialFile::open(format, path, Arc::clone(&schema), &mut state, resuming)?;
    state.save(&state_path)?;
    let resumed_at = if resuming { state.rows_written() } else { 0 };

    let progress = progress_bar(&info, true, resumed_at);
    let parallel = parallelism(&info, get.parallel);
    let fetches = fetches(&info, Some(&state))?;
    let (tx, mut rx) = mpsc::channel::<Received>(2 * parallel);
    let fetching = tokio::spawn(fetch_all(
        session.clone(),
        fetches,
        tx,
        (progress.clone(), parallel, get.compression),
    ));
    let received = receive(&mut rx, &mut file, &mut state, &state_path).await;
    // Fetches still sending (after a failed write) stop once nobody listens.
    drop(rx);
    let fetched = fetching
        .await
        .map_err(|e| Failure::new(format!("download task failed: {e}")));
    let kept = format!(
        "{} rows kept in {}: add --resume to continue",
        count(state.rows_written()),
        path.display()
    );
    let fetched = match (received, fetched) {
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(Err(e))) => Err(Failure::new(format!("{e} ({kept})"))),
        (Ok(()), Ok(Ok(()))) => Ok(()),
    };
    progress.finish_and_clear();
    fetched?;
    file.finish(format, path)?;
    if let Err(e) = std::fs::remove_file(&state_path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(Failure::new(format!(
            "cannot remove {}: {e}",
            state_path.display()
        )));
    }
    Ok(Outcome {
        rows: state.rows_written(),
        resumed_at,
        version,
    })
}

/// Writes what the fetching tasks send into `file`, syncing it and saving
/// `state` at least every [`SAVE_EVERY`] (and after the first batch), and
/// once more when they stop. A failed write leaves the saved state as it
/// was: a later `--resume` cuts the file back to it.
async fn receive(
    rx: &mut mpsc::Receiver<Received>,
    file: &mut PartialFile,
    state: &mut ResumeState,
    state_path: &Path,
) -> Result<()> {
    let mut saved: Option<Instant> = None;
    while let Some(received) = rx.recv().await {
        match received {
            Received::Batch(index, batch) => {
                file.write(&batch)?;
                if let Some(rows) = state.rows.get_mut(index) {
                    *rows += batch.num_rows() as u64;
                }
            }
            Received::Done(index) => {
                if let Some(done) = state.done.get_mut(index) {
                    *done = true;
                }
            }
        }
        if saved.is_none_or(|at| at.elapsed() >= SAVE_EVERY) {
            state.bytes = file.commit()?;
            state.save(state_path)?;
            saved = Some(Instant::now());
        }
    }
    // Every batch received is whole in the file: record them all.
    state.bytes = file.commit()?;
    state.save(state_path)
}

fn progress_bar(info: &FlightInfo, to_file: bool, at: u64) -> ProgressBar {
    let total = u64::try_from(info.total_records).ok();
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_position(at),
        None => ProgressBar::new_spinner().with_position(at),
    };
    // Drawn only when stderr is a terminal (and never over a printed table).
    if !to_file {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let template = match total {
        Some(_) => "{spinner} {human_pos}/{human_len} rows · {msg} · {per_sec} · ETA {eta}",
        None => "{spinner} {human_pos} rows · {msg} · {per_sec}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.reset_eta();
    // Redrawn while the network is quiet too.
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Bytes received and when the download started, for the progress bar.
struct Throughput {
    bytes: AtomicU64,
    started: Instant,
}

impl Throughput {
    /// Adds `n` bytes; returns the bar's message: bytes so far and their rate.
    fn add(&self, n: u64) -> String {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (total as f64 / seconds) as u64;
        format!("{} · {}/s", HumanBytes(total), HumanBytes(rate))
    }
}

async fn fetch_all(
    session: Session,
    fetches: Vec<Fetch>,
    tx: mpsc::Sender<Received>,
    (progress, parallel, compression): (ProgressBar, usize, Option<Compression>),
) -> Result<()> {
    let throughput = Arc::new(Throughput {
        bytes: AtomicU64::new(0),
        started: Instant::now(),
    });
    let fetches = fetches.into_iter().map(|fetch| {
        let (session, tx, progress, throughput) = (
            session.clone(),
            tx.clone(),
            progress.clone(),
            Arc::clone(&throughput),
        );
        async move {
            let context = (&tx, &progress, throughput.as_ref(), compression);
            fetch_endpoint(&session, fetch, context).await
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
    fetch: Fetch,
    (tx, progress, throughput, compression): (
        &mpsc::Sender<Received>,
        &ProgressBar,
        &Throughput,
        Option<Compression>,
    ),
) -> Result<()> {
    let Fetch {
        index,
        ticket,
        skip,
    } = fetch;
    let mut received: u64 = skip;
    let mut resumes = 0;
    loop {
        let mut client = session.client()?;
        if received > 0 {
            client.add_header(SKIP_ROWS_HEADER, &received.to_string())?;
        }
        if let Some(c) = compression {
            client.add_header(COMPRESSION_HEADER, c.header())?;
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
                if tx.send(Received::Batch(index, batch)).await.is_err() {
                    return Err(FlightError::protocol("the output stopped"));
                }
                received += n;
                progress.inc(n);
                progress.set_message(throughput.add(size));
            }
            Ok(())
        }
        .await;
        match attempt {
            Ok(()) => {
                if tx.send(Received::Done(index)).await.is_err() {
                    return Err(Failure::new("the output stopped"));
                }
                return Ok(());
            }
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
