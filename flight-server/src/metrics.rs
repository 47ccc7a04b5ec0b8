//! The server's metrics: live counters readable by embedders and tests, and
//! their Prometheus exposition, served at `/metrics` on the HTTP port.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use laker_ingest::notify::NotifyCounts;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a counted gRPC call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcCode {
    rpc: String,
    code: String,
}

/// Label of a timed gRPC call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rpc {
    rpc: String,
}

/// The result cache's counters, moved by the cache itself
/// ([`crate::cache::ResultCache`]).
#[derive(Debug, Clone, Default)]
pub struct ResultCacheMetrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) insertions: Counter,
    pub(crate) evictions: Counter,
    pub(crate) bytes: Gauge<i64, AtomicI64>,
}

impl ResultCacheMetrics {
    /// Downloads served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// Cacheable downloads not found in the cache.
    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// Results stored.
    pub fn insertions(&self) -> u64 {
        self.insertions.get()
    }

    /// Results evicted to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions.get()
    }

    /// Bytes the cache holds now.
    pub fn bytes(&self) -> u64 {
        u64::try_from(self.bytes.get()).unwrap_or(0)
    }
}

/// The retention clock's counters, moved by its passes
/// ([`crate::retention`]).
#[derive(Debug, Clone, Default)]
pub struct RetentionMetrics {
    pub(crate) passes: Counter,
    pub(crate) files_removed: Counter,
    pub(crate) files_deleted: Counter,
    pub(crate) failures: Counter,
}

impl RetentionMetrics {
    /// Passes over the datasets with retention completed.
    pub fn passes(&self) -> u64 {
        self.passes.get()
    }

    /// Files the passes removed from tables (landed before the retention period).
    pub fn files_removed(&self) -> u64 {
        self.files_removed.get()
    }

    /// Files the passes deleted from the store (out of their table for the deletion delay).
    pub fn files_deleted(&self) -> u64 {
        self.files_deleted.get()
    }

    /// Datasets a pass failed on (or passes that could not list them).
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }

    /// Counts one completed pass.
    pub(crate) fn record(&self, pass: &laker_ingest::curate::retention::Pass) {
        self.files_removed.inc_by(pass.removed as u64);
        self.files_deleted.inc_by(pass.deleted as u64);
        self.failures.inc_by(pass.failed as u64);
        self.passes.inc();
    }
}

/// Counters shared by all requests.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    active_streams: Gauge<i64, AtomicI64>,
    streams_started: Counter,
    rows_sent: Counter,
    bytes_sent: Counter,
    rpc_calls: Family<RpcCode, Counter>,
    rpc_seconds: Family<Rpc, Histogram>,
    audit_queue: Gauge<i64, AtomicI64>,
    cache_hits: Counter,
    cache_misses: Counter,
    refusals_skipped: Counter,
    memory_reserved: Gauge<i64, AtomicI64>,
    notifications_delivered: Counter,
    notifications_failed: Counter,
    notifications_pending: Gauge<i64, AtomicI64>,
    result_cache: ResultCacheMetrics,
    retention: RetentionMetrics,
    /// Serialises the copy of sampled counters at scrape time.
    sampling: Mutex<()>,
}

fn rpc_histogram() -> Histogram {
    // 1 ms … about 4 minutes.
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("laker");
        let m = Self {
            active_streams: Gauge::default(),
            streams_started: Counter::default(),
            rows_sent: Counter::default(),
            bytes_sent: Counter::default(),
            rpc_calls: Family::default(),
            rpc_seconds: Family::new_with_constructor(rpc_histogram),
            audit_queue: Gauge::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            refusals_skipped: Counter::default(),
            memory_reserved: Gauge::default(),
            notifications_delivered: Counter::default(),
            notifications_failed: Counter::default(),
            notifications_pending: Gauge::default(),
            result_cache: ResultCacheMetrics::default(),
            retention: RetentionMetrics::default(),
            sampling: Mutex::new(()),
            registry: Registry::default(),
        };
        // One line per metric: field => exposed name, help.
        macro_rules! register {
            ($($field:ident => $name:literal, $help:literal;)*) => {
                $(registry.register($name, $help, m.$field.clone());)*
            };
        }
        #[rustfmt::skip]
        register! {
            rpc_calls => "rpc_requests", "gRPC calls by method and status code";
            rpc_seconds => "rpc_duration_seconds", "gRPC call latency by method, to the end of the response stream";
            active_streams => "download_streams_active", "DoGet streams open (running or waiting on the client)";
            streams_started => "download_streams", "DoGet streams started";
            rows_sent => "rows_sent", "Rows streamed to clients";
            bytes_sent => "bytes_sent", "Flight data bytes streamed to clients";
            audit_queue => "audit_queue_depth", "Audit records waiting to be written to the catalog";
            cache_hits => "table_cache_hits", "Dataset tables served from the cache (same dataset revision)";
            cache_misses => "table_cache_misses", "Dataset tables opened afresh (first use or a new revision)";
            refusals_skipped => "audit_refusals_skipped", "Refused unauthenticated calls not audited individually (over the per-address budget)";
            memory_reserved => "memory_reserved_bytes", "Memory reserved by downloads, uploads, queries and lake reads (--memory-limit-mb)";
            notifications_delivered => "notifications_delivered", "Commit notifications sent to a sink by this server";
            notifications_failed => "notifications_failed", "Commit notification sends that failed (each is retried)";
            notifications_pending => "notifications_pending", "Commit notifications in the catalog's outbox not yet delivered (every sink and replica)";
        }
        let cache = &m.result_cache;
        #[rustfmt::skip]
        let cache_metrics = [
            ("result_cache_hits", "DoGet downloads served from the result cache", cache.hits.clone()),
            ("result_cache_misses", "Cacheable DoGet downloads not in the result cache", cache.misses.clone()),
            ("result_cache_insertions", "Encoded results stored in the result cache (on their second sighting)", cache.insertions.clone()),
            ("result_cache_evictions", "Results evicted from the result cache to make room (least recently used first)", cache.evictions.clone()),
        ];
        for (name, help, counter) in cache_metrics {
            registry.register(name, help, counter);
        }
        registry.register(
            "result_cache_bytes",
            "Bytes held by the result cache (--result-cache-mb)",
            cache.bytes.clone(),
        );
        let retention = &m.retention;
        #[rustfmt::skip]
        let retention_metrics = [
            ("retention_passes", "Retention passes over the datasets with retention_days completed (--retention-interval-secs)", retention.passes.clone()),
            ("retention_files_removed", "Files retention passes removed from tables (landed before the retention period)", retention.files_removed.clone()),
            ("retention_files_deleted", "Files retention passes deleted from the store (out of their table for --retention-delete-after-hours)", retention.files_deleted.clone()),
            ("retention_failures", "Datasets a retention pass failed on (or passes that could not list them)", retention.failures.clone()),
        ];
        for (name, help, counter) in retention_metrics {
            registry.register(name, help, counter);
        }
        Self { registry, ..m }
    }
}

impl Metrics {
    /// Counts a refused call not audited individually.
    pub fn refusal_skipped(&self) {
        self.refusals_skipped.inc();
    }

    /// DoGet streams currently open (scans running or suspended by backpressure).
    pub fn active_streams(&self) -> usize {
        usize::try_from(self.active_streams.get()).unwrap_or(0)
    }

    /// DoGet streams started since the server started.
    pub fn streams_started(&self) -> u64 {
        self.streams_started.get()
    }

    /// Rows handed to clients since start.
    pub fn rows_sent(&self) -> u64 {
        self.rows_sent.get()
    }

    /// Flight data bytes handed to clients since start.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.get()
    }

    /// The result cache's counters.
    pub fn result_cache(&self) -> &ResultCacheMetrics {
        &self.result_cache
    }

    /// The retention clock's counters.
    pub fn retention(&self) -> &RetentionMetrics {
        &self.retention
    }

    pub(crate) fn add_rows(&self, n: u64) {
        self.rows_sent.inc_by(n);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_sent.inc_by(n);
    }

    /// Counts one finished gRPC call of method `rpc`.
    pub(crate) fn record_rpc(&self, rpc: &str, code: tonic::Code, took: Duration) {
        self.rpc_calls
            .get_or_create(&RpcCode {
                rpc: rpc.to_string(),
                code: format!("{code:?}"),
            })
            .inc();
        self.rpc_seconds
            .get_or_create(&Rpc {
                rpc: rpc.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a stream as open until the guard is dropped.
    pub(crate) fn open_stream(self: &Arc<Self>) -> StreamGuard {
        self.active_streams.inc();
        self.streams_started.inc();
        StreamGuard(Arc::clone(self))
    }

    /// The Prometheus text exposition, after copying in the values sampled
    /// from elsewhere: the audit queue depth, the table cache counters, the
    /// memory reserved and the notification counters.
    pub fn render(
        &self,
        audit_queue: usize,
        (hits, misses): (u64, u64),
        memory_reserved: usize,
        notifications: NotifyCounts,
    ) -> String {
        {
            let _one_at_a_time = self.sampling.lock();
            self.audit_queue
                .set(i64::try_from(audit_queue).unwrap_or(i64::MAX));
            self.memory_reserved
                .set(i64::try_from(memory_reserved).unwrap_or(i64::MAX));
            self.notifications_pending
                .set(i64::try_from(notifications.pending).unwrap_or(i64::MAX));
            let sampled = [
                (&self.cache_hits, hits),
                (&self.cache_misses, misses),
                (&self.notifications_delivered, notifications.delivered),
                (&self.notifications_failed, notifications.failed),
            ];
            for (counter, now) in sampled {
                let seen = counter.get();
                if now > seen {
                    counter.inc_by(now - seen);
                }
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Keeps one stream counted as active.
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.active_streams.dec();
    }
}
