//! Laker ingest: uploads into Delta tables (checked decoding, schema fitting,
//! rules), ingest jobs (scheduled imports of dropped files), curated
//! transforms, retention, Delta checkpoints, commit notifications, locations.
//! It must not know the transport (tonic, gRPC statuses, Flight services) nor
//! the server hosting it, which builds its contexts (UploadCtx, Curator).

pub mod audit;
pub mod checkpoint;
pub mod curate;
pub mod delta;
pub mod error;
pub mod inbound;
pub mod jobs;
pub mod locations;
pub mod notify;
pub mod upload;

pub use audit::Audit;
pub use curate::curator::{CurateCtx, Curator};
pub use error::{IngestError, Result};
pub use jobs::{IngestJobs, JobOptions};
pub use upload::ctx::UploadCtx;
