//! Live counters of the server, readable by embedders and tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters shared by all requests.
#[derive(Debug, Default)]
pub struct Metrics {
    active_streams: AtomicUsize,
    streams_started: AtomicU64,
    rows_sent: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Metrics {
    /// DoGet streams currently open (scans running or suspended by backpressure).
    pub fn active_streams(&self) -> usize {
        self.active_streams.load(Ordering::SeqCst)
    }

    /// DoGet streams started since the server started.
    pub fn streams_started(&self) -> u64 {
        self.streams_started.load(Ordering::Relaxed)
    }

    /// Rows handed to clients since start.
    pub fn rows_sent(&self) -> u64 {
        self.rows_sent.load(Ordering::Relaxed)
    }

    /// Flight data bytes handed to clients since start.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    pub(crate) fn add_rows(&self, n: u64) {
        self.rows_sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a stream as open until the guard is dropped.
    pub(crate) fn open_stream(self: &Arc<Self>) -> StreamGuard {
        self.active_streams.fetch_add(1, Ordering::SeqCst);
        self.streams_started.fetch_add(1, Ordering::Relaxed);
        StreamGuard(Arc::clone(self))
    }
}

/// Keeps one stream counted as active.
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.active_streams.fetch_sub(1, Ordering::SeqCst);
    }
}
