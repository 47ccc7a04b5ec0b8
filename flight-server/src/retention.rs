//! Retention on a clock (`--retention-interval-secs`): every so often, and
//! once at start-up, each Delta dataset with `retention_days` has its
//! retention applied — files landed before the period removed from the
//! table, files out of the table for `--retention-delete-after-hours`
//! deleted from the store — whether or not anything landed in it lately.
//! The work is laker-ingest's ([`laker_ingest::curate::retention::pass`]);
//! this is the clock and its counters. Every replica runs its own clock:
//! the passes are idempotent, and a commit race lost to another replica is
//! logged and made good by the next pass.

use std::sync::Arc;
use std::time::Duration;

use laker_ingest::Curator;
use laker_ingest::curate::retention;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::metrics::RetentionMetrics;

/// Runs a retention pass now and every `every` until `stop`; a pass still
/// running then is abandoned (each commit it makes is atomic).
pub fn start(
    curator: Arc<Curator>,
    every: Duration,
    metrics: RetentionMetrics,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A long pass is not followed by a burst of passes.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let started = std::time::Instant::now();
            let pass = tokio::select! {
                _ = stop.cancelled() => break,
                pass = retention::pass(&curator) => pass,
            };
            metrics.record(&pass);
            if pass.removed > 0 || pass.deleted > 0 || pass.failed > 0 {
                tracing::info!(
                    datasets = pass.datasets,
                    files_removed = pass.removed,
                    files_deleted = pass.deleted,
                    failed = pass.failed,
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "retention pass"
                );
            }
        }
    });
}
