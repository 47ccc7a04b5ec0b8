//! Retention of landed data on a clock: how often the datasets with
//! `retention_days` are pruned, and how long the files removed from their
//! tables stay in the store.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;

/// Retention settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Retention {
    /// Seconds between passes applying the retention of every dataset with
    /// `retention_days` (whether or not anything landed) and deleting the
    /// files removed from their tables; 0 turns the clock off [default: 3600].
    #[arg(long, env = "LAKER_RETENTION_INTERVAL_SECS")]
    pub retention_interval_secs: Option<u64>,
    /// Hours a file removed from a table by retention stays in the store
    /// (so downloads reading it finish) before it is deleted; at most 168
    /// [default: 24].
    #[arg(long, env = "LAKER_RETENTION_DELETE_AFTER_HOURS")]
    pub retention_delete_after_hours: Option<u64>,
}

impl Retention {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        let every = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        set(
            &mut c.retention_interval,
            self.retention_interval_secs.map(every),
        );
        let hours = |h: u64| Duration::from_secs(h.saturating_mul(3600));
        set(
            &mut c.retention_delete_after,
            self.retention_delete_after_hours.map(hours),
        );
    }
}
