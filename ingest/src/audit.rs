//! The audit that ingest records its transform runs in: the server's. Its
//! host implements this, so ingest needs no part of the server.

use async_trait::async_trait;
use laker_catalog::audit::AuditRecord;

use crate::error::IngestError;

/// Where transform runs are recorded.
#[async_trait]
pub trait Audit: Send + Sync + std::fmt::Debug {
    /// Records `record`.
    async fn record(&self, record: AuditRecord);

    /// Returns once every record queued so far is written, so readers of
    /// the `system` datasets see every record of calls made before theirs.
    async fn flush(&self);

    /// What a client would be told of `e` (what the server hides goes to
    /// its log): the message a run refused before it started is recorded
    /// with.
    fn public_message(&self, e: IngestError) -> String;
}
