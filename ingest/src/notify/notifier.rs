//! Recording commit events in the catalog's outbox, one row per sink, and
//! waking the delivery loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use laker_catalog::Catalog;
use tokio::sync::Notify;

use super::config::Backoff;
use super::counts::{NotifyCounts, Stats};
use super::delivery::{Delivery, Loop, now_ms};
use super::event::{CommitEvent, Sink};

/// Events retried in the background at most while the catalog cannot
/// record them; more are dropped (and logged).
const MAX_UNRECORDED: usize = 1_000;

/// Attempts to record an event the catalog refused at first (over about
/// three minutes).
const RECORD_ATTEMPTS: u32 = 8;

/// Announces commits to the configured sinks, through the catalog's
/// outbox. Cheap to clone; without sinks it announces nothing.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    catalog: Catalog,
    /// The sinks' names, as the outbox knows them.
    sinks: Vec<String>,
    wake: Arc<Notify>,
    stats: Arc<Stats>,
    /// Events waiting to be recorded in the background.
    unrecorded: AtomicUsize,
}

impl Notifier {
    /// A notifier recording events for `sinks` in `catalog`'s outbox, and
    /// the loop delivering them (failed sends are retried per `backoff`).
    /// Notifications recorded before, by this server or another, are sent
    /// too. Without sinks no loop runs.
    pub fn start(
        catalog: Catalog,
        sinks: Vec<Arc<dyn Sink>>,
        backoff: Backoff,
    ) -> (Self, Delivery) {
        if sinks.is_empty() {
            return (Self::default(), Delivery::default());
        }
        let wake = Arc::new(Notify::new());
        let stats = Arc::new(Stats::default());
        let shared = Shared {
            catalog: catalog.clone(),
            sinks: sinks.iter().map(|s| s.name().to_string()).collect(),
            wake: Arc::clone(&wake),
            stats: Arc::clone(&stats),
            unrecorded: AtomicUsize::new(0),
        };
        let delivery = Delivery::spawn(Loop {
            catalog,
            sinks,
            backoff,
            claimer: uuid::Uuid::new_v4().to_string(),
            wake,
            stats,
        });
        (
            Self {
                shared: Some(Arc::new(shared)),
            },
            delivery,
        )
    }

    /// Records `event` for every sink in the catalog, so it is delivered
    /// (at least once) even across restarts, and wakes the delivery loop.
    /// Should the catalog refuse, recording is retried in the background
    /// for a few minutes.
    pub async fn commit(&self, event: &CommitEvent) {
        let Some(shared) = &self.shared else {
            return;
        };
        let payload = match serde_json::to_string(event) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(dataset = %event.dataset, version = event.version, error = %e, "commit event not serialisable; not announced");
                return;
            }
        };
        let recorded = shared.record(&event.event_id, &payload).await;
        match recorded {
            Ok(()) => shared.wake.notify_one(),
            Err(e) => shared.record_later(event, payload, &e),
        }
    }

    /// The delivery counters (zero without sinks).
    pub fn counts(&self) -> NotifyCounts {
        self.shared
            .as_ref()
            .map(|s| s.stats.snapshot())
            .unwrap_or_default()
    }
}

impl Shared {
    async fn record(&self, event_id: &str, payload: &str) -> laker_catalog::Result<()> {
        let sinks: Vec<&str> = self.sinks.iter().map(String::as_str).collect();
        self.catalog
            .enqueue_notification(event_id, &sinks, payload, now_ms())
            .await
    }

    /// Retries recording `event` in the background, within
    /// [`MAX_UNRECORDED`] events.
    fn record_later(
        self: &Arc<Self>,
        event: &CommitEvent,
        payload: String,
        error: &laker_catalog::CatalogError,
    ) {
        let (event_id, dataset, version) =
            (event.event_id.clone(), event.dataset.clone(), event.version);
        if self.unrecorded.fetch_add(1, Ordering::SeqCst) >= MAX_UNRECORDED {
            self.unrecorded.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(%event_id, %dataset, version, error = %error, "commit notification lost: the catalog cannot record it and {MAX_UNRECORDED} others wait already");
            return;
        }
        tracing::warn!(%event_id, %dataset, version, error = %error, "recording the commit notification failed; retrying in the background");
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_secs(1);
            let mut last = None;
            for _ in 0..RECORD_ATTEMPTS {
                tokio::time::sleep(delay).await;
                match shared.record(&event_id, &payload).await {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            shared.unrecorded.fetch_sub(1, Ordering::SeqCst);
            match last {
                None => shared.wake.notify_one(),
                Some(e) => {
                    tracing::error!(%event_id, %dataset, version, error = %e, "commit notification lost: the catalog could not record it");
                }
            }
        });
    }
}
