//! A real server, in process: its Flight service is called directly (no
//! network), as the principals a client could be, so every input travels
//! the path a request would — authorisation, planning, policies, audit.

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{Action, FlightDescriptor, Ticket};
use futures::StreamExt;
use laker_auth::Principal;
use laker_flight_server::service::LakerFlightService;
use laker_flight_server::state::AppState;
use laker_flight_server::{RunningServer, ServerConfig, ServerOptions};
use tonic::Request;

/// Rows of the demo trips the harness serves.
const TRIP_ROWS: usize = 5_000;

/// Most messages of a DoGet stream a target reads.
const MAX_MESSAGES: usize = 16;

/// Principals inputs are sent as: a full administrator, the demo reader,
/// a reader whose grant filters rows and masks columns, and one with no
/// grants.
pub const PRINCIPALS: [&str; 4] = ["admin", "demo", "masked", "nobody"];

/// The server and its service.
pub struct Harness {
    /// The tokio runtime targets run on (16 MiB stacks, as the server's).
    pub runtime: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    service: LakerFlightService,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the server over a small demo lake with its principals.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_stack_size(laker_flight_server::WORKER_STACK_BYTES)
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let server = runtime.block_on(async {
            let mut config = ServerConfig::with_data_dir(dir.path());
            config.listen = ([127, 0, 0, 1], 0).into();
            config.demo = true;
            config.demo_rows = TRIP_ROWS;
            config.log = "off".into();
            config.stream_limits.memory_limit = 1 << 30;
            let server = laker_flight_server::start(&config, ServerOptions::default())
                .await
                .unwrap_or_else(|e| panic!("server: {e}"));
            principals(server.state()).await;
            server
        });
        let service = LakerFlightService::new(Arc::clone(server.state()));
        Self {
            runtime,
            server: Some(server),
            service,
            _dir: dir,
        }
    }

    fn request<T>(message: T, principal: &str) -> Request<T> {
        let mut request = Request::new(message);
        request
            .extensions_mut()
            .insert(Principal::new(principal.to_string()));
        request
    }

    /// GetFlightInfo for a descriptor command (a JSON spec or a Flight SQL
    /// command), then DoGet of its first endpoint.
    pub fn flight_info(&self, principal: &str, cmd: &[u8]) {
        self.run(async {
            let descriptor = FlightDescriptor::new_cmd(cmd.to_vec());
            let Ok(info) = self
                .service
                .get_flight_info(Self::request(descriptor, principal))
                .await
            else {
                return;
            };
            if let Some(ticket) = info
                .into_inner()
                .endpoint
                .first()
                .and_then(|e| e.ticket.clone())
            {
                self.drain(principal, ticket).await;
            }
        });
    }

    /// DoGet of arbitrary ticket bytes.
    pub fn do_get(&self, principal: &str, ticket: &[u8]) {
        self.run(self.drain(principal, Ticket::new(ticket.to_vec())));
    }

    async fn drain(&self, principal: &str, ticket: Ticket) {
        if let Ok(stream) = self.service.do_get(Self::request(ticket, principal)).await {
            let mut stream = stream.into_inner();
            let mut n = 0;
            while let Some(Ok(_)) = stream.next().await {
                n += 1;
                if n >= MAX_MESSAGES {
                    break;
                }
            }
        }
    }

    /// DoAction `kind` with `body`.
    pub fn action(&self, principal: &str, kind: &str, body: &[u8]) {
        self.run(async {
            let action = Action::new(kind.to_string(), body.to_vec());
            if let Ok(results) = self
                .service
                .do_action(Self::request(action, principal))
                .await
            {
                let _ = results.into_inner().take(4).count().await;
            }
        });
    }

    /// An upload of raw Flight data messages to `up.fuzz` (created on demand).
    pub fn upload(&self, principal: &str, messages: Vec<arrow_flight::FlightData>) {
        let state = Arc::clone(self.state());
        self.run(async move {
            let Some(first) = messages.first().cloned() else {
                return;
            };
            let target = laker_ingest::upload::target::Target {
                name: laker_catalog::DatasetName::new("up", "fuzz")
                    .unwrap_or_else(|e| panic!("name: {e}")),
                mode: laker_ingest::upload::target::Mode::CreateAppend,
                upload_id: None,
            };
            let rest = futures::stream::iter(messages.into_iter().skip(1).map(Ok));
            let principal = Principal::new(principal.to_string());
            let panics = laker_ingest::inbound::caught_panics();
            let result =
                laker_ingest::upload::write_upload(&state.uploads, &principal, target, first, rest)
                    .await;
            // Client data never makes an internal error (a panic in the
            // decoding task is one), nor a panic the decoder caught.
            if let Err(laker_ingest::IngestError::Internal(message)) = result {
                panic!("an upload failed internally: {message}");
            }
            assert_eq!(
                laker_ingest::inbound::caught_panics(),
                panics,
                "arrow panicked on uploaded data the checks accepted"
            );
        });
    }

    /// The server's state.
    pub fn state(&self) -> &Arc<AppState> {
        match &self.server {
            Some(server) => server.state(),
            None => unreachable!("the server runs while the harness lives"),
        }
    }

    /// Runs `work` on the runtime, stopping it after a bounded time (slow
    /// inputs are reported by the driver's watchdog, not hidden here).
    fn run(&self, work: impl std::future::Future<Output = ()>) {
        self.runtime.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(20), work).await;
        });
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// The harness's principals and grants, set up in the catalog.
async fn principals(state: &AppState) {
    let catalog = &state.catalog;
    let hash = laker_auth::password::hash_password("fuzz-password")
        .unwrap_or_else(|e| panic!("hash: {e}"));
    for name in ["admin", "masked", "nobody"] {
        let _ = catalog.create_user(name, &hash).await;
    }
    for action in ["admin", "read", "write"] {
        let _ = catalog.grant("admin", "*", action).await;
    }
    let _ = catalog.ensure_namespace("up", "fuzz uploads").await;
    let policy = laker_catalog::GrantPolicy {
        row_filter: Some("passengers >= 2".into()),
        column_masks: [
            ("fare".to_string(), laker_catalog::ColumnMask::Hide),
            ("city".to_string(), laker_catalog::ColumnMask::Hash),
        ]
        .into_iter()
        .collect(),
    };
    let _ = catalog
        .put_grant(
            laker_catalog::Grantee::User("masked".into()),
            "demo.*",
            "read",
            policy,
        )
        .await;
    let _ = catalog.grant("masked", "up.*", "write").await;
}
