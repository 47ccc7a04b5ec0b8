//! Assembling and running the server: catalog, engine, auth, the Flight
//! service behind the auth layer, on a bound TCP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use futures::TryStreamExt;
use laker_auth::external::ExternalIdp;
use laker_auth::ldap::Directory;
use laker_auth::secret::{load_or_create_secret, read_secret};
use laker_auth::{AuthLayer, Authenticator, Authorizer, TokenService};
use laker_catalog::{Backend, Catalog};
use laker_ingest::locations::LocationPolicy;
use laker_ingest::notify::{Delivery, Notifier};
use laker_ingest::{CurateCtx, Curator, IngestJobs, JobOptions, UploadCtx};
use laker_query::TableResolver;
use laker_query::admission::Admission;
use laker_query::memory::ServerMemory;
use laker_query::sql::limits::QueryLimiter;
use laker_query::{EngineConfig, QueryEngine};
use object_store::ObjectStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::audit::AuditLog;
use crate::cache::ResultCache;
use crate::config::ServerConfig;
use crate::cut::Cuttable;
use crate::demo;
use crate::do_get_route::DoGetRoute;
use crate::http::Lifecycle;
use crate::http::rpc_layer::RpcMetricsLayer;
use crate::metrics::Metrics;
use crate::proxies::{ClientAddrLayer, TrustedProxies};
use crate::service::{FLIGHT_SERVICE, HANDSHAKE_PATH, HEALTH_PATHS, LakerFlightService};
use crate::signed::Signer;
use crate::state::AppState;

/// Largest outbound gRPC message: batches are split near
/// [`crate::stream::MAX_FLIGHT_DATA_BYTES`],
/// but one huge value cannot be split and must still go out.
const MAX_ENCODING_BYTES: usize = 64 << 20;

/// Calls one client connection may have open at once (HTTP/2 streams).
const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// How long a keep-alive ping may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the HTTP port may take to close at shutdown.
const HTTP_SHUTDOWN: Duration = Duration::from_secs(5);

/// Largest inbound gRPC message.
const MAX_DECODING_BYTES: usize = 16 << 20;

/// Name of the implicit store for the data directory's `lake/` folder.
pub const DATA_DIR_STORE: &str = "data-dir";

/// Extra wiring for embedders and tests.
#[derive(Default)]
pub struct ServerOptions {
    /// Object stores to register for URL prefixes (e.g. a wrapping store for `file://`).
    pub object_stores: Vec<(url::Url, Arc<dyn ObjectStore>)>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.object_stores.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("ServerOptions")
            .field("object_stores", &urls)
            .finish()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

fn start_err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// A started server. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    state: Arc<AppState>,
    lifecycle: Lifecycle,
    grace: Duration,
    stop: CancellationToken,
    stop_http: CancellationToken,
    cut: CancellationToken,
    heartbeat: Option<JoinHandle<()>>,
    notifications: Option<Delivery>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    http_task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on (with the real port when bound to :0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the HTTP health and metrics port, if it is served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Shared state (catalog, metrics) for embedders and tests.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Live counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// Reports not ready (readiness and gRPC health), stops accepting
    /// calls, lets running ones finish within the grace period, stops
    /// waiting for those still running after it, stops delivering
    /// notifications (those not delivered wait in the catalog for the next
    /// start), then writes every queued audit record.
    pub async fn shutdown(mut self) {
        self.lifecycle.drain().await;
        self.stop.cancel();
        if let Some(heartbeat) = self.heartbeat.take() {
            // Gone from the catalog first, so no new endpoint points here.
            let _ = heartbeat.await;
        }
        if let Some(mut task) = self.task.take() {
            let ended = match tokio::time::timeout(self.grace, &mut task).await {
                Ok(ended) => ended,
                Err(_) => {
                    tracing::warn!(
                        grace_secs = self.grace.as_secs(),
                        "calls still running after the grace period are cut"
                    );
                    self.cut.cancel();
                    task.await
                }
            };
            match ended {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "server ended with an error"),
                Err(e) => tracing::error!(error = %e, "server task failed"),
            }
        }
        self.stop_http.cancel();
        if let Some(task) = self.http_task.take() {
            let cut = task.abort_handle();
            if tokio::time::timeout(HTTP_SHUTDOWN, task).await.is_err() {
                cut.abort();
            }
        }
        if let Some(notifications) = self.notifications.take() {
            notifications.stop().await;
        }
        self.state.audit.flush().await;
    }

    /// Waits until the server stops on its own (it does not, unless it fails).
    pub async fn wait(&mut self) -> Result<(), StartError> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let ended = task.await;
        self.task = None;
        ended
            .map_err(start_err("server task failed"))?
            .map_err(start_err("server failed"))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.stop_http.cancel();
        if let Some(notifications) = &self.notifications {
            notifications.cancel();
        }
    }
}

/// Starts a server: opens the catalog, prepares keys and the engine,
/// installs demo data if asked, binds the listener and serves in the
/// background. Returns once the listener is bound (ready for connections).
pub async fn start(
    config: &ServerConfig,
    options: ServerOptions,
) -> Result<RunningServer, StartError> {
    config
        .validate()
        .map_err(start_err("invalid configuration"))?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(start_err("cannot create the data directory"))?;
    let data_dir = config
        .data_dir
        .canonicalize()
        .map_err(start_err("cannot resolve the data directory"))?;
    let catalog = Catalog::connect(&config.catalog_url)
        .await
        .map_err(start_err("cannot open the catalog"))?;
    let secret = load_or_create_secret(&config.secret_file).map_err(start_err("signing secret"))?;
    let previous = config
        .previous_secret_files
        .iter()
        .map(|path| read_secret(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(start_err("previous signing secret"))?;

    // One budget for everything downloads, uploads and queries hold.
    let memory = ServerMemory::new(config.stream_limits.memory_limit);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::clone(memory.pool()))
        .build_arc()
        .map_err(start_err("cannot build the query runtime"))?;
    // Lake reads are charged to the budget: the local disk by default…
    let local: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
    if let Ok(file) = url::Url::parse("file://") {
        runtime.register_object_store(&file, memory.accounted(local));
    }
    let mut locations = LocationPolicy::new();
    let lake_dir = data_dir.join("lake");
    if let Ok(lake) = url::Url::from_directory_path(&lake_dir) {
        locations.allow(DATA_DIR_STORE, lake);
    }
    for (name, store) in &config.stores {
        let (url, built) = store
            .build(name)
            .map_err(start_err("invalid object store"))?;
        let prefix = store
            .prefix(name)
            .map_err(start_err("invalid object store"))?;
        tracing::info!(store = %name, url = %url, prefix = %prefix, "object store configured");
        runtime.register_object_store(&url, memory.accounted(built));
        locations.allow(name, prefix);
    }
    for (url, store) in options.object_stores {
        runtime.register_object_store(&url, memory.accounted(store));
    }
    let upload_store = config
        .upload_store
        .clone()
        .unwrap_or_else(|| DATA_DIR_STORE.to_string());
    if locations.prefix(&upload_store).is_none() {
        return Err(StartError(format!(
            "--upload-store '{upload_store}' is not a configured store"
        )));
    }
    let engine = Arc::new(QueryEngine::with_tables(
        &EngineConfig {
            max_partitions: config.max_partitions,
            batch_size: config.batch_size,
            mask_hash_key: Signer::mask_key(&secret),
            parquet_options: config.parquet_options.clone(),
            expr_limits: config.expr_limits,
            function_limits: config.function_limits,
            plain_strings: config.parquet_plain_strings,
        },
        runtime,
        TableResolver::with_system_tables(catalog.clone()),
    ));
    if config.demo {
        demo::install(&catalog, &lake_dir, config.demo_rows)
            .await
            .map_err(start_err("cannot install the demo data"))?;
    }

    let tokens = Arc::new(
        TokenService::new(&secret, config.token_ttl)
            .with_previous_secrets(previous.iter().map(Vec::as_slice)),
    );
    let sinks = config.notify.sinks().map_err(start_err("notifications"))?;
    let (notifier, notifications) = Notifier::start(catalog.clone(), sinks, config.notify_backoff);
    let (audit, _writer) = AuditLog::start(
        catalog.clone(),
        config.audit_queue,
        config.audit_retention,
        Some(&data_dir.join("audit-journal")),
    )
    .map_err(start_err("cannot open the audit journal"))?;
    let mut authenticator = Authenticator::new(catalog.clone(), Arc::clone(&tokens))
        .with_login_limits(config.login_limits);
    // Replicas share a PostgreSQL catalog: they count failed logins there
    // together (a SQLite catalog serves one process).
    if catalog.backend() == Backend::Postgres {
        authenticator = authenticator.with_shared_login_limits(catalog.clone());
        tracing::info!("failed logins are counted in the catalog, for every replica");
    }
    if let Some(ldap) = &config.ldap {
        let directory = Directory::new(ldap.clone()).map_err(start_err("LDAP directory"))?;
        tracing::info!(url = %directory.url(), "directory sign-in (LDAP) configured");
        authenticator = authenticator.with_directory(Arc::new(directory));
    }
    let authorizer = Authorizer::new(catalog.clone());
    let admission = Arc::new(Admission::new(memory.clone(), config.stream_limits));
    let curator = Arc::new(Curator::new(CurateCtx {
        catalog: catalog.clone(),
        engine: Arc::clone(&engine),
        authenticator: authenticator.clone(),
        authorizer: authorizer.clone(),
        sql_limits: config.sql_limits,
        memory: memory.clone(),
        target_file_bytes: config.upload_limits.target_file_bytes,
        notifier: notifier.clone(),
        audit: Arc::new(audit.clone()),
        retention_delete_after: config.retention_delete_after,
    }));
    let uploads = Arc::new(UploadCtx {
        catalog: catalog.clone(),
        engine: Arc::clone(&engine),
        authorizer: authorizer.clone(),
        admission: Arc::clone(&admission),
        limits: config.upload_limits,
        locations: locations.clone(),
        store: upload_store,
        notifier,
        curator: Arc::clone(&curator),
    });
    let ingest_jobs = Arc::new(IngestJobs::new(
        Arc::clone(&uploads),
        Arc::new(audit.clone()),
        JobOptions {
            crash_after_commit: config.ingest_crash_after_commit,
            ..JobOptions::default()
        },
    ));
    let metrics: Arc<Metrics> = Arc::default();
    let results = Arc::new(ResultCache::new(
        config.result_cache_bytes,
        metrics.result_cache().clone(),
    ));
    let state = Arc::new(AppState {
        audit,
        authenticator,
        authorizer,
        catalog,
        engine,
        tickets: Signer::new(&secret).with_previous_secrets(previous.iter().map(Vec::as_slice)),
        ticket_ttl: config.ticket_ttl,
        metrics,
        results,
        locations,
        sql_limits: QueryLimiter::new(config.sql_limits, memory),
        admission,
        cancellations: Arc::default(),
        fan_out: config.advertise_url.is_some(),
        curator,
        uploads,
        ingest_jobs,
    });
    // Before serving, so no upload of this process can be mistaken for an orphan.
    match laker_ingest::upload::orphans::clean(&state.uploads, config.upload_orphan_grace).await {
        Ok(c) => tracing::info!(
            datasets = c.datasets,
            files = c.files,
            "orphan upload files cleaned"
        ),
        Err(e) => tracing::warn!(error = %e, "orphan upload cleanup failed"),
    }
    // Landing versions committed while no server was running are transformed now.
    laker_ingest::curate::catch_up_all(&state.curator);

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(start_err("cannot listen"))?;
    let addr = listener.local_addr().map_err(start_err("cannot listen"))?;
    let flight = LakerFlightService::new(Arc::clone(&state));
    let service = FlightServiceServer::new(flight.clone())
        .max_decoding_message_size(MAX_DECODING_BYTES)
        .max_encoding_message_size(MAX_ENCODING_BYTES);
    let public = [HANDSHAKE_PATH, HEALTH_PATHS[0], HEALTH_PATHS[1]];
    let refusals = Arc::new(crate::audit::refusals::Refusals::new(
        state.audit.clone(),
        Arc::clone(&state.metrics),
    ));
    let flight_refusals = Arc::clone(&refusals);
    let mut auth = AuthLayer::new(tokens, &public).with_refusal_hook(Arc::new(
        move |extensions: &http::Extensions, path: &str, reason: &str| {
            flight_refusals.refused(extensions, path, reason);
        },
    ));
    if let Some(idp) = &config.identity_provider {
        let idp = ExternalIdp::start(idp.clone())
            .await
            .map_err(start_err("identity provider"))?;
        tracing::info!(issuer = %idp.issuer(), "external identity provider configured");
        auth = auth.with_external(idp);
    }
    let mut builder = Server::builder()
        .http2_keepalive_interval(config.keepalive)
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        // tonic sets no bound by default: one connection could open any
        // number of calls at once.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION));
    if let Some(tls) = crate::tls::server_tls(config).map_err(start_err("TLS"))? {
        builder = builder.tls_config(tls).map_err(start_err("TLS"))?;
        if config.tls_client_ca.is_some() {
            auth = auth.with_fallback(crate::tls::certificate_authenticator());
        }
    }
    let proxies = Arc::new(TrustedProxies::new(config.trusted_proxies.clone()));
    // Outermost first: the client's address is known to everything below;
    // every call is counted, including those auth refuses.
    let mut builder = builder
        .layer(ClientAddrLayer::new(Arc::clone(&proxies)))
        .layer(RpcMetricsLayer::new(Arc::clone(&state.metrics)))
        .layer(auth.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(FLIGHT_SERVICE, ServingStatus::Serving)
        .await;
    let lifecycle = Lifecycle::new(health);
    let router = if config.direct_do_get {
        builder.add_service(DoGetRoute::new(flight, service))
    } else {
        builder.add_service(service)
    }
    .add_service(health_service);
    let stop = CancellationToken::new();
    // The HTTP port outlives the Flight port at shutdown, so probes see
    // "shutting down" while running calls finish.
    let stop_http = CancellationToken::new();
    let http = match http_listener(config).await? {
        Some(listener) => {
            let http_addr = listener
                .local_addr()
                .map_err(start_err("cannot listen on the HTTP port"))?;
            let tls = match (&config.tls_cert, &config.tls_key) {
                (Some(cert), Some(key)) => {
                    Some(crate::http::tls::server_config(cert, key).map_err(start_err("HTTPS"))?)
                }
                _ => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let api = crate::http::api::Api {
                state: Arc::clone(&state),
                auth: auth.clone(),
                secure: tls.is_some(),
                flight_url: flight_url(config, addr),
                refusals: Arc::clone(&refusals),
                proxies: Arc::clone(&proxies),
            };
            let task = tokio::spawn(crate::http::serve(
                listener,
                api,
                tls,
                lifecycle.clone(),
                stop_http.clone().cancelled_owned(),
            ));
            tracing::info!(addr = %http_addr, "HTTP console, API, health and metrics listening");
            if config.demo {
                println!("Laker console: {scheme}://{http_addr}/ (sign in as demo / demo)");
            }
            Some((http_addr, task))
        }
        None => None,
    };
    let heartbeat = match &config.advertise_url {
        Some(url) => {
            let url = crate::replicas::advertised(url, addr).map_err(StartError)?;
            tracing::info!(url = %url, "advertised to the other replicas");
            Some(crate::replicas::start_heartbeat(state.catalog.clone(), url, stop.clone()).await)
        }
        None => None,
    };
    // Last, once nothing can fail: it ends with the server.
    if config.ingest_jobs {
        laker_ingest::jobs::scheduler::start(Arc::clone(&state.ingest_jobs), stop.clone());
    }
    let cut = CancellationToken::new();
    let incoming = {
        let cut = cut.clone();
        TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .map_ok(move |tcp| Cuttable::new(tcp, &cut))
    };
    // Last, so a start that fails leaves no clock running.
    if let Some(every) = config.retention_interval {
        crate::retention::start(
            Arc::clone(&state.curator),
            every,
            state.metrics.retention().clone(),
            stop.clone(),
        );
    }
    let task =
        tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned()));
    tracing::info!(addr = %addr, demo = config.demo, "listening");
    let (http_addr, http_task) = http.unzip();
    Ok(RunningServer {
        addr,
        http_addr,
        state,
        lifecycle,
        grace: config.shutdown_grace,
        stop,
        stop_http,
        cut,
        heartbeat,
        notifications: Some(notifications),
        task: Some(task),
        http_task,
    })
}

/// The HTTP port's listener: `--http-listen`, else with `--demo` the
/// console's usual loopback port (any free one when that is taken).
async fn http_listener(config: &ServerConfig) -> Result<Option<TcpListener>, StartError> {
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(start_err("cannot listen on the HTTP port"))
    };
    match config.http_listen {
        Some(addr) => Ok(Some(bind(addr).await?)),
        None if config.demo => match TcpListener::bind(DEMO_HTTP_LISTEN).await {
            Ok(listener) => Ok(Some(listener)),
            Err(_) => Ok(Some(bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?)),
        },
        None => Ok(None),
    }
}

/// Where the demo serves its console unless told otherwise.
const DEMO_HTTP_LISTEN: &str = "127.0.0.1:8080";

/// The Flight address clients use: the advertised one, else the address
/// listened on (loopback when it listens on every interface).
fn flight_url(config: &ServerConfig, addr: SocketAddr) -> String {
    if let Some(url) = &config.advertise_url
        && let Ok(url) = crate::replicas::advertised(url, addr)
    {
        return url;
    }
    let scheme = if config.tls_cert.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("{scheme}://{addr}")
}
