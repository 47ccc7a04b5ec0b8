//! The audit: how many records wait for the catalog, and how long they are
//! kept.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;

/// Audit settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Audit {
    /// Audit records queued for the catalog before calls wait for the writer [default: 10000].
    #[arg(long, env = "LAKER_AUDIT_QUEUE")]
    pub audit_queue: Option<usize>,
    /// Days audit records are kept; 0 keeps them forever [default: 365].
    #[arg(long, env = "LAKER_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
}

impl Audit {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        set(&mut c.audit_queue, self.audit_queue);
        let days = |d: u64| (d > 0).then(|| Duration::from_secs(d.saturating_mul(86_400)));
        set(&mut c.audit_retention, self.audit_retention_days.map(days));
    }
}
