//! Limits on one upload (flags `--upload-*`).

use crate::inbound;

/// Limits on one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Most bytes of Arrow data.
    pub max_bytes: u64,
    /// Most rows.
    pub max_rows: u64,
    /// Size at which a data file is closed and the next begun.
    pub target_file_bytes: u64,
    /// Bounds on decoding each message of the upload.
    pub decode: inbound::Limits,
    /// Longest wait for the client's next message (`--upload-idle-secs`).
    pub idle: std::time::Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 30,
            max_rows: 2_000_000_000,
            target_file_bytes: 128 << 20,
            decode: inbound::Limits::default(),
            idle: std::time::Duration::from_secs(300),
        }
    }
}
