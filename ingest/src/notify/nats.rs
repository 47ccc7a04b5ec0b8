//! The NATS JetStream sink: each commit event is published to
//! `<prefix>.<namespace>.<dataset>` in a JetStream stream (created when
//! missing, capturing `<prefix>.>`), and the server waits for the stream's
//! acknowledgement. The message id (`Nats-Msg-Id`) is the event's id, so
//! JetStream drops a redelivered event within its duplicate window.

use async_nats::jetstream::{self, message::PublishMessage, stream::Config};
use tokio::sync::OnceCell;

use super::event::{CommitEvent, Sink};

/// Publishes commit events to a JetStream stream.
#[derive(Debug)]
pub struct NatsSink {
    url: String,
    stream: String,
    prefix: String,
    context: OnceCell<jetstream::Context>,
}

impl NatsSink {
    /// A sink for the server at `url`, publishing under `prefix` into `stream`.
    pub fn new(url: &str, stream: &str, prefix: &str) -> Result<Self, String> {
        if stream.is_empty() || stream.contains(['.', '*', '>', ' ']) {
            return Err(format!("invalid JetStream stream name '{stream}'"));
        }
        if prefix.is_empty()
            || prefix.contains(['*', '>', ' '])
            || prefix.starts_with('.')
            || prefix.ends_with('.')
        {
            return Err(format!("invalid NATS subject prefix '{prefix}'"));
        }
        Ok(Self {
            url: url.to_string(),
            stream: stream.to_string(),
            prefix: prefix.to_string(),
            context: OnceCell::new(),
        })
    }

    /// The subject an event for `dataset` (`namespace.dataset`) goes to.
    pub fn subject(&self, dataset: &str) -> String {
        format!("{}.{dataset}", self.prefix)
    }

    /// Connects (once) and makes sure the stream exists.
    async fn context(&self) -> Result<&jetstream::Context, String> {
        self.context
            .get_or_try_init(|| async {
                let client = async_nats::ConnectOptions::new()
                    .name("laker-server")
                    .connect(self.url.as_str())
                    .await
                    .map_err(|e| format!("connecting to NATS failed: {e}"))?;
                let context = jetstream::new(client);
                context
                    .get_or_create_stream(Config {
                        name: self.stream.clone(),
                        subjects: vec![format!("{}.>", self.prefix)],
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("JetStream stream '{}': {e}", self.stream))?;
                Ok(context)
            })
            .await
    }
}

#[async_trait::async_trait]
impl Sink for NatsSink {
    fn name(&self) -> &str {
        "nats"
    }

    async fn deliver(&self, event: &CommitEvent, body: &[u8]) -> Result<(), String> {
        let context = self.context().await?;
        let message = PublishMessage::build()
            .payload(body.to_vec().into())
            .message_id(&event.event_id);
        context
            .send_publish(self.subject(&event.dataset), message)
            .await
            .map_err(|e| format!("publishing to NATS failed: {e}"))?
            .await
            .map_err(|e| format!("JetStream did not acknowledge: {e}"))?;
        Ok(())
    }
}
