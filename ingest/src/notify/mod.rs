//! Commit notifications: after each upload commit the server sends an event
//! (dataset, version, rows, principal, upload id) to the configured sinks —
//! a webhook (HTTP POST signed with HMAC-SHA256) and NATS JetStream — so
//! orchestrators can start the processing that should follow.
//! Delivery runs in the background with retries and backoff; the upload's
//! answer does not wait for it.

mod event;
mod nats;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use event::{CommitEvent, Sink};
pub use nats::NatsSink;
pub use webhook::{SIGNATURE_HEADER, WebhookSink, signature};

/// Where commit events go (flags `--notify-*`).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// URL the webhook posts to.
    pub webhook_url: Option<String>,
    /// File holding the webhook's HMAC secret.
    pub webhook_secret_file: Option<std::path::PathBuf>,
    /// NATS server events are published to.
    pub nats_url: Option<String>,
    /// JetStream stream that captures the events.
    pub nats_stream: String,
    /// Subject prefix; an event goes to `<prefix>.<namespace>.<dataset>`.
    pub nats_subject_prefix: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret_file: None,
            nats_url: None,
            nats_stream: "LAKER_COMMITS".into(),
            nats_subject_prefix: "laker.commits".into(),
        }
    }
}

impl NotifyConfig {
    /// Connects the configured sinks.
    pub fn sinks(&self) -> Result<Vec<Arc<dyn Sink>>, String> {
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        if let Some(url) = &self.webhook_url {
            let path = self
                .webhook_secret_file
                .as_ref()
                .ok_or("--notify-webhook-url needs --notify-webhook-secret-file")?;
            let secret = std::fs::read(path)
                .map_err(|e| format!("cannot read the webhook secret file: {e}"))?;
            let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
            if secret.len() < 16 {
                return Err("the webhook secret must be at least 16 bytes".into());
            }
            sinks.push(Arc::new(WebhookSink::new(url, secret)?));
        }
        if let Some(url) = &self.nats_url {
            sinks.push(Arc::new(NatsSink::new(
                url,
                &self.nats_stream,
                &self.nats_subject_prefix,
            )?));
        }
        Ok(sinks)
    }
}

/// Events queued for delivery before new ones are dropped (and logged).
const QUEUE: usize = 10_000;

/// Retry schedule of a failed delivery.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay before the first retry; doubles each time.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Attempts in all.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(500),
            max: Duration::from_secs(60),
            attempts: 10,
        }
    }
}

/// Sends commit events to every sink.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    queues: Vec<mpsc::Sender<CommitEvent>>,
}

impl Notifier {
    /// A notifier over `sinks`, each delivered by its own task.
    pub fn start(sinks: Vec<Arc<dyn Sink>>, backoff: Backoff) -> Self {
        let queues = sinks
            .into_iter()
            .map(|sink| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(deliver_all(sink, rx, backoff));
                tx
            })
            .collect();
        Self { queues }
    }

    /// Queues `event` for every sink.
    pub fn commit(&self, event: &CommitEvent) {
        for queue in &self.queues {
            if queue.try_send(event.clone()).is_err() {
                tracing::error!(dataset = %event.dataset, version = event.version, "notification queue full; event dropped");
            }
        }
    }
}

async fn deliver_all(sink: Arc<dyn Sink>, mut rx: mpsc::Receiver<CommitEvent>, backoff: Backoff) {
    while let Some(event) = rx.recv().await {
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let mut delay = backoff.first;
        for attempt in 1..=backoff.attempts {
            match sink.deliver(&event, &body).await {
                Ok(()) => {
                    tracing::info!(sink = sink.name(), dataset = %event.dataset, version = event.version, attempt, "commit notified");
                    break;
                }
                Err(e) if attempt < backoff.attempts => {
                    tracing::warn!(sink = sink.name(), dataset = %event.dataset, attempt, error = %e, "notification failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                }
                Err(e) => {
                    tracing::error!(sink = sink.name(), dataset = %event.dataset, version = event.version, error = %e, "notification given up");
                }
            }
        }
    }
}
