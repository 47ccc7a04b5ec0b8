//! What a commit announces, and what a destination of announcements is.

use serde::{Deserialize, Serialize};

/// What a commit announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitEvent {
    /// The event's id, a UUID: the same on every delivery of this event,
    /// so receivers can drop repeats.
    pub event_id: String,
    /// `namespace.dataset`.
    pub dataset: String,
    /// The Delta version committed.
    pub version: u64,
    /// Rows the upload added (or wrote, for a replace).
    pub rows: u64,
    /// Who uploaded.
    pub principal: String,
    /// The client's upload id, if any.
    pub upload_id: Option<String>,
    /// `create`, `append`, `replace`, …
    pub mode: String,
    /// When the commit was made (RFC 3339).
    pub committed_at: String,
}

impl CommitEvent {
    /// A fresh event id (a random UUID).
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// A destination for commit events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Names the sink in logs and in the catalog's outbox.
    fn name(&self) -> &str;
    /// Delivers one event once, `body` being its JSON as recorded; errors
    /// are retried by the caller.
    async fn deliver(&self, event: &CommitEvent, body: &[u8]) -> Result<(), String>;
}
