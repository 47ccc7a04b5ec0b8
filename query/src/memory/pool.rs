//! A memory pool per stream or query, drawing from the server's pool: a
//! reservation grows only while both its own limit and the server's have
//! room, so one stream cannot take everything and all of them together
//! cannot exceed the server's limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// One stream's (or query's) pool.
#[derive(Debug)]
pub struct ChildPool {
    what: String,
    limit: usize,
    flag: &'static str,
    used: AtomicUsize,
    /// Everything this pool hands out, reserved in the server's pool.
    parent: MemoryReservation,
    server_limit: usize,
}

impl ChildPool {
    /// A pool of at most `limit` bytes (set by `flag`) for `what` (e.g. "a
    /// download stream"), drawing from `server` (whose limit is `server_limit`).
    pub fn new(
        what: impl Into<String>,
        limit: usize,
        flag: &'static str,
        server: &Arc<dyn MemoryPool>,
        server_limit: usize,
    ) -> Self {
        let what = what.into();
        Self {
            parent: MemoryConsumer::new(what.clone()).register(server),
            what,
            limit,
            flag,
            used: AtomicUsize::new(0),
            server_limit,
        }
    }
}

impl std::fmt::Display for ChildPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory of {} ({} bytes)", self.what, self.limit)
    }
}

impl MemoryPool for ChildPool {
    fn name(&self) -> &str {
        "laker_child_pool"
    }

    fn grow(&self, _reservation: &MemoryReservation, additional: usize) {
        self.parent.grow(additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, _reservation: &MemoryReservation, shrink: usize) {
        // Everything handed out is held in `parent`: the two sizes agree.
        debug_assert!(shrink <= self.parent.size());
        self.parent.shrink(shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let grown = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional).filter(|n| *n <= self.limit)
            });
        if grown.is_err() {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} may use at most {} MiB ({}); {} asked for {additional} bytes more",
                self.what,
                self.limit >> 20,
                self.flag,
                reservation.consumer().name()
            )));
        }
        if self.parent.try_grow(additional).is_err() {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the server's memory limit ({} MiB, --memory-limit-mb) is in use by other \
                 downloads, uploads and queries; retry later",
                self.server_limit >> 20
            )));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn a_child_is_bounded_by_its_limit_and_the_servers() {
        let server: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let a: Arc<dyn MemoryPool> = Arc::new(ChildPool::new(
            "stream a",
            60,
            "--stream-memory-mb",
            &server,
            100,
        ));
        let b: Arc<dyn MemoryPool> = Arc::new(ChildPool::new(
            "stream b",
            60,
            "--stream-memory-mb",
            &server,
            100,
        ));
        let ra = MemoryConsumer::new("sort").register(&a);
        let rb = MemoryConsumer::new("sort").register(&b);
        ra.try_grow(50).unwrap();
        let own = ra.try_grow(20).unwrap_err().to_string();
        assert!(own.contains("stream a may use at most"), "{own}");
        rb.try_grow(40).unwrap();
        let shared = rb.try_grow(20).unwrap_err().to_string();
        assert!(shared.contains("--memory-limit-mb"), "{shared}");
        assert_eq!(server.reserved(), 90);
        drop(ra);
        assert_eq!(
            server.reserved(),
            40,
            "a dropped reservation returns to the server"
        );
        rb.try_grow(20).unwrap();
    }
}
