//! Where commit events go (flags `--notify-*`) and how failed deliveries
//! are retried.

use std::sync::Arc;
use std::time::Duration;

use super::event::Sink;
use super::nats::NatsSink;
use super::webhook::WebhookSink;

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

/// Retry schedule of failed deliveries: the delay doubles from `first` up
/// to `max`. A notification is retried until it is delivered.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt after `failures` failed ones
    /// (1 for the first failure).
    pub fn after(&self, failures: i64) -> Duration {
        let doublings = failures.saturating_sub(1).clamp(0, 30);
        let factor = 1_u32 << u32::try_from(doublings).unwrap_or(30);
        self.first.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(5),
        };
        let delays: Vec<u128> = (0..8).map(|f| b.after(f).as_millis()).collect();
        assert_eq!(delays, [500, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(b.after(i64::MAX), Duration::from_secs(5));
        assert_eq!(Backoff::default().after(1_000), Duration::from_secs(300));
    }
}
