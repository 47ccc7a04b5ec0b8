//! The audit writer: calls queue records on a bounded channel; one task
//! writes them to the catalog in batches. When the queue is full, callers
//! wait (backpressure) — records are never dropped. A database error is
//! retried until the write succeeds. With a [`journal`], each call is on
//! disk from the moment its work starts until its record is in the
//! catalog, so neither a crash during the call nor one while the record
//! waits in the queue loses it.

pub(crate) mod call;
pub mod journal;
pub mod refusals;
mod transforms;

use std::sync::Arc;
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
    Record(Box<Finished>),
    /// Answered once every record queued before it is in the database.
    Flush(oneshot::Sender<()>),
}

/// A finished audit record, with the journal entry it closes (if the call
/// was journaled when it started).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The record.
    pub record: AuditRecord,
    /// Its journal entry.
    pub entry: Option<u64>,
}

impl From<AuditRecord> for Finished {
    fn from(record: AuditRecord) -> Self {
        Self {
            record,
            entry: None,
        }
    }
}

/// Queues audit records for the writer task.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    journal: Option<Arc<journal::Journal>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit message")
    }
}

/// Room for one record, reserved in advance (e.g. when a download starts,
/// so the record of how it ended can be sent from a synchronous drop).
#[derive(Debug)]
pub struct AuditPermit {
    permit: mpsc::OwnedPermit<Message>,
    journal: Option<Arc<journal::Journal>>,
}

impl AuditPermit {
    /// Queues `finished` without waiting.
    pub fn send(self, finished: impl Into<Finished>) {
        let finished = finished.into();
        note_finished(self.journal.as_deref(), &finished);
        let _ = self.permit.send(Message::Record(Box::new(finished)));
    }
}

fn note_finished(journal: Option<&journal::Journal>, finished: &Finished) {
    if let (Some(journal), Some(id)) = (journal, finished.entry) {
        journal.finished(id, &finished.record);
    }
}

impl AuditLog {
    /// Starts the writer for `catalog` with a queue of `capacity` records,
    /// deleting records older than `retention` (if any) every hour. With a
    /// journal directory, calls are journaled there, and the records that
    /// journals of dead processes left are queued first.
    pub fn start(
        catalog: Catalog,
        capacity: usize,
        retention: Option<Duration>,
        journal_dir: Option<&std::path::Path>,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (journal, recovered) = match journal_dir {
            Some(dir) => {
                let (journal, recovered) = journal::Journal::open(dir)?;
                (Some(Arc::new(journal)), recovered)
            }
            None => (None, Vec::new()),
        };
        if !recovered.is_empty() {
            tracing::warn!(
                records = recovered.len(),
                "audit records of a server that stopped abruptly recovered from its journal"
            );
        }
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(write_loop(
            catalog,
            rx,
            retention,
            recovered,
            journal.clone(),
        ));
        Ok((Self { tx, journal }, task))
    }

    /// Journals the start of a call described by `record`: from now on the
    /// call is audited even if the process dies. Returns its entry.
    pub fn begin(&self, record: &AuditRecord) -> Option<u64> {
        self.journal.as_ref().and_then(|j| j.started(record))
    }

    /// Queues `finished`, waiting while the queue is full.
    pub async fn record(&self, finished: impl Into<Finished>) {
        let finished = finished.into();
        note_finished(self.journal.as_deref(), &finished);
        if self
            .tx
            .send(Message::Record(Box::new(finished)))
            .await
            .is_err()
        {
            tracing::error!("audit writer has stopped; record not written");
        }
    }

    /// Queues `finished` without waiting: at once when the queue has room,
    /// else from a task that waits for it (for records sent where nothing
    /// can wait, such as a dropped call's; the journal holds it meanwhile).
    pub fn send_now(&self, finished: impl Into<Finished>) {
        let finished = finished.into();
        note_finished(self.journal.as_deref(), &finished);
        match self.tx.try_send(Message::Record(Box::new(finished))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move {
                            let _ = tx.send(message).await;
                        });
                    }
                    Err(_) => tracing::error!(
                        "audit queue full outside the runtime; record journaled only"
                    ),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("audit writer has stopped; record not written");
            }
        }
    }

    /// Queues `record` if the queue has room, without waiting; `false`
    /// when it had none (for records of refusals, which must not block).
    pub fn try_record(&self, record: AuditRecord) -> bool {
        self.tx
            .try_send(Message::Record(Box::new(record.into())))
            .is_ok()
    }

    /// Reserves room for one record, waiting while the queue is full.
    pub async fn reserve(&self) -> Option<AuditPermit> {
        match self.tx.clone().reserve_owned().await {
            Ok(permit) => Some(AuditPermit {
                permit,
                journal: self.journal.clone(),
            }),
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
    recovered: Vec<(u64, AuditRecord)>,
    journal: Option<Arc<journal::Journal>>,
) {
    for chunk in recovered.chunks(MAX_BATCH) {
        let records: Vec<AuditRecord> = chunk.iter().map(|(_, r)| r.clone()).collect();
        write(&catalog, &records).await;
        if let Some(journal) = &journal {
            journal.written(&chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>());
        }
    }
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
        let mut entries = Vec::new();
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => {
                    entries.extend(r.entry);
                    batch.push(r.record);
                }
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write(&catalog, &batch).await;
        if let Some(journal) = &journal {
            journal.written(&entries);
        }
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

pub use laker_auth::token::unix_now_ms as now_ms;

/// `body` (an action's JSON) with secrets replaced, for the audit: the
/// values of keys that name a password, secret, token or API key, at any
/// depth and in any case; a body that is not a JSON object is not kept.
pub fn redact(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value @ serde_json::Value::Object(_)) => {
            redact_value(&mut value);
            value.to_string()
        }
        Ok(_) => format!("<{} bytes, not a JSON object>", body.len()),
        Err(_) => format!("<{} bytes, not JSON>", body.len()),
    }
}

fn redact_value(value: &mut serde_json::Value) {
    const SECRET_WORDS: [&str; 4] = ["password", "secret", "token", "api_key"];
    // Names of credentials, not credentials: kept, so the audit says which.
    const IDS: [&str; 1] = ["token_id"];
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if IDS.contains(&key.as_str()) && v.is_string() {
                    continue;
                }
                if SECRET_WORDS.iter().any(|w| key.contains(w)) {
                    *v = "***".into();
                } else {
                    redact_value(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
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
        // Found attacking the HTTP API: bodies as arrays, keys in another
        // case, nested secrets.
        let text = redact(br#"["zuser","SecretPassw0rdAR"]"#);
        assert!(!text.contains("Secret"), "{text}");
        let text =
            redact(br#"{"Password": "hunter2hunter2", "x": {"api_key": "k1", "new_token": "t"}}"#);
        assert!(
            !text.contains("hunter2") && !text.contains("k1") && !text.contains("\"t\""),
            "{text}"
        );
        // A token's id names it; it is no credential.
        let text = redact(br#"{"token_id": "0f1e2d", "token": "eyJ"}"#);
        assert!(text.contains("0f1e2d") && !text.contains("eyJ"), "{text}");
    }
}
