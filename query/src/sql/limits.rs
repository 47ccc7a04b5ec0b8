//! Resource limits of SQL queries: a memory pool per query (operators that
//! can spill do, the rest fail as resources exhausted), a deadline and
//! cancellation (the stream ends with [`Stopped`]), and a cap on the queries
//! one principal runs at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use futures::{FutureExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::admission::{PrincipalSlots, Slot};
use crate::error::{QueryError, Result, Stopped};
use crate::memory::{ServerMemory, StreamMemory};

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

impl SqlLimits {
    /// The deadline of a query starting now.
    pub fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|t| Instant::now() + t)
    }
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
#[derive(Debug)]
pub struct QueryLimiter {
    limits: SqlLimits,
    slots: PrincipalSlots,
    memory: ServerMemory,
}

impl QueryLimiter {
    /// A limiter enforcing `limits`, each query's memory drawn from `memory`.
    pub fn new(limits: SqlLimits, memory: ServerMemory) -> Self {
        Self {
            slots: PrincipalSlots::new(
                limits.concurrent_per_principal,
                "queries",
                "--sql-max-concurrent",
            ),
            limits,
            memory,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &SqlLimits {
        &self.limits
    }

    /// The deadline of a query starting now.
    pub fn deadline(&self) -> Option<Instant> {
        self.limits.deadline()
    }

    /// Takes one of `principal`'s query slots, or refuses when all are in use.
    pub fn admit(&self, principal: &str) -> Result<Slot> {
        self.slots.take(principal)
    }

    /// A task context for one query: `session`'s, with a memory pool of
    /// its own (drawn from the server's) so one query cannot starve the
    /// others. The memory is the query's until the returned handle drops.
    pub fn task_context(&self, session: &SessionState) -> Result<(Arc<TaskContext>, StreamMemory)> {
        let memory = self
            .memory
            .admit(
                "a SQL query",
                self.limits.memory_per_query,
                "--sql-query-memory-mb",
            )
            .map_err(QueryError::DataFusion)?;
        let task = memory
            .task_context(&TaskContext::from(session))
            .map_err(|e| QueryError::Internal(format!("query runtime: {e}")))?;
        Ok((task, memory))
    }

    /// Runs `planning` within `deadline`; past it, fails with
    /// [`Stopped::DeadlineExceeded`].
    pub async fn plan_within<T, E: From<QueryError>>(
        deadline: Option<Instant>,
        planning: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        match deadline {
            Some(at) => tokio::time::timeout_at(at, planning)
                .await
                .unwrap_or_else(|_| Err(QueryError::Stopped(Stopped::DeadlineExceeded).into())),
            None => planning.await,
        }
    }
}

/// `batches`, ended with [`Stopped::DeadlineExceeded`] at `deadline` or
/// [`Stopped::Cancelled`] when `cancel` fires; the query (and its memory)
/// is dropped at that moment. Holds `held` (its query slot, say) until the
/// stream ends or is dropped.
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
            () = deadline => Stopped::DeadlineExceeded,
            () = cancel.cancelled() => Stopped::Cancelled,
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
    stop: Pin<Box<dyn Future<Output = Stopped> + Send>>,
    held: Option<Box<dyn Send>>,
}

impl Stream for Bounded {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.inner.is_none() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(stopped) = self.stop.poll_unpin(cx) {
            self.inner = None;
            self.held = None;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(stopped)))));
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

    fn stopped(e: &DataFusionError) -> Option<Stopped> {
        match e.find_root() {
            DataFusionError::External(inner) => inner.downcast_ref::<Stopped>().copied(),
            _ => None,
        }
    }

    #[test]
    fn slots_are_capped_per_principal_and_freed_on_drop() {
        let limiter = QueryLimiter::new(
            SqlLimits {
                concurrent_per_principal: 2,
                ..SqlLimits::default()
            },
            ServerMemory::new(1 << 30),
        );
        let a = limiter.admit("ann").unwrap();
        let _b = limiter.admit("ann").unwrap();
        let refused = limiter.admit("ann").unwrap_err();
        assert!(
            matches!(&refused, QueryError::ResourceExhausted(m) if m.contains("at most 2")),
            "{refused}"
        );
        let _other = limiter.admit("bob").expect("others are not affected");
        drop(a);
        let _c = limiter.admit("ann").expect("a freed slot is reusable");
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_ends_with_deadline_exceeded() {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let limiter = QueryLimiter::new(SqlLimits::default(), ServerMemory::new(1 << 30));
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
        assert_eq!(stopped(&err), Some(Stopped::DeadlineExceeded));
        assert!(stream.next().await.is_none());
        drop(stream);
        assert_eq!(limiter.slots.held("ann"), 0, "slot freed");
    }

    #[tokio::test]
    async fn a_cancelled_stream_ends_with_cancelled() {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let limiter = QueryLimiter::new(SqlLimits::default(), ServerMemory::new(1 << 30));
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
        assert_eq!(stopped(&err), Some(Stopped::Cancelled));
    }
}
