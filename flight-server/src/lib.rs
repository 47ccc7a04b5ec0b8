//! The Laker Arrow Flight server: configuration, the Flight service (one
//! module per RPC family), tickets, streaming, demo data, and the single
//! mapping from errors to gRPC statuses.

pub mod audit;
pub mod bootstrap;
pub mod config;
pub mod curate;
pub(crate) mod cut;
pub mod demo;
pub mod error;
pub mod http;
pub mod idp_config;
pub mod locations;
pub mod metrics;
pub mod notify;
pub mod replicas;
pub mod seed;
pub mod server;
pub mod service;
pub mod sql;
pub mod state;
pub mod stores;
pub mod stream;
pub mod telemetry;
pub mod ticket;
pub mod tls;
pub mod upload;
pub(crate) mod wire;

pub use config::{Cli, LogFormat, ServerConfig};
pub use server::{RunningServer, ServerOptions, StartError, start};
