//! What the delivery loop counts, for the server's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Notification counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyCounts {
    /// Sends that succeeded since this server started.
    pub delivered: u64,
    /// Sends that failed since this server started (each is retried).
    pub failed: u64,
    /// Notifications in the catalog's outbox not yet delivered (for every
    /// sink and replica), as last counted.
    pub pending: u64,
}

/// The live counters behind [`NotifyCounts`].
#[derive(Debug, Default)]
pub(super) struct Stats {
    delivered: AtomicU64,
    failed: AtomicU64,
    pending: AtomicU64,
}

impl Stats {
    pub(super) fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_pending(&self, pending: u64) {
        self.pending.store(pending, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> NotifyCounts {
        NotifyCounts {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
        }
    }
}
