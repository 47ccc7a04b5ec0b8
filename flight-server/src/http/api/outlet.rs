//! The client's end of a download: a bounded queue of chunks it reads the
//! body from, a stall timeout, the rows and bytes sent (counted in the
//! server's metrics too), and the audit record's end. Both ways of writing
//! a download (encoding batches, copying Parquet column chunks) send
//! through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::mpsc;
use tonic::Status;

use crate::audit::call::{AuditedCall, outcome_of};
use crate::metrics::{Metrics, StreamGuard};

/// A piece of the body, or the error that aborts it.
pub type Chunk = Result<Bytes, std::io::Error>;

/// Bytes handed to the client at a time (larger writes are split).
pub const CHUNK_BYTES: usize = 1 << 20;
/// A download whose client reads nothing for this long is cancelled, so a
/// client that stops reading cannot hold its memory and slot for ever.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// How a download's stream ended early.
#[derive(Debug)]
pub enum Stop {
    /// The client left (or stopped reading for [`STALL_TIMEOUT`]).
    Cancelled(&'static str),
    /// Reading, encoding or copying failed.
    Failed(Status),
}

/// Where a download's bytes go.
pub struct Outlet {
    sender: mpsc::Sender<Chunk>,
    metrics: Arc<Metrics>,
    _open: StreamGuard,
    rows: u64,
    bytes: u64,
    finished: Arc<AtomicBool>,
}

impl Outlet {
    /// An outlet into `sender`, counted as an open stream until it ends.
    pub fn new(sender: mpsc::Sender<Chunk>, metrics: Arc<Metrics>) -> Self {
        Self {
            _open: metrics.open_stream(),
            sender,
            metrics,
            rows: 0,
            bytes: 0,
            finished: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The body read from `receiver`, ending in an error unless the
    /// download finished: a cut download (a stall, a failure whose error
    /// found no room in the queue) never ends like a whole one.
    pub fn body(&self, receiver: mpsc::Receiver<Chunk>) -> axum::body::Body {
        use futures::StreamExt;
        let finished = Arc::clone(&self.finished);
        let tail = futures::stream::once(async move {
            (!finished.load(Ordering::Acquire))
                .then(|| Err(std::io::Error::other("the download was cut short")))
        })
        .filter_map(futures::future::ready);
        axum::body::Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(receiver).chain(tail),
        )
    }

    /// Counts `rows` more rows as sent.
    pub fn count_rows(&mut self, rows: u64) {
        self.rows += rows;
        self.metrics.add_rows(rows);
    }

    /// Hands `bytes` to the client in pieces of at most [`CHUNK_BYTES`],
    /// waiting at most [`STALL_TIMEOUT`] for room for each.
    pub async fn send(&mut self, bytes: Vec<u8>) -> Result<(), Stop> {
        self.bytes += bytes.len() as u64;
        let bytes = Bytes::from(bytes);
        let mut start = 0;
        while start < bytes.len() {
            let end = bytes.len().min(start + CHUNK_BYTES);
            self.deliver(bytes.slice(start..end)).await?;
            start = end;
        }
        Ok(())
    }

    async fn deliver(&self, piece: Bytes) -> Result<(), Stop> {
        let n = piece.len() as u64;
        match tokio::time::timeout(STALL_TIMEOUT, self.sender.send(Ok(piece))).await {
            Ok(Ok(())) => {
                self.metrics.add_bytes(n);
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Cancelled("")),
            Err(_) => Err(Stop::Cancelled("the client read nothing for 120 s")),
        }
    }

    /// Resolves when the client has gone.
    pub async fn closed(&self) {
        self.sender.closed().await;
    }

    /// Ends the download as `ended` says, in its audit record `call`: an
    /// error aborts the body (a cut file never ends like a whole one).
    pub async fn end(self, ended: Result<(), Stop>, call: AuditedCall) {
        let (outcome, message) = match ended {
            Ok(()) => {
                self.finished.store(true, Ordering::Release);
                ("ok".to_string(), String::new())
            }
            Err(Stop::Cancelled(why)) => ("cancelled".to_string(), why.to_string()),
            Err(Stop::Failed(status)) => {
                // Said if there is room; the body's end errs either way.
                let error = std::io::Error::other(status.message().to_string());
                let _ = self.sender.try_send(Err(error));
                (outcome_of(&status), status.message().to_string())
            }
        };
        call.end_now(outcome, message, self.rows, self.bytes);
    }

    /// Rows and bytes sent so far.
    #[cfg(test)]
    pub fn counts(&self) -> (u64, u64) {
        (self.rows, self.bytes)
    }
}
