//! The audit record of one call: what was asked, by whom, from where, and
//! how it ended. Built as a call starts and finished with its outcome —
//! by the service, or by the stream that carries a download to its end.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arrow_flight::FlightDescriptor;
use laker_catalog::audit::AuditRecord;
use laker_query::DownloadSpec;
use tonic::{Request, Status};

use sha2::Digest;

use super::{AuditLog, AuditPermit, Finished, now_ms};
use crate::error::Error;

/// Longest detail (spec, SQL, action body) kept in a record.
const MAX_DETAIL_CHARS: usize = 4096;

/// A call being audited. However it ends — even dropped midway by a client
/// that went away — it is recorded once: dropped unfinished after it
/// [began](Self::begin), as `cancelled`.
#[derive(Debug)]
pub(crate) struct AuditedCall {
    record: AuditRecord,
    started: Instant,
    /// The journal entry written when the call's work began.
    entry: Option<u64>,
    /// What the call's work learns for its record.
    notes: Notes,
    /// Where the record goes, once the call began (or reserved room).
    audit: Option<AuditLog>,
    /// Room for the record in the audit queue, reserved by a download
    /// (whose end is recorded where nothing can wait).
    permit: Option<AuditPermit>,
    /// The record has been finished (and sent, if there is a permit).
    done: bool,
}

/// What a call's work notes for its audit record, once it knows it — kept
/// also when the call fails afterwards.
#[derive(Debug, Default)]
pub(crate) struct CallNotes {
    /// The datasets the call read or wrote (comma-separated).
    pub datasets: OnceLock<String>,
    /// What the call asked, when only its work can tell (the SQL and
    /// parameters behind a prepared statement's handle).
    pub detail: OnceLock<String>,
}

/// A call's notes, shared with its work.
pub(crate) type Notes = Arc<CallNotes>;

impl AuditedCall {
    /// Starts the record of `action` by `principal`, from the request's
    /// client (see [`crate::proxies`]).
    pub fn start<T>(request: &Request<T>, principal: &str, action: impl Into<String>) -> Self {
        let source = crate::proxies::client_addr(request.extensions());
        Self::from_source(source, principal, action)
    }

    /// Starts the record of `action` by `principal`, from `source` (an
    /// HTTP API call's client).
    pub fn from_source(
        source: Option<std::net::IpAddr>,
        principal: &str,
        action: impl Into<String>,
    ) -> Self {
        Self {
            record: AuditRecord {
                time: now_ms(),
                principal: principal.to_string(),
                source: source.map(|a| a.to_string()).unwrap_or_default(),
                action: action.into(),
                ..AuditRecord::default()
            },
            started: Instant::now(),
            entry: None,
            notes: Notes::default(),
            audit: None,
            permit: None,
            done: false,
        }
    }

    /// The notes the call's work fills in.
    pub fn notes(&self) -> Notes {
        Arc::clone(&self.notes)
    }

    /// Reserves room for the record in the audit queue (waiting while it
    /// is full: a slow audit slows new downloads rather than losing records).
    pub async fn reserve(mut self, audit: &AuditLog) -> Self {
        if self.permit.is_none() {
            self.permit = audit.reserve().await;
        }
        self.audit = Some(audit.clone());
        self
    }

    /// Journals the call as started, with what it asks so far: call it
    /// before any work that could fail hard, so even a call that ends the
    /// process is audited.
    pub fn begin(mut self, audit: &AuditLog) -> Self {
        if self.entry.is_none() {
            self.entry = audit.begin(&self.record);
        }
        self.audit = Some(audit.clone());
        self
    }

    /// Sets the dataset and detail from a download spec (its filter as
    /// [`canonical_sql`]).
    pub fn with_spec(mut self, spec: &DownloadSpec) -> Self {
        self.record.dataset = spec.dataset.clone();
        let mut spec = spec.clone();
        spec.filter = spec.filter.as_deref().map(canonical_sql);
        self.record.detail = truncate(&serde_json::to_string(&spec).unwrap_or_default());
        self
    }

    /// Sets the detail from a descriptor that names no valid download: its
    /// command, else its path.
    pub fn with_descriptor_text(mut self, descriptor: &FlightDescriptor) -> Self {
        self.record.detail = if descriptor.cmd.is_empty() {
            truncate(&descriptor.path.join("."))
        } else {
            truncate(&String::from_utf8_lossy(&descriptor.cmd))
        };
        self
    }

    /// Sets the action (an RPC and what it does, as `DoAction:<type>`).
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.record.action = action.into();
        self
    }

    /// Sets the principal (known only once credentials are read).
    pub fn named(mut self, principal: &str) -> Self {
        self.record.principal = principal.to_string();
        self
    }

    /// Sets the dataset(s) concerned.
    pub fn with_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.record.dataset = dataset.into();
        self
    }

    /// Sets the detail (already free of secrets).
    pub fn with_detail(mut self, detail: &str) -> Self {
        self.record.detail = truncate(detail);
        self
    }

    /// Records the call as ended with `result`: through its reserved room,
    /// or by queueing (waiting while the queue is full).
    pub async fn end<T>(self, audit: &AuditLog, result: &Result<T, Status>) {
        let (outcome, message) = outcome_and_message(result);
        self.end_with(audit, outcome, message, 0, 0).await;
    }

    /// [`Self::end`] with explicit outcome and counts.
    pub async fn end_with(
        mut self,
        audit: &AuditLog,
        outcome: String,
        message: String,
        rows: u64,
        bytes: u64,
    ) {
        let permit = self.permit.take();
        self.audit = None;
        let finished = self.complete(outcome, message, rows, bytes);
        match permit {
            Some(permit) => permit.send(finished),
            None => audit.record(finished).await,
        }
    }

    /// Records the call as ended without waiting: through its reserved
    /// room, else queued as soon as there is room (a call neither begun
    /// nor reserved is not recorded).
    pub fn end_now(mut self, outcome: String, message: String, rows: u64, bytes: u64) {
        self.send_now(outcome, message, rows, bytes);
    }

    fn send_now(&mut self, outcome: String, message: String, rows: u64, bytes: u64) {
        let permit = self.permit.take();
        let audit = self.audit.take();
        if permit.is_none() && audit.is_none() {
            self.done = true;
            return;
        }
        let finished = self.complete(outcome, message, rows, bytes);
        match (permit, audit) {
            (Some(permit), _) => permit.send(finished),
            (None, Some(audit)) => audit.send_now(finished),
            (None, None) => {}
        }
    }

    /// Records a call refused before its work started (through its
    /// reserved room, without waiting) and returns the refusal.
    pub fn refuse(self, error: Error) -> Error {
        let status = Status::from(error);
        self.end_now(outcome_of(&status), status.message().to_string(), 0, 0);
        Error::Status(status)
    }

    /// The finished record with explicit outcome and counts.
    fn complete(&mut self, outcome: String, message: String, rows: u64, bytes: u64) -> Finished {
        self.done = true;
        let mut record = std::mem::take(&mut self.record);
        record.outcome = outcome;
        record.message = message;
        record.rows = i64::try_from(rows).unwrap_or(i64::MAX);
        record.bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        record.duration_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if record.dataset.is_empty()
            && let Some(read) = self.notes.datasets.get()
        {
            record.dataset = read.clone();
        }
        if let Some(detail) = self.notes.detail.get() {
            record.detail = truncate(detail);
        }
        Finished {
            record,
            entry: self.entry,
        }
    }
}

impl Drop for AuditedCall {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if std::thread::panicking() {
            self.send_now(
                "internal".into(),
                "the call failed unexpectedly; see the server log".into(),
                0,
                0,
            );
        } else {
            self.send_now(
                "cancelled".into(),
                "the client went away before the call finished".into(),
                0,
                0,
            );
        }
    }
}

fn outcome_and_message<T>(result: &Result<T, Status>) -> (String, String) {
    match result {
        Ok(_) => ("ok".to_string(), String::new()),
        Err(status) => (outcome_of(status), truncate(status.message())),
    }
}

/// The audit outcome of a failed call: its gRPC code, snake case.
pub(crate) fn outcome_of(status: &Status) -> String {
    format!("{:?}", status.code())
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let lower = c.to_ascii_lowercase();
            if c.is_ascii_uppercase() && i > 0 {
                vec!['_', lower]
            } else {
                vec![lower]
            }
        })
        .collect()
}

/// `text` within [`MAX_DETAIL_CHARS`]: its head and its tail, with the
/// length and SHA-256 of the whole, so neither end can be hidden by padding
/// the other.
fn truncate(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= MAX_DETAIL_CHARS {
        return text.to_string();
    }
    let half = MAX_DETAIL_CHARS / 2 - 64;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(chars - half).collect();
    let digest: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{head} … {tail} [{chars} characters, sha256 {digest}…]")
}

/// SQL (a statement or a filter) as the audit records it: its tokens
/// without comments, separated by single spaces — padding and comments
/// cannot push what it asks out of the record.
pub(crate) fn canonical_sql(sql: &str) -> String {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    match Tokenizer::new(&GenericDialect {}, sql).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_cannot_hide_what_was_asked() {
        let padded = format!(
            "/* {} */ SELECT salary FROM hr.pay WHERE name = 'Alice'",
            " ".repeat(9_000)
        );
        let canonical = canonical_sql(&padded);
        assert!(
            canonical.ends_with("SELECT salary FROM hr . pay WHERE name = 'Alice'"),
            "{canonical}"
        );
        let long = format!("{}SELECT secret{}", "x".repeat(10_000), "y".repeat(10_000));
        let kept = truncate(&long);
        assert!(
            kept.chars().count() <= MAX_DETAIL_CHARS + 80,
            "{}",
            kept.len()
        );
        assert!(kept.contains("20013 characters, sha256"), "{kept}");
    }

    #[tokio::test]
    async fn a_call_dropped_midway_is_audited_as_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let catalog = laker_catalog::Catalog::connect(&url).await.unwrap();
        let journal = dir.path().join("journal");
        let (audit, writer) =
            AuditLog::start(catalog.clone(), 8, None, Some(journal.as_path())).unwrap();
        let request = Request::new(());
        let call = AuditedCall::start(&request, "eve", "GetFlightInfo")
            .with_dataset("hr.pay")
            .begin(&audit);
        let notes = call.notes();
        // The client went away: the handler's future, and the call, dropped.
        drop(call);
        drop(notes);
        // A call never begun holds no room and leaves no record.
        drop(AuditedCall::start(&request, "eve", "ListActions"));
        // One that ends normally is recorded once.
        AuditedCall::start(&request, "eve", "GetSchema")
            .begin(&audit)
            .end::<()>(&audit, &Ok(()))
            .await;
        audit.flush().await;
        let records: Vec<_> = catalog
            .audit_page(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, r)| (r.action, r.outcome, r.dataset))
            .collect();
        assert_eq!(
            records,
            [
                ("GetFlightInfo".into(), "cancelled".into(), "hr.pay".into()),
                ("GetSchema".into(), "ok".into(), String::new()),
            ]
        );
        // Both are in the catalog: nothing is left for a restart to recover.
        drop(audit);
        writer.await.unwrap();
        let (_journal, recovered) = crate::audit::journal::Journal::open(&journal).unwrap();
        assert!(recovered.is_empty(), "{recovered:?}");
    }

    #[test]
    fn outcomes_are_snake_case() {
        assert_eq!(
            outcome_of(&Status::permission_denied("x")),
            "permission_denied"
        );
        assert_eq!(outcome_of(&Status::not_found("x")), "not_found");
        assert_eq!(outcome_of(&Status::internal("x")), "internal");
    }
}
