//! Where upload commits are announced: an HMAC-signed webhook and NATS
//! JetStream.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;

/// Commit notification settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Notify {
    /// URL that each upload commit is POSTed to (JSON, HMAC-signed).
    #[arg(long, env = "LAKER_NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,
    /// File holding the webhook's HMAC secret (at least 16 bytes).
    #[arg(long, env = "LAKER_NOTIFY_WEBHOOK_SECRET_FILE")]
    pub notify_webhook_secret_file: Option<PathBuf>,
    /// NATS server that each upload commit is published to (JetStream), e.g. `nats://127.0.0.1:4222`.
    #[arg(long, env = "LAKER_NOTIFY_NATS_URL")]
    pub notify_nats_url: Option<String>,
    /// JetStream stream for commit events, created when missing [default: LAKER_COMMITS].
    #[arg(long, env = "LAKER_NOTIFY_NATS_STREAM")]
    pub notify_nats_stream: Option<String>,
    /// Subject prefix of commit events; each goes to `<prefix>.<namespace>.<dataset>` [default: laker.commits].
    #[arg(long, env = "LAKER_NOTIFY_NATS_SUBJECT_PREFIX")]
    pub notify_nats_subject_prefix: Option<String>,
}

impl Notify {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        let notify = &mut c.notify;
        notify.webhook_url = self.notify_webhook_url;
        notify.webhook_secret_file = self.notify_webhook_secret_file;
        notify.nats_url = self.notify_nats_url;
        set(&mut notify.nats_stream, self.notify_nats_stream);
        set(
            &mut notify.nats_subject_prefix,
            self.notify_nats_subject_prefix,
        );
    }
}
