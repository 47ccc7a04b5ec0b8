//! The HTTP API (`/api/v1`, JSON): what the web console and scripts use,
//! with the same authentication, grants, limits and audit as Flight
//! (docs/http-api.md). Each endpoint is declared once, in
//! [`routes::endpoints`]: the router and the OpenAPI document are both
//! built from that table.

mod access_requests;
mod admin;
mod audited;
mod caller;
mod compression;
mod context;
mod copy_layout;
mod datasets;
mod download;
mod encode;
mod endpoint;
mod format;
mod openapi;
mod outlet;
mod params;
mod parquet;
mod parquet_copy;
mod path;
mod problem;
mod routes;
mod session;
mod sink;
mod usage;

pub use context::Api;
pub use problem::Problem;
pub use routes::router;
