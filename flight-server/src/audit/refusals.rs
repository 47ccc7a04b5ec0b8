//! Calls refused before any handler runs (no or a bad bearer token; on the
//! HTTP API, anything refused before its work was audited) are audited too, at most [`PER_ADDRESS`] a minute per address: a flood of
//! forged tokens is recorded, without letting it flood the audit. What is
//! not recorded is counted (`laker_audit_refusals_skipped_total`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use laker_catalog::audit::AuditRecord;

use super::{AuditLog, now_ms};
use crate::metrics::Metrics;

/// Refusals recorded per address and minute.
pub const PER_ADDRESS: u32 = 20;

/// Addresses tracked at once; beyond, the oldest windows are dropped.
const MAX_ADDRESSES: usize = 100_000;

const WINDOW: Duration = Duration::from_secs(60);

/// Records refusals within the per-address budget.
#[derive(Debug)]
pub struct Refusals {
    audit: AuditLog,
    metrics: Arc<Metrics>,
    windows: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl Refusals {
    /// Records into `audit`, counting what is skipped in `metrics`.
    pub fn new(audit: AuditLog, metrics: Arc<Metrics>) -> Self {
        Self {
            audit,
            metrics,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Audits a refused call on `path` (from the connection in `extensions`).
    pub fn refused(&self, extensions: &http::Extensions, path: &str, reason: &str) {
        let action = crate::rpc_names::rpc_name(path);
        let source = crate::proxies::client_addr(extensions);
        self.record(source, action, "unauthenticated", reason);
    }

    /// Audits an HTTP API call refused before its work was audited
    /// (credentials, CSRF, parameters, body): `action` is `HTTP:<method> <path>`.
    pub fn refused_http(
        &self,
        source: Option<IpAddr>,
        action: String,
        outcome: &str,
        reason: &str,
    ) {
        self.record(source, action, outcome, reason);
    }

    fn record(&self, source: Option<IpAddr>, action: String, outcome: &str, reason: &str) {
        if !self.within_budget(source) {
            self.metrics.refusal_skipped();
            return;
        }
        let record = AuditRecord {
            time: now_ms(),
            principal: String::new(),
            source: source.map(|a| a.to_string()).unwrap_or_default(),
            action: action.chars().take(256).collect(),
            outcome: outcome.into(),
            message: reason.chars().take(512).collect(),
            ..AuditRecord::default()
        };
        if !self.audit.try_record(record) {
            self.metrics.refusal_skipped();
        }
    }

    fn within_budget(&self, source: Option<IpAddr>) -> bool {
        let Ok(mut windows) = self.windows.lock() else {
            return false;
        };
        let now = Instant::now();
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                windows.clear();
            }
        }
        let (start, count) = windows.entry(source).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= PER_ADDRESS
    }
}
