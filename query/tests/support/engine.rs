//! The engine as the server builds it (`flight-server`'s `start`): one
//! memory budget whose pool the runtime uses and which charges lake reads,
//! the default tunables with a mask hash key; downloads execute in a task
//! context of their own admitted stream, as `DoGet` runs them. The only
//! place that constructs a [`QueryEngine`], so a changed constructor (or
//! table resolver) is one edit here.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use futures::TryStreamExt;
use laker_query::memory::ServerMemory;
use laker_query::{DownloadPlan, EngineConfig, QueryEngine};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

/// Key mixed into hashed values (it shows in plans, as the mask's literal).
pub const MASK_HASH_KEY: &str = "golden-key";

/// The server's memory budget in these tests.
const MEMORY_LIMIT: usize = 256 << 20;
/// One download stream's share of it.
const STREAM_MEMORY: usize = 64 << 20;
/// Partitions of a whole download read at once.
const PARALLEL_READS: usize = 4;

/// An engine and the memory budget its runtime draws on.
pub struct TestEngine {
    pub engine: QueryEngine,
    memory: ServerMemory,
}

impl TestEngine {
    /// An engine over the local file system, with the default tunables.
    pub fn start() -> Self {
        let memory = ServerMemory::new(MEMORY_LIMIT);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::clone(memory.pool()))
            .build_arc()
            .unwrap();
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        runtime.register_object_store(
            ObjectStoreUrl::local_filesystem().as_ref(),
            memory.accounted(local),
        );
        let config = EngineConfig {
            mask_hash_key: MASK_HASH_KEY.to_string(),
            ..EngineConfig::default()
        };
        Self {
            engine: QueryEngine::new(&config, runtime),
            memory,
        }
    }

    /// Every row of `plan` (all partitions, merged), read in a stream
    /// admitted to this engine's budget.
    pub async fn collect(&self, plan: &DownloadPlan) -> Vec<RecordBatch> {
        let admitted = self
            .memory
            .admit("a download stream", STREAM_MEMORY, "--stream-memory-mb")
            .unwrap();
        let task = admitted.task_context(plan.task_context()).unwrap();
        let batches = plan.execute(None, task, PARALLEL_READS).unwrap();
        batches.try_collect::<Vec<_>>().await.unwrap()
    }
}
