//! Admission of streams: how many one principal may run at once, and the
//! server's memory budget each draws from. A stream refused fails with
//! [`QueryError::ResourceExhausted`] (or DataFusion's resources-exhausted
//! error, for memory) naming the limit; one admitted holds its slot and its
//! memory until it ends, however it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::execution::TaskContext;

use crate::batching::{LARGE_BATCH_HOLD, LargeBatch, LargeBatches};
use crate::engine::DownloadPlan;
use crate::error::{QueryError, Result};
use crate::memory::{STREAM_BASE_BYTES, ServerMemory, StreamMemory};

/// Memory an upload may use for its rules' state (the keys `unique` remembers).
pub const UPLOAD_RULE_BYTES: usize = 256 << 20;

/// Limits on streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Memory of all streams, queries and uploads together (`--memory-limit-mb`).
    pub memory_limit: usize,
    /// Memory one download stream may use (`--stream-memory-mb`).
    pub stream_memory: usize,
    /// Download and upload streams one principal may have open at once
    /// (`--max-streams-per-user`).
    pub streams_per_user: usize,
    /// Partitions a merged download (one stream over every partition) reads at once.
    pub parallel_reads: usize,
    /// Most rows of a large batch (`--large-batch-size`; 0: none).
    pub large_batch_rows: usize,
    /// Download streams that may read large batches at once
    /// (`--large-batch-streams`).
    pub large_batch_streams: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            memory_limit: default_memory_limit(),
            stream_memory: 256 << 20,
            streams_per_user: 64,
            parallel_reads: 2,
            large_batch_rows: 65_536,
            large_batch_streams: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Half the memory the process may use — the machine's, or its container's
/// (cgroup) limit when lower — or, in a small container, up to 512 MiB of
/// three quarters of it; 4 GiB when unknown.
pub fn default_memory_limit() -> usize {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map(|kb| kb.saturating_mul(1024));
    // cgroup v2: the process's own group (from /proc/self/cgroup), else
    // the root of the mount.
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_v2_path(&text))
        .and_then(|group| {
            std::fs::read_to_string(format!("/sys/fs/cgroup{group}/memory.max")).ok()
        });
    let container = cgroup_limit(
        own.or_else(|| std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()),
        std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok(),
    );
    let total = match (machine, container) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    };
    total.map_or(4 << 30, share_of)
}

/// What of `total` bytes the budget takes: half, or in a small container
/// up to 512 MiB of three quarters.
fn share_of(total: usize) -> usize {
    (total / 2).max((512 << 20).min(total / 4 * 3))
}

/// The cgroup v2 path of a `/proc/self/cgroup` text (its `0::` line).
fn cgroup_v2_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::trim)
        .filter(|p| p.starts_with('/') && !p.contains(".."))
        .map(|p| p.trim_end_matches('/').to_string())
}

/// The memory limit of the process's cgroup (v2 `memory.max`, else v1
/// `memory.limit_in_bytes`), if it has one.
fn cgroup_limit(v2: Option<String>, v1: Option<String>) -> Option<usize> {
    let parse = |text: Option<String>| {
        text.and_then(|t| t.trim().parse::<u64>().ok())
            // v1 reports "no limit" as a huge number.
            .filter(|n| *n < 1 << 60)
            .and_then(|n| usize::try_from(n).ok())
    };
    parse(v2).or_else(|| parse(v1))
}

/// Per-principal counts of running things, capped.
#[derive(Debug)]
pub struct PrincipalSlots {
    cap: usize,
    what: &'static str,
    flag: &'static str,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl PrincipalSlots {
    /// At most `cap` `what`s (e.g. "streams") per principal, set by `flag`.
    pub fn new(cap: usize, what: &'static str, flag: &'static str) -> Self {
        Self {
            cap,
            what,
            flag,
            running: Arc::default(),
        }
    }

    /// Takes one of `principal`'s slots, or refuses when all are in use.
    pub fn take(&self, principal: &str) -> Result<Slot> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| QueryError::Internal("slot counter poisoned".into()))?;
        let count = running.entry(principal.to_string()).or_default();
        if *count >= self.cap {
            return Err(QueryError::ResourceExhausted(format!(
                "too many concurrent {}: at most {} per user ({}); wait for one to finish",
                self.what, self.cap, self.flag
            )));
        }
        *count += 1;
        Ok(Slot {
            running: Arc::clone(&self.running),
            principal: principal.to_string(),
        })
    }

    /// How many slots `principal` holds (for tests and metrics).
    pub fn held(&self, principal: &str) -> usize {
        self.running
            .lock()
            .map(|r| r.get(principal).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// One running thing of a principal; frees its slot when dropped.
#[derive(Debug)]
pub struct Slot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    principal: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock()
            && let Some(count) = running.get_mut(&self.principal)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

/// Admits download and upload streams.
#[derive(Debug)]
pub struct Admission {
    memory: ServerMemory,
    streams: PrincipalSlots,
    limits: StreamLimits,
    large: LargeBatches,
}

/// What an admitted stream holds until it ends.
#[derive(Debug)]
pub struct Admitted {
    _slot: Slot,
    memory: StreamMemory,
    large: Option<LargeBatch>,
}

impl Admitted {
    /// The stream's memory (for its task context).
    pub fn memory(&self) -> &StreamMemory {
        &self.memory
    }

    /// Rows per batch when the stream reads large batches.
    pub fn large_batch_rows(&self) -> Option<usize> {
        self.large.as_ref().map(|l| l.rows)
    }

    /// `base` (the plan's task context) with the stream's memory pool and,
    /// if it holds large batches, their size.
    pub fn task_context(&self, base: &TaskContext) -> Result<std::sync::Arc<TaskContext>> {
        Ok(self
            .memory
            .task_context_with_batch(base, self.large_batch_rows())?)
    }
}

impl Admission {
    /// Admission within `limits`, drawing on `memory`.
    pub fn new(memory: ServerMemory, limits: StreamLimits) -> Self {
        Self {
            streams: PrincipalSlots::new(
                limits.streams_per_user,
                "download and upload streams",
                "--max-streams-per-user",
            ),
            memory,
            large: LargeBatches::new(limits.large_batch_rows, limits.large_batch_streams),
            limits,
        }
    }

    /// The server's memory.
    pub fn memory(&self) -> &ServerMemory {
        &self.memory
    }

    /// The limits.
    pub fn limits(&self) -> &StreamLimits {
        &self.limits
    }

    /// Admits a download stream of `principal`.
    pub fn download(&self, principal: &str) -> Result<Admitted> {
        self.download_sized(principal, None)
    }

    /// Admits a download stream of `principal` whose batches in flight are
    /// estimated at `in_flight` bytes (see `DownloadPlan::in_flight_hint`):
    /// a small download reserves that much, not the full base, so a crowd
    /// of small downloads fits the budget.
    pub fn download_sized(&self, principal: &str, in_flight: Option<usize>) -> Result<Admitted> {
        let slot = self.streams.take(principal)?;
        let memory = self
            .memory
            .admit_with_base(
                "a download stream",
                (self.limits.stream_memory, "--stream-memory-mb"),
                in_flight.unwrap_or(STREAM_BASE_BYTES),
            )
            .map_err(QueryError::DataFusion)?;
        Ok(Admitted {
            _slot: slot,
            memory,
            large: None,
        })
    }

    /// Admits a download stream of `plan` for `principal`, reserving what
    /// its statistics say it holds in flight ([`Self::download_sized`]);
    /// it reads large batches when a permit is free, the plan may
    /// ([`DownloadPlan::large_batch_rows`]) and the budget has room for them.
    pub fn download_planned(&self, principal: &str, plan: &DownloadPlan) -> Result<Admitted> {
        let mut admitted = self.download_sized(principal, plan.in_flight_hint())?;
        self.grant_large_batches(&mut admitted, plan);
        Ok(admitted)
    }

    /// Lets `admitted` read `plan` in large batches when a permit is free,
    /// the plan may ([`DownloadPlan::large_batch_rows`]) and the budget has
    /// room for them; otherwise it reads batches of `--batch-size` rows.
    pub fn grant_large_batches(&self, admitted: &mut Admitted, plan: &DownloadPlan) {
        if admitted.large.is_some() {
            return;
        }
        let memory = &admitted.memory;
        admitted.large = self
            .large
            .take(|max_rows| plan.large_batch_rows(max_rows))
            .filter(|_| memory.hold(LARGE_BATCH_HOLD).is_ok());
    }

    /// Large-batch permits free now (for tests and metrics).
    pub fn large_batches_free(&self) -> usize {
        self.large.available()
    }

    /// Admits an upload of `principal` that buffers up to `file_bytes` (a
    /// data file being written) and decodes messages of up to
    /// `message_bytes`, besides its batches in flight.
    pub fn upload(
        &self,
        principal: &str,
        file_bytes: usize,
        message_bytes: usize,
    ) -> Result<Admitted> {
        let slot = self.streams.take(principal)?;
        // The file buffer, the batches in flight, a decoded message (and
        // the stream's dictionaries), and what rules remember (unique keys).
        let limit = file_bytes
            .saturating_add(STREAM_BASE_BYTES)
            .saturating_add(message_bytes.saturating_mul(2))
            .saturating_add(UPLOAD_RULE_BYTES);
        let memory = self
            .memory
            .admit(
                "an upload",
                limit,
                "--upload-target-file-mb, --upload-max-batch-mb",
            )
            .map_err(QueryError::DataFusion)?;
        // The data file's buffer is not tracked by DataFusion: hold it now.
        memory.hold(file_bytes).map_err(QueryError::DataFusion)?;
        Ok(Admitted {
            _slot: slot,
            memory,
            large: None,
        })
    }

    /// Slots `principal` holds.
    pub fn streams_held(&self, principal: &str) -> usize {
        self.streams.held(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_limit_is_read_from_its_cgroup() {
        assert_eq!(
            cgroup_limit(Some("2147483648\n".into()), None),
            Some(2 << 30)
        );
        assert_eq!(cgroup_limit(Some("max\n".into()), None), None);
        assert_eq!(
            cgroup_v2_path("12:cpu:/x\n0::/kubepods/pod1/c2\n").as_deref(),
            Some("/kubepods/pod1/c2")
        );
        assert_eq!(cgroup_v2_path("0::/\n").as_deref(), Some(""));
        assert_eq!(share_of(8 << 30), 4 << 30);
        assert_eq!(share_of(600 << 20), 450 << 20);
        assert_eq!(share_of(2 << 30), 1 << 30);
        assert_eq!(
            cgroup_limit(None, Some("9223372036854771712\n".into())),
            None,
            "v1 without a limit"
        );
        assert_eq!(cgroup_limit(None, Some("1073741824".into())), Some(1 << 30));
        assert!(default_memory_limit() >= 512 << 20);
    }
}
