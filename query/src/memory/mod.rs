//! The server's memory budget. One pool of `--memory-limit-mb` holds
//! everything downloads, queries, transforms and uploads use: what
//! DataFusion's operators reserve (sorts spill, the rest fail naming the
//! limit), the buffers read from the lake ([`reads`]), and a base amount
//! each stream reserves when it starts for the batches it has in flight.
//! Each stream or query draws from it through a pool of its own
//! ([`pool::ChildPool`]), so one cannot take everything.

pub mod pool;
pub mod reads;
pub mod size;

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use object_store::ObjectStore;

use pool::ChildPool;
use reads::AccountedStore;

/// Bytes every stream reserves when it starts: the decoded batches and
/// encoded messages it has in flight.
pub const STREAM_BASE_BYTES: usize = 16 << 20;

/// The least a stream reserves, however small its result.
pub const MIN_STREAM_BASE_BYTES: usize = 1 << 20;

/// Room a stream needs besides its base to read (a row group's column
/// chunks): a stream is admitted only while the server has that much free
/// too, so the streams it admits can read instead of waiting for memory.
pub const READ_HEADROOM_BYTES: usize = 64 << 20;

/// The server's pool.
#[derive(Debug, Clone)]
pub struct ServerMemory {
    pool: Arc<dyn MemoryPool>,
    limit: usize,
}

/// Memory a stream (or query) was admitted with: its own pool, with the
/// base amount reserved. Dropping it returns everything to the server.
#[derive(Debug)]
pub struct StreamMemory {
    pool: Arc<dyn MemoryPool>,
    base: MemoryReservation,
    server_limit: usize,
}

impl ServerMemory {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            pool: Arc::new(GreedyMemoryPool::new(limit)),
            limit,
        }
    }

    /// The server's pool (for the runtime's other work).
    pub fn pool(&self) -> &Arc<dyn MemoryPool> {
        &self.pool
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes in use now.
    pub fn reserved(&self) -> usize {
        self.pool.reserved()
    }

    /// Admits `what` (e.g. "a download stream") with a pool of `limit`
    /// bytes (set by `flag`), reserving [`STREAM_BASE_BYTES`] of it now;
    /// refused when the server has no room for that.
    pub fn admit(&self, what: &str, limit: usize, flag: &'static str) -> Result<StreamMemory> {
        self.admit_with_base(what, (limit, flag), STREAM_BASE_BYTES)
    }

    /// [`Self::admit`], reserving `base` bytes (clamped to
    /// [`MIN_STREAM_BASE_BYTES`]..=[`STREAM_BASE_BYTES`]) for the batches in
    /// flight: a download known to be small takes little of the budget.
    pub fn admit_with_base(
        &self,
        what: &str,
        (limit, flag): (usize, &'static str),
        base: usize,
    ) -> Result<StreamMemory> {
        let base_bytes = base.clamp(MIN_STREAM_BASE_BYTES, STREAM_BASE_BYTES);
        let headroom = READ_HEADROOM_BYTES.min(self.limit / 8);
        if self.pool.reserved().saturating_add(base_bytes + headroom) > self.limit {
            return Err(server_full(self.limit));
        }
        let pool: Arc<dyn MemoryPool> =
            Arc::new(ChildPool::new(what, limit, flag, &self.pool, self.limit));
        let base = MemoryConsumer::new(format!("{what}: batches in flight")).register(&pool);
        base.try_grow(base_bytes.min(limit))
            .map_err(|_| server_full(self.limit))?;
        Ok(StreamMemory {
            pool,
            base,
            server_limit: self.limit,
        })
    }

    /// `store`, its reads charged to this budget.
    pub fn accounted(&self, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(AccountedStore::new(store, &self.pool, self.limit))
    }
}

fn server_full(limit: usize) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!(
        "the server's memory limit ({} MiB, --memory-limit-mb) is in use by other downloads, \
         uploads and queries; retry later",
        limit >> 20
    ))
}

impl StreamMemory {
    /// Holds `bytes` more until the stream ends (memory it uses outside
    /// DataFusion's operators, such as a data file being written).
    pub fn hold(&self, bytes: usize) -> Result<()> {
        self.base
            .try_grow(bytes)
            .map_err(|_| server_full(self.server_limit))
    }

    /// `base` (a session's task context) with this stream's pool.
    pub fn task_context(&self, base: &TaskContext) -> Result<Arc<TaskContext>> {
        self.task_context_with_batch(base, None)
    }

    /// [`Self::task_context`], reading batches of `batch_rows` rows when given.
    pub fn task_context_with_batch(
        &self,
        base: &TaskContext,
        batch_rows: Option<usize>,
    ) -> Result<Arc<TaskContext>> {
        let runtime = RuntimeEnvBuilder::from_runtime_env(&base.runtime_env())
            .with_memory_pool(Arc::clone(&self.pool))
            .build_arc()?;
        let config = base.session_config().clone();
        let config = match batch_rows {
            Some(rows) => config.with_batch_size(rows),
            None => config,
        };
        Ok(Arc::new(TaskContext::new(
            base.task_id(),
            base.session_id(),
            config,
            base.scalar_functions().clone(),
            base.higher_order_functions().clone(),
            base.aggregate_functions().clone(),
            base.window_functions().clone(),
            runtime,
        )))
    }

    /// The stream's pool.
    pub fn pool(&self) -> &Arc<dyn MemoryPool> {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_is_refused_when_the_server_is_full() {
        let server = ServerMemory::new(4 * STREAM_BASE_BYTES);
        let a = server
            .admit("a download stream", 64 << 20, "--stream-memory-mb")
            .unwrap();
        let _b = server
            .admit("a download stream", 64 << 20, "--stream-memory-mb")
            .unwrap();
        let _c = server
            .admit("a download stream", 64 << 20, "--stream-memory-mb")
            .unwrap();
        let refused = server
            .admit("a download stream", 64 << 20, "--stream-memory-mb")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--memory-limit-mb"), "{refused}");
        assert_eq!(
            server.reserved(),
            3 * STREAM_BASE_BYTES,
            "headroom kept free"
        );
        drop(a);
        assert_eq!(server.reserved(), 2 * STREAM_BASE_BYTES);
        assert!(
            server
                .admit("a download stream", 64 << 20, "--stream-memory-mb")
                .is_ok()
        );
    }

    #[test]
    fn small_streams_reserve_what_they_need() {
        let server = ServerMemory::new(4 * STREAM_BASE_BYTES);
        let limit = (64 << 20, "--stream-memory-mb");
        let small: Vec<_> = (0..40)
            .map(|_| server.admit_with_base("a download stream", limit, 10 << 10))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            server.reserved(),
            40 * MIN_STREAM_BASE_BYTES,
            "clamped up to 1 MiB"
        );
        drop(small);
        let _large = server
            .admit_with_base("a download stream", limit, usize::MAX)
            .unwrap();
        assert_eq!(
            server.reserved(),
            STREAM_BASE_BYTES,
            "clamped down to the base"
        );
    }
}
