//! The audit as laker-ingest records transform runs in: the same writer,
//! and a refused run recorded with the message a client would read.

use laker_catalog::audit::AuditRecord;
use laker_ingest::IngestError;
use tonic::Status;

use super::AuditLog;
use crate::error::Error;

#[async_trait::async_trait]
impl laker_ingest::Audit for AuditLog {
    async fn record(&self, record: AuditRecord) {
        AuditLog::record(self, record).await;
    }

    async fn flush(&self) {
        AuditLog::flush(self).await;
    }

    fn public_message(&self, e: IngestError) -> String {
        Status::from(Error::from(e)).message().to_string()
    }
}
