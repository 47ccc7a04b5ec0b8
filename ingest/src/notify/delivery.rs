//! The delivery loop: every second, and at once when a commit is recorded,
//! it claims a bounded batch of each sink's due notifications from the
//! catalog's outbox, sends them oldest first and records each outcome:
//! delivered, or failed with the next attempt after a doubling delay. Its
//! state is the catalog's, so a restart (or another replica on the same
//! catalog) carries on where it stopped. A send may be repeated (the
//! server stopped before recording it): delivery is at least once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use laker_catalog::{Catalog, Notification};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::Backoff;
use super::counts::Stats;
use super::event::{CommitEvent, Sink};

/// Notifications claimed at once per sink: memory stays bounded whatever
/// the backlog.
const BATCH: i64 = 64;

/// How often the outbox is read when no commit wakes the loop.
const POLL: Duration = Duration::from_secs(1);

/// How long a claim keeps other replicas off a notification.
const LEASE: Duration = Duration::from_secs(120);

/// Longest one send may take before it counts as failed.
const SEND_LIMIT: Duration = Duration::from_secs(45);

/// Delivered notifications are kept this long, then deleted.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often delivered notifications past the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long stopping waits for a send in progress.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What the loop runs with.
#[derive(Debug)]
pub(super) struct Loop {
    pub(super) catalog: Catalog,
    pub(super) sinks: Vec<Arc<dyn Sink>>,
    pub(super) backoff: Backoff,
    /// Names this process's claims in the outbox.
    pub(super) claimer: String,
    /// Notified when a commit is recorded.
    pub(super) wake: Arc<Notify>,
    pub(super) stats: Arc<Stats>,
}

/// The running delivery loop. Dropping it stops the loop; [`Delivery::stop`]
/// also waits for it and releases its claims.
#[derive(Debug, Default)]
pub struct Delivery {
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The outbox and this loop's claimer id, to release its claims.
    claims: Option<(Catalog, String)>,
}

impl Delivery {
    /// Starts `work` in the background.
    pub(super) fn spawn(work: Loop) -> Self {
        let token = CancellationToken::new();
        let claims = Some((work.catalog.clone(), work.claimer.clone()));
        let task = tokio::spawn(work.run(token.clone()));
        Self {
            token,
            task: Some(task),
            claims,
        }
    }

    /// Asks the loop to stop, without waiting.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Stops the loop: a send in progress may finish (for up to 10 s);
    /// claims still held are released, so the next start, or another
    /// replica, sends those notifications at once.
    pub async fn stop(mut self) {
        self.token.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        if let Some((catalog, claimer)) = self.claims.take()
            && let Err(e) = catalog.release_notifications(&claimer).await
        {
            tracing::warn!(error = %e, "releasing the claimed notifications failed; they are sent when the claims lapse");
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

impl Loop {
    async fn run(self, stop: CancellationToken) {
        let mut pruned: Option<Instant> = None;
        let mut catalog_ok = true;
        while !stop.is_cancelled() {
            let mut more = false;
            for sink in &self.sinks {
                match self.round(sink.as_ref(), &stop).await {
                    Ok(again) => {
                        more |= again;
                        catalog_ok = true;
                    }
                    Err(e) if catalog_ok => {
                        catalog_ok = false;
                        tracing::warn!(sink = sink.name(), error = %e, "reading the notification outbox failed; retrying every second");
                    }
                    Err(e) => {
                        tracing::debug!(sink = sink.name(), error = %e, "reading the notification outbox failed")
                    }
                }
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                self.prune().await;
                pruned = Some(Instant::now());
            }
            if let Ok(pending) = self.catalog.pending_notifications().await {
                self.stats.set_pending(u64::try_from(pending).unwrap_or(0));
            }
            if more {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Claims and sends one batch of `sink`'s due notifications; returns
    /// whether more may be due at once (a full batch went out, or the claim
    /// ran short of time).
    async fn round(
        &self,
        sink: &dyn Sink,
        stop: &CancellationToken,
    ) -> laker_catalog::Result<bool> {
        let claimed = Instant::now();
        let batch = self
            .catalog
            .claim_notifications(sink.name(), &self.claimer, now_ms(), millis(LEASE), BATCH)
            .await?;
        let full = i64::try_from(batch.len()).is_ok_and(|n| n >= BATCH);
        for notification in &batch {
            // A send must end well within the claim, or another replica
            // could take the notification while it is sent.
            let short = claimed.elapsed() + SEND_LIMIT * 2 > LEASE;
            if stop.is_cancelled() || short {
                self.catalog.release_notifications(&self.claimer).await?;
                return Ok(!stop.is_cancelled());
            }
            if !self.send(sink, notification).await {
                // The sink is likely down: the rest waits for the next
                // round, and the one that failed for its own retry time.
                self.catalog.release_notifications(&self.claimer).await?;
                return Ok(false);
            }
        }
        Ok(full)
    }

    /// Sends one notification and records the outcome; true when it went out.
    async fn send(&self, sink: &dyn Sink, n: &Notification) -> bool {
        let sent = match serde_json::from_str::<CommitEvent>(&n.payload) {
            Ok(event) => {
                let delivery = sink.deliver(&event, n.payload.as_bytes());
                match tokio::time::timeout(SEND_LIMIT, delivery).await {
                    Ok(sent) => sent,
                    Err(_) => Err(format!("no answer within {} s", SEND_LIMIT.as_secs())),
                }
            }
            Err(e) => Err(format!("the recorded event cannot be read: {e}")),
        };
        match sent {
            Ok(()) => {
                self.stats.delivered();
                tracing::info!(sink = sink.name(), event_id = %n.event_id, attempt = n.attempts + 1, "commit notified");
                let recorded = self
                    .catalog
                    .notification_delivered(&n.event_id, sink.name(), now_ms())
                    .await;
                if let Err(e) = recorded {
                    tracing::warn!(sink = sink.name(), event_id = %n.event_id, error = %e, "recording a delivery failed; the event will be sent again");
                }
                true
            }
            Err(error) => {
                self.stats.failed();
                let failures = n.attempts + 1;
                let delay = self.backoff.after(failures);
                tracing::warn!(sink = sink.name(), event_id = %n.event_id, attempt = failures, retry_in = ?delay, error = %error, "notification failed; it will be retried");
                let next = now_ms().saturating_add(millis(delay));
                let recorded = self
                    .catalog
                    .notification_failed(&n.event_id, sink.name(), &self.claimer, &error, next)
                    .await;
                if let Err(e) = recorded {
                    tracing::warn!(sink = sink.name(), event_id = %n.event_id, error = %e, "recording a failed delivery failed");
                }
                false
            }
        }
    }

    /// Deletes delivered notifications past the retention.
    async fn prune(&self) {
        let before = now_ms().saturating_sub(millis(RETENTION));
        match self.catalog.prune_notifications(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "delivered notifications past retention deleted"),
            Err(e) => tracing::debug!(error = %e, "pruning delivered notifications failed"),
        }
    }
}

/// Now, in Unix epoch milliseconds.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
