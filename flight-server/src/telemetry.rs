//! Logging (text or JSON lines on stderr, filtered by `--log`) and, with
//! `--otlp-endpoint`, export of the same spans to an OpenTelemetry
//! collector over OTLP/gRPC.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The installed telemetry; [`Telemetry::shutdown`] sends the spans still
/// buffered.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            eprintln!("laker-server: exporting the last traces failed: {e}");
        }
    }
}

/// Installs the global subscriber. Returns an error for a bad filter or
/// endpoint. With an OTLP endpoint it must run inside the Tokio runtime.
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid --log filter: {e}"))?;
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let traces = otlp_endpoint.map(tracer_provider).transpose()?;
    let spans = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("laker-server"))
            .boxed()
    });
    Registry::default()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(Telemetry { traces })
}

fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("invalid --otlp-endpoint {endpoint}: {e}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("laker-server")
                .build(),
        )
        .build())
}
