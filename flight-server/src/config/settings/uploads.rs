//! Limits and placement of uploads (DoPut): message and upload sizes, data
//! files, idle clients, leftover files, and the store new datasets go to;
//! and whether this server runs scheduled ingest jobs (which import files
//! within the same limits).

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::merge::{mib, set};
use crate::config::server_config::ServerConfig;

/// Upload settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Uploads {
    /// Most bytes one uploaded message may decode to (compressed buffers at
    /// their declared size), in MiB [default: 256].
    #[arg(long, env = "LAKER_UPLOAD_MAX_BATCH_MB")]
    pub upload_max_batch_mb: Option<usize>,
    /// Most bytes of Arrow data one upload may send [default: 17179869184].
    #[arg(long, env = "LAKER_UPLOAD_MAX_BYTES")]
    pub upload_max_bytes: Option<u64>,
    /// Most rows one upload may send [default: 2000000000].
    #[arg(long, env = "LAKER_UPLOAD_MAX_ROWS")]
    pub upload_max_rows: Option<u64>,
    /// Size in MiB at which an upload's data file is closed and the next begun [default: 128].
    #[arg(long, env = "LAKER_UPLOAD_TARGET_FILE_MB")]
    pub upload_target_file_mb: Option<u64>,
    /// Seconds an upload may wait for its client's next message before it is refused [default: 300].
    #[arg(long, env = "LAKER_UPLOAD_IDLE_SECS")]
    pub upload_idle_secs: Option<u64>,
    /// Age after which a data file no Delta commit references (left by an upload that never committed) is deleted at start-up [default: 3600].
    #[arg(long, env = "LAKER_UPLOAD_ORPHAN_GRACE_SECS")]
    pub upload_orphan_grace_secs: Option<u64>,
    /// Configured store (a `[stores.<name>]`) under whose prefix uploads
    /// create new datasets, as `<namespace>/<dataset>/`; replicas must use
    /// a shared store [default: the data directory's lake/].
    #[arg(long, env = "LAKER_UPLOAD_STORE")]
    pub upload_store: Option<String>,
    /// Run ingest jobs on their schedules (the scheduler looks for due jobs
    /// every second; one replica runs each due run); `false` leaves them
    /// to other replicas and to run_ingest_job [default: true].
    #[arg(
        long,
        env = "LAKER_INGEST_JOBS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub ingest_jobs: Option<bool>,
}

impl Uploads {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        let limits = &mut c.upload_limits;
        if let Some(bytes) = self.upload_max_batch_mb.map(mib) {
            limits.decode.max_message_bytes = bytes;
            // A stream's dictionaries take no more than one of its messages.
            let dictionaries = &mut limits.decode.max_dictionary_bytes;
            *dictionaries = (*dictionaries).min(bytes);
        }
        set(&mut limits.max_bytes, self.upload_max_bytes);
        set(&mut limits.max_rows, self.upload_max_rows);
        let file_bytes = |mb: u64| mb.max(1) << 20;
        set(
            &mut limits.target_file_bytes,
            self.upload_target_file_mb.map(file_bytes),
        );
        let secs = Duration::from_secs;
        set(&mut limits.idle, self.upload_idle_secs.map(secs));
        set(
            &mut c.upload_orphan_grace,
            self.upload_orphan_grace_secs.map(secs),
        );
        c.upload_store = self.upload_store;
        set(&mut c.ingest_jobs, self.ingest_jobs);
    }
}
