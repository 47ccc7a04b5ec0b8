//! Resource limits of SQL queries: a memory pool per query (operators that
//! can spill do, the rest fail with RESOURCE_EXHAUSTED), a deadline
//! (DEADLINE_EXCEEDED), a cap on the queries one principal runs at once
//! (RESOURCE_EXHAUSTED), and cancellation (CANCELLED).

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use futures::{FutureExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::error::{Error, Result};

/// Limits every SQL query runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Memory one query (one DoGet stream) may hold before spilling or failing.
    pub memory_per_query: usize,
    /// Longest a query may plan and run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Queries one principal may run at once.
    pub concurrent_per_principal: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            memory_per_query: 1 << 30,
            timeout: Some(Duration::from_secs(300)),
            concurrent_per_principal: 8,
        }
    }
}

/// Enforces [`SqlLimits`]; shared by every request of a server.
#[derive(Debug, Default)]
pub struct QueryLimiter {
    limits: SqlLimits,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl QueryLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: SqlLimits) -> Self {
        Self {
            limits,
            running: Arc::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &SqlLimits {
        &self.limits
    }

    /// The deadline of a query starting now.
    pub fn deadline(&self) -> Option<Instant> {
        self.limits.timeout.map(|t| Instant::now() + t)
    }

    /// Takes one of `principal`'s query slots, or refuses when all are in use.
    pub fn admit(&self, principal: &str) -> Result<QuerySlot> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| Error::Internal("query limiter poisoned".into()))?;
        let count = running.entry(principal.to_string()).or_default();
        if *count >= self.limits.concurrent_per_principal {
            return Err(Error::Status(Status::resource_exhausted(format!(
                "too many concurrent queries: at most {} per user; wait for one to finish",
                self.limits.concurrent_per_principal
            ))));
        }
        *count += 1;
        Ok(QuerySlot {
            running: Arc::clone(&self.running),
            principal: principal.to_string(),
        })
    }

    /// A task context for one query: `session`'s, with a memory pool of
    /// its own so one query cannot starve the others.
    pub fn task_context(&self, session: &SessionState) -> Result<Arc<TaskContext>> {
        let pool: Arc<dyn MemoryPool> = Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(self.limits.memory_per_query),
            NonZeroUsize::MIN.saturating_add(2),
        ));
        let runtime = RuntimeEnvBuilder::from_runtime_env(session.runtime_env())
            .with_memory_pool(pool)
            .build_arc()
            .map_err(|e| Error::Internal(format!("query runtime: {e}")))?;
        Ok(Arc::new(TaskContext::from(session).with_runtime(runtime)))
    }

    /// Runs `planning` within `deadline`.
    pub async fn plan_within<T>(
        deadline: Option<Instant>,
        planning: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match deadline {
            Some(at) => tokio::time::timeout_at(at, planning)
                .await
                .unwrap_or_else(|_| Err(Error::Status(timed_out()))),
            None => planning.await,
        }
    }
}

fn timed_out() -> Status {
    Status::deadline_exceeded("the query ran longer than the server's SQL timeout")
}

/// One running query of a principal; frees its slot when dropped.
#[derive(Debug)]
pub struct QuerySlot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    principal: String,
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock()
            && let Some(count) = running.get_mut(&self.principal)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

/// `batches`, ended with DEADLINE_EXCEEDED at `deadline` or CANCELLED when
/// `cancel` fires; the query (and its memory) is dropped at that moment.
/// Holds `held` (its query slot, say) until the stream ends or is dropped.
pub fn bounded(
    batches: SendableRecordBatchStream,
    deadline: Option<Instant>,
    cancel: CancellationToken,
    held: impl Send + 'static,
) -> SendableRecordBatchStream {
    let stop = async move {
        let deadline = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = deadline => timed_out(),
            () = cancel.cancelled() => Status::cancelled("the query was cancelled"),
        }
    };
    Box::pin(Bounded {
        schema: batches.schema(),
        inner: Some(batches),
        stop: Box::pin(stop),
        held: Some(Box::new(held)),
    })
}

struct Bounded {
    schema: SchemaRef,
    inner: Option<SendableRecordBatchStream>,
    stop: Pin<Box<dyn Future<Output = Status> + Send>>,
    held: Option<Box<dyn Send>>,
}

impl Stream for Bounded {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.inner.is_none() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(status) = self.stop.poll_unpin(cx) {
            self.inner = None;
            self.held = None;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(status)))));
        }
        let polled = match self.inner.as_mut() {
            Some(inner) => inner.poll_next_unpin(cx),
            None => Poll::Ready(None),
        };
        if let Poll::Ready(None) = polled {
            self.inner = None;
            self.held = None;
        }
        polled
    }
}

impl RecordBatchStream for Bounded {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_principal_and_freed_on_drop() {
        let limiter = QueryLimiter::new(SqlLimits {
            concurrent_per_principal: 2,
            ..SqlLimits::default()
        });
        let a = limiter.admit("ann").unwrap();
        let _b = limiter.admit("ann").unwrap();
        let refused = Status::from(limiter.admit("ann").unwrap_err());
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("at most 2"),
            "{}",
            refused.message()
        );
        let _other = limiter.admit("bob").expect("others are not affected");
        drop(a);
        let _c = limiter.admit("ann").expect("a freed slot is reusable");
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_ends_with_deadline_exceeded() {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let limiter = QueryLimiter::new(SqlLimits::default());
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let never = RecordBatchStreamAdapter::new(schema, futures::stream::pending());
        let deadline = Some(Instant::now() + Duration::from_millis(20));
        let mut stream = bounded(
            Box::pin(never),
            deadline,
            CancellationToken::new(),
            limiter.admit("ann").unwrap(),
        );
        let err = stream.next().await.unwrap().unwrap_err();
        let status = crate::error::datafusion_status(&err);
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(stream.next().await.is_none());
        drop(stream);
        assert!(limiter.running.lock().unwrap().is_empty(), "slot freed");
    }

    #[tokio::test]
    async fn a_cancelled_stream_ends_with_cancelled() {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let limiter = QueryLimiter::new(SqlLimits::default());
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let never = RecordBatchStreamAdapter::new(schema, futures::stream::pending());
        let token = CancellationToken::new();
        let mut stream = bounded(
            Box::pin(never),
            None,
            token.clone(),
            limiter.admit("ann").unwrap(),
        );
        token.cancel();
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!(
            crate::error::datafusion_status(&err).code(),
            tonic::Code::Cancelled
        );
    }
}
