//! The lease that lets one replica at a time run a job: taken in the
//! catalog before a run starts, renewed in the background while it runs,
//! given back when it ends. A run that can no longer renew it (the catalog
//! out of reach for longer than the lease, or another replica took over)
//! learns so through [`Lease::held`] and stops before it commits. A replica
//! that dies leaves its lease to expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use laker_catalog::Catalog;
use tokio::task::JoinHandle;

use crate::error::Result;

/// Tells whether a lease is still held.
#[derive(Debug, Clone)]
pub struct Held(Arc<AtomicBool>);

impl Held {
    /// Whether the lease is still held.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A held lease on one job; given back by [`Lease::release`] (or, less
/// promptly, when dropped).
#[derive(Debug)]
pub struct Lease {
    catalog: Catalog,
    job: String,
    holder: String,
    held: Held,
    renewer: Option<JoinHandle<()>>,
}

impl Lease {
    /// Takes the lease on `job` for `duration`; `None` when another run
    /// holds it.
    pub async fn acquire(catalog: &Catalog, job: &str, duration: Duration) -> Result<Option<Self>> {
        let holder = holder_token();
        let now = now_ms();
        let until = now.saturating_add(millis(duration));
        if !catalog
            .acquire_ingest_lease(job, &holder, now, until)
            .await?
        {
            return Ok(None);
        }
        let held = Held(Arc::new(AtomicBool::new(true)));
        let renewer = tokio::spawn(renew(
            catalog.clone(),
            job.to_string(),
            holder.clone(),
            duration,
            held.clone(),
        ));
        Ok(Some(Self {
            catalog: catalog.clone(),
            job: job.to_string(),
            holder,
            held,
            renewer: Some(renewer),
        }))
    }

    /// Whether the lease is still held (checked by the run as it goes).
    pub fn held(&self) -> Held {
        self.held.clone()
    }

    /// Gives the lease back.
    pub async fn release(mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if let Err(e) = self
            .catalog
            .release_ingest_lease(&self.job, &self.holder)
            .await
        {
            tracing::warn!(job = %self.job, error = %e, "an ingest job's lease could not be given back; it expires");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Not released by `release`: stop renewing and give it back soon.
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
            let (catalog, job, holder) = (
                self.catalog.clone(),
                std::mem::take(&mut self.job),
                std::mem::take(&mut self.holder),
            );
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = catalog.release_ingest_lease(&job, &holder).await;
                });
            }
        }
    }
}

/// Renews the lease every quarter of its duration until it is lost.
async fn renew(catalog: Catalog, job: String, holder: String, duration: Duration, held: Held) {
    let every = (duration / 4).max(Duration::from_millis(100));
    let mut renewed_at = now_ms();
    loop {
        tokio::time::sleep(every).await;
        let now = now_ms();
        let until = now.saturating_add(millis(duration));
        match catalog.renew_ingest_lease(&job, &holder, until).await {
            Ok(true) => renewed_at = now,
            Ok(false) => {
                tracing::warn!(job = %job, "an ingest job's lease was taken over; its run stops");
                break;
            }
            Err(e) if now.saturating_sub(renewed_at) < millis(duration) => {
                tracing::warn!(job = %job, error = %e, "renewing an ingest job's lease failed; retrying");
            }
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "an ingest job's lease expired unrenewed; its run stops");
                break;
            }
        }
    }
    held.0.store(false, Ordering::Release);
}

/// A token no other acquisition uses (process, time, sequence).
fn holder_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
