//! The HTTP port (`--http-listen`): the web console at `/`, the HTTP API
//! at `/api/v1`, liveness at `/healthz`, readiness at `/readyz` and
//! Prometheus metrics at `/metrics` — over TLS when the server has a
//! certificate. (gRPC health, `grpc.health.v1`, is served on the Flight
//! port.)

pub mod api;
mod connections;
mod console;
pub(crate) mod rpc_layer;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use tokio::net::TcpListener;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::state::AppState;

/// Longest a readiness probe waits for the catalog.
const CATALOG_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the server takes new work; shared by `/readyz` and gRPC health.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    health: HealthReporter,
}

impl Lifecycle {
    /// A serving lifecycle reporting through `health`.
    pub fn new(health: HealthReporter) -> Self {
        Self {
            draining: Arc::default(),
            health,
        }
    }

    /// Marks the server as shutting down: not ready, gRPC health NOT_SERVING.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        for service in ["", crate::service::FLIGHT_SERVICE] {
            self.health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
    }

    /// Whether [`Lifecycle::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// Serves the HTTP port on `listener` until `shutdown` resolves: HTTPS
/// when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    api: api::Api,
    tls: Option<Arc<rustls::ServerConfig>>,
    lifecycle: Lifecycle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state((Arc::clone(&api.state), lifecycle));
    let proxies = Arc::clone(&api.proxies);
    let app = probes.merge(api::router(api)).merge(console::router());
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    connections::serve(listener, tls, app, proxies, shutdown).await
}

type Shared = State<(Arc<AppState>, Lifecycle)>;

/// Liveness: the process runs and its runtime answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: not draining, and the catalog answers within two seconds.
async fn readyz(State((state, lifecycle)): Shared) -> (StatusCode, &'static str) {
    if lifecycle.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match tokio::time::timeout(CATALOG_PROBE_TIMEOUT, state.catalog.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: catalog unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "catalog unreachable\n")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "catalog unreachable\n"),
    }
}

/// Prometheus metrics (OpenMetrics text).
async fn metrics(State((state, _)): Shared) -> ([(header::HeaderName, &'static str); 1], String) {
    let text = state.metrics.render(
        state.audit.queued(),
        state.engine.tables().cache_counts(),
        state.admission.memory().reserved(),
        state.uploads.notifier.counts(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
