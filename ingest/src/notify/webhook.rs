//! The webhook sink: `POST` of the event as JSON, with
//! `X-Laker-Signature: sha256=<hex HMAC-SHA256 of the body>` keyed by a
//! shared secret, `X-Laker-Event: commit` and `X-Laker-Event-Id: <event id>`
//! (the same on every delivery of the event). Any 2xx answer is delivery.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::event::{CommitEvent, Sink};

/// Header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-laker-signature";

/// Header carrying the event's id.
pub const EVENT_ID_HEADER: &str = "x-laker-event-id";

/// Posts events to one URL.
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl WebhookSink {
    /// A sink posting to `url`, signing with `secret`.
    pub fn new(url: &str, secret: Vec<u8>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Self {
            url: url.to_string(),
            secret,
            client,
        })
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            {
                let digest = mac.finalize().into_bytes();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256={hex}")
            }
        }
        Err(_) => String::new(),
    }
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn deliver(&self, event: &CommitEvent, body: &[u8]) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-laker-event", "commit")
            .header(EVENT_ID_HEADER, event.event_id.as_str())
            .header(SIGNATURE_HEADER, signature(&self.secret, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("POST failed: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
}
