//! What one request may take: SQL queries' time, memory and number, the
//! server's memory budget and streams per user, and the size of clients'
//! expressions and of what they produce.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::merge::{mib, set};
use crate::config::server_config::ServerConfig;

/// Resource limits.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Longest a SQL query may plan and run, in seconds; 0 for no limit [default: 300].
    #[arg(long, env = "LAKER_SQL_TIMEOUT_SECS")]
    pub sql_timeout_secs: Option<u64>,
    /// Memory one SQL query may use before it spills or fails, in MiB [default: 1024].
    #[arg(long, env = "LAKER_SQL_QUERY_MEMORY_MB")]
    pub sql_query_memory_mb: Option<usize>,
    /// SQL queries one user may run at once [default: 8].
    #[arg(long, env = "LAKER_SQL_MAX_CONCURRENT")]
    pub sql_max_concurrent: Option<usize>,
    /// Memory all downloads, uploads and queries may hold together, in MiB;
    /// beyond it new ones are refused and reads wait [default: half the machine's memory].
    #[arg(long, env = "LAKER_MEMORY_LIMIT_MB")]
    pub memory_limit_mb: Option<usize>,
    /// Memory one download stream may use (sorts spill beyond it), in MiB [default: 256].
    #[arg(long, env = "LAKER_STREAM_MEMORY_MB")]
    pub stream_memory_mb: Option<usize>,
    /// Download and upload streams one user may have open at once [default: 64].
    #[arg(long, env = "LAKER_MAX_STREAMS_PER_USER")]
    pub max_streams_per_user: Option<usize>,
    /// Deepest nesting of operators, calls, subqueries, joins and set
    /// operations in a filter, policy or SQL statement [default: 256].
    #[arg(long, env = "LAKER_MAX_EXPR_DEPTH")]
    pub max_expr_depth: Option<usize>,
    /// Most syntax nodes in a filter, policy or SQL statement [default: 50000].
    #[arg(long, env = "LAKER_MAX_EXPR_NODES")]
    pub max_expr_nodes: Option<usize>,
    /// Most one call of an amplifying function (repeat, lpad, range, …) may
    /// produce for a batch, in MiB [default: 64].
    #[arg(long, env = "LAKER_MAX_FUNCTION_OUTPUT_MB")]
    pub max_function_output_mb: Option<u64>,
    /// Largest batch a projection may produce, in MiB [default: 256].
    #[arg(long, env = "LAKER_MAX_BATCH_MB")]
    pub max_batch_mb: Option<u64>,
}

impl Limits {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        let sql = &mut c.sql_limits;
        let timeout = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        set(&mut sql.timeout, self.sql_timeout_secs.map(timeout));
        set(&mut sql.memory_per_query, self.sql_query_memory_mb.map(mib));
        set(&mut sql.concurrent_per_principal, self.sql_max_concurrent);
        let streams = &mut c.stream_limits;
        set(&mut streams.memory_limit, self.memory_limit_mb.map(mib));
        set(&mut streams.stream_memory, self.stream_memory_mb.map(mib));
        set(&mut streams.streams_per_user, self.max_streams_per_user);
        set(&mut c.expr_limits.max_depth, self.max_expr_depth);
        set(&mut c.expr_limits.max_nodes, self.max_expr_nodes);
        let functions = &mut c.function_limits;
        let mib64 = |mb: u64| mb.saturating_mul(1 << 20);
        set(
            &mut functions.max_call_bytes,
            self.max_function_output_mb.map(mib64),
        );
        set(&mut functions.max_batch_bytes, self.max_batch_mb.map(mib64));
    }
}
