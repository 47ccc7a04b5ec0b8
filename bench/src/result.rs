//! The benchmark's error type.

/// Errors of the benchmark (it is a tool: any failure ends the run).
pub type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;
