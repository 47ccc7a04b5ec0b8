//! Cancelling statements. A statement's tickets are signed handles, so
//! this replica keeps, per handle, a cancellation token: the streams of the
//! handle watch it, and a cancelled handle stays refused until it expires.
//! Cancelling reaches the streams of this replica; a client's disconnect
//! cancels a stream on any replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// Most cancelled handles remembered; the oldest-expiring go first.
const MAX_CANCELLED: usize = 100_000;

#[derive(Debug)]
struct Entry {
    token: CancellationToken,
    streams: usize,
    exp: u64,
}

/// The cancellation tokens of the statement handles in use or cancelled
/// on this replica.
#[derive(Debug, Default)]
pub struct Cancellations {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

fn key(handle: &[u8]) -> [u8; 32] {
    Sha256::digest(handle).into()
}

impl Cancellations {
    /// Registers a stream of `handle` (valid until `exp`); `None` when the
    /// handle was cancelled. Call [`Cancellations::finished`] when it ends.
    pub fn start(&self, handle: &[u8], exp: u64) -> Option<CancellationToken> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.entry(key(handle)).or_insert_with(|| Entry {
            token: CancellationToken::new(),
            streams: 0,
            exp,
        });
        if entry.token.is_cancelled() {
            return None;
        }
        entry.streams += 1;
        Some(entry.token.clone())
    }

    /// A stream of `handle` ended; forgets the handle unless it was
    /// cancelled or other streams still use it.
    pub fn finished(&self, handle: &[u8]) {
        if let Ok(mut entries) = self.entries.lock() {
            let k = key(handle);
            if let Some(entry) = entries.get_mut(&k) {
                entry.streams = entry.streams.saturating_sub(1);
                if entry.streams == 0 && !entry.token.is_cancelled() {
                    entries.remove(&k);
                }
            }
        }
    }

    /// Cancels `handle` (valid until `exp`): its running streams end with
    /// cancelled and later reads of it are refused. Returns whether a
    /// stream was running.
    pub fn cancel(&self, handle: &[u8], exp: u64, now: u64) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        entries.retain(|_, e| e.exp >= now || e.streams > 0);
        if entries.len() >= MAX_CANCELLED
            && let Some(oldest) = entries
                .iter()
                .filter(|(_, e)| e.streams == 0)
                .min_by_key(|(_, e)| e.exp)
                .map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        let entry = entries.entry(key(handle)).or_insert_with(|| Entry {
            token: CancellationToken::new(),
            streams: 0,
            exp,
        });
        entry.token.cancel();
        entry.streams > 0
    }
}

/// A stream's registration under its handle; ends it when dropped.
#[derive(Debug)]
pub struct Registration {
    cancellations: Arc<Cancellations>,
    handle: Vec<u8>,
}

impl Registration {
    /// The registration of a stream [`Cancellations::start`]ed for `handle`.
    pub fn new(cancellations: Arc<Cancellations>, handle: &[u8]) -> Self {
        Self {
            cancellations,
            handle: handle.to_vec(),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.cancellations.finished(&self.handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_handle_stops_its_streams_and_refuses_new_ones() {
        let c = Cancellations::default();
        let token = c.start(b"h1", 100).unwrap();
        assert!(c.cancel(b"h1", 100, 10), "a stream was running");
        assert!(token.is_cancelled());
        assert!(c.start(b"h1", 100).is_none());
        assert!(c.start(b"h2", 100).is_some(), "other handles unaffected");
        assert!(!c.cancel(b"h3", 100, 10), "nothing running yet");
        assert!(c.start(b"h3", 100).is_none(), "cancelled before DoGet");
    }

    #[test]
    fn finished_streams_are_forgotten_and_expired_cancellations_pruned() {
        let c = Cancellations::default();
        c.start(b"h1", 100).unwrap();
        c.finished(b"h1");
        assert!(c.entries.lock().unwrap().is_empty());
        c.cancel(b"old", 5, 1);
        c.cancel(b"new", 100, 50);
        let entries = c.entries.lock().unwrap();
        assert_eq!(entries.len(), 1, "the expired one was pruned");
    }
}
