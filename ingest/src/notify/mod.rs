//! Commit notifications: after each commit (uploads, transforms, replays)
//! the server records an event (id, dataset, version, rows, principal,
//! upload id) in the catalog's outbox, one row per configured sink — a
//! webhook (HTTP POST signed with HMAC-SHA256) and NATS JetStream — so
//! orchestrators can start the processing that should follow. A background
//! loop delivers the rows, retrying with backoff until each sink has its
//! event; a restart loses none. Delivery is at least once: an event may
//! come twice, always with the same `event_id`. The upload's answer waits
//! for the record, never for the delivery.

mod config;
mod counts;
mod delivery;
mod event;
mod nats;
mod notifier;
mod webhook;

pub use config::{Backoff, NotifyConfig};
pub use counts::NotifyCounts;
pub use delivery::Delivery;
pub use event::{CommitEvent, Sink};
pub use nats::NatsSink;
pub use notifier::Notifier;
pub use webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookSink, signature};
