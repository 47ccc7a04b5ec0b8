//! The audit writer: calls queue records on a bounded channel; one task
//! writes them to the catalog in batches. When the queue is full, callers
//! wait (backpressure) — records are never dropped. A database error is
//! retried until the write succeeds.

use std::time::Duration;

use laker_catalog::Catalog;
use laker_catalog::audit::AuditRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Most records written in one transaction.
const MAX_BATCH: usize = 512;
/// How often old records are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

enum Message {
    Record(Box<AuditRecord>),
    /// Answered once every record queued before it is in the database.
    Flush(oneshot::Sender<()>),
}

/// Queues audit records for the writer task.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit message")
    }
}

/// Room for one record, reserved in advance (e.g. when a download starts,
/// so the record of how it ended can be sent from a synchronous drop).
#[derive(Debug)]
pub struct AuditPermit(mpsc::OwnedPermit<Message>);

impl AuditPermit {
    /// Queues `record` without waiting.
    pub fn send(self, record: AuditRecord) {
        let _ = self.0.send(Message::Record(Box::new(record)));
    }
}

impl AuditLog {
    /// Starts the writer for `catalog` with a queue of `capacity` records,
    /// deleting records older than `retention` (if any) every hour.
    pub fn start(
        catalog: Catalog,
        capacity: usize,
        retention: Option<Duration>,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(write_loop(catalog, rx, retention));
        (Self { tx }, task)
    }

    /// Queues `record`, waiting while the queue is full.
    pub async fn record(&self, record: AuditRecord) {
        if self
            .tx
            .send(Message::Record(Box::new(record)))
            .await
            .is_err()
        {
            tracing::error!("audit writer has stopped; record not written");
        }
    }

    /// Reserves room for one record, waiting while the queue is full.
    pub async fn reserve(&self) -> Option<AuditPermit> {
        match self.tx.clone().reserve_owned().await {
            Ok(permit) => Some(AuditPermit(permit)),
            Err(_) => {
                tracing::error!("audit writer has stopped; record not written");
                None
            }
        }
    }

    /// Records (and flush requests) waiting for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Waits until every record queued so far is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(
    catalog: Catalog,
    mut rx: mpsc::Receiver<Message>,
    retention: Option<Duration>,
) {
    let mut retention_tick = tokio::time::interval(RETENTION_EVERY);
    loop {
        let first = tokio::select! {
            message = rx.recv() => match message {
                Some(m) => m,
                None => break,
            },
            _ = retention_tick.tick() => {
                apply_retention(&catalog, retention).await;
                continue;
            }
        };
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => batch.push(*r),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write(&catalog, &batch).await;
        for done in waiting {
            let _ = done.send(());
        }
    }
    tracing::debug!("audit writer stopped");
}

/// Writes `batch`, retrying with backoff until the database takes it.
async fn write(catalog: &Catalog, batch: &[AuditRecord]) {
    if batch.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    loop {
        match catalog.insert_audit(batch).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "writing audit records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn apply_retention(catalog: &Catalog, retention: Option<Duration>) {
    let Some(retention) = retention else {
        return;
    };
    let cutoff = chrono::Utc::now().timestamp_millis() - retention.as_millis() as i64;
    match catalog.delete_audit_before(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "old audit records deleted"),
        Err(e) => tracing::warn!(error = %e, "deleting old audit records failed"),
    }
}

/// The current time in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `body` (an action's JSON) with secrets replaced, for the audit.
pub fn redact(body: &[u8]) -> String {
    const SECRET_KEYS: [&str; 4] = ["password", "api_key", "secret", "token"];
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in SECRET_KEYS {
                if let Some(v) = map.get_mut(key) {
                    *v = "***".into();
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        Ok(other) => other.to_string(),
        Err(_) => format!("<{} bytes, not JSON>", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets() {
        let text = redact(br#"{"name": "alice", "password": "hunter2hunter2"}"#);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("alice"));
        assert_eq!(redact(b"\xff"), "<1 bytes, not JSON>");
    }
}
