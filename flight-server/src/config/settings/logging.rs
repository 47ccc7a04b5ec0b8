//! Logs and traces: the log format and filter, and the OpenTelemetry
//! collector spans are exported to.

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;
use crate::telemetry::LogFormat;

/// Logging and tracing settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Logging {
    /// OpenTelemetry collector to export traces to over OTLP/gRPC, e.g.
    /// `http://otel-collector:4317` [default: none, not exported].
    #[arg(long, env = "LAKER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "LAKER_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `laker=debug,info` [default: info].
    #[arg(long, env = "LAKER_LOG")]
    pub log: Option<String>,
}

impl Logging {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        c.otlp_endpoint = self.otlp_endpoint;
        set(&mut c.log_format, self.log_format);
        set(&mut c.log, self.log);
    }
}
