//! The Laker Arrow Flight server: the transport (Flight, Flight SQL, the HTTP
//! API, console and probes), settings, signed tickets and handles, the audit, demo data, and
//! the one mapping from errors to gRPC statuses. It plans, reads and ingests
//! nothing itself: that is laker-query's and laker-ingest's, which must not
//! know it.

pub(crate) mod actions;
pub mod audit;
pub mod bootstrap;
pub mod cache;
pub mod config;
pub(crate) mod cut;
pub mod demo;
pub(crate) mod discover;
pub(crate) mod do_get_route;
pub mod download;
pub mod error;
pub mod http;
pub mod metrics;
pub mod proxies;
pub mod replicas;
pub mod retention;
pub(crate) mod rpc_names;
pub mod seed;
pub mod server;
pub mod service;
pub mod signed;
pub mod sql;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod ticket;
pub mod tls;
pub mod upload;
pub(crate) mod wire;

pub use config::{Cli, ServerConfig};
pub use telemetry::LogFormat;

/// Stack of the server's worker threads: planning recurses over a
/// request's expressions, whose depth `--max-expr-depth` bounds; this is
/// many times what the deepest accepted expression needs.
pub const WORKER_STACK_BYTES: usize = 16 << 20;
pub use server::{RunningServer, ServerOptions, StartError, start};
