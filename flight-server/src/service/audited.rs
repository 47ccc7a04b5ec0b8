//! Audit records of calls: what was asked, by whom, from where, and how it
//! ended. Built as a call starts and finished with its outcome.

use std::time::Instant;

use arrow_flight::FlightDescriptor;
use laker_catalog::audit::AuditRecord;
use tonic::{Request, Status};

use crate::audit::now_ms;
use crate::service::descriptor::descriptor_spec;

/// Longest detail (spec, SQL, action body) kept in a record.
const MAX_DETAIL_CHARS: usize = 4096;

/// A call being audited.
#[derive(Debug)]
pub(crate) struct AuditedCall {
    record: AuditRecord,
    started: Instant,
}

impl AuditedCall {
    /// Starts the record of `action` by `principal`, from the request's peer.
    pub fn start<T>(request: &Request<T>, principal: &str, action: impl Into<String>) -> Self {
        Self {
            record: AuditRecord {
                time: now_ms(),
                principal: principal.to_string(),
                source: request
                    .remote_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default(),
                action: action.into(),
                ..AuditRecord::default()
            },
            started: Instant::now(),
        }
    }

    /// Sets the dataset and detail from a download descriptor.
    pub fn with_descriptor(mut self, descriptor: &FlightDescriptor) -> Self {
        if let Ok(spec) = descriptor_spec(descriptor) {
            self.record.dataset = spec.dataset.clone();
            self.record.detail = truncate(&serde_json::to_string(&spec).unwrap_or_default());
        } else if !descriptor.cmd.is_empty() {
            self.record.detail = truncate(&String::from_utf8_lossy(&descriptor.cmd));
        } else {
            self.record.detail = truncate(&descriptor.path.join("."));
        }
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

    /// The finished record for a call that ended with `result`.
    pub fn finish<T>(self, result: &Result<T, Status>) -> AuditRecord {
        let (outcome, message) = match result {
            Ok(_) => ("ok".to_string(), String::new()),
            Err(status) => (outcome_of(status), truncate(status.message())),
        };
        self.finish_with(outcome, message, 0, 0)
    }

    /// The finished record with explicit outcome and counts.
    pub fn finish_with(
        mut self,
        outcome: String,
        message: String,
        rows: u64,
        bytes: u64,
    ) -> AuditRecord {
        self.record.outcome = outcome;
        self.record.message = message;
        self.record.rows = i64::try_from(rows).unwrap_or(i64::MAX);
        self.record.bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.record.duration_ms =
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.record
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

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_DETAIL_CHARS {
        text.to_string()
    } else {
        format!(
            "{}…",
            text.chars().take(MAX_DETAIL_CHARS).collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
