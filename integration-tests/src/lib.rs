#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Support for Laker's end-to-end tests: a real server on 127.0.0.1:0 over
//! the demo data, a byte-counting object store, and an authenticated Flight
//! client.

pub mod azurite;
pub mod counting_store;
pub mod craft;
pub mod emulator;
pub mod fake_gcs;
pub mod moto;
pub mod postgres;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightClient, FlightDescriptor, FlightInfo, Ticket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::TryStreamExt;
use laker_catalog::Catalog;
use laker_flight_server::{RunningServer, ServerConfig, ServerOptions, demo};
use object_store::local::LocalFileSystem;
use tempfile::TempDir;
use tokio::sync::OnceCell;
use tonic::transport::Channel;

pub use counting_store::CountingStore;

/// Rows of `demo.trips` in tests: the full demo size.
pub const DEMO_ROWS: usize = laker_flight_server::config::DEFAULT_DEMO_ROWS;

/// Where generated test data lives: beside the test binary in the target
/// directory (`target/debug/laker-test-data`), so it survives between runs.
fn test_data_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir)
        .join("laker-test-data")
}

/// The demo lake, generated once per target directory and reused.
pub async fn demo_lake() -> &'static Path {
    static LAKE: OnceCell<PathBuf> = OnceCell::const_new();
    LAKE.get_or_init(|| async {
        let lake = test_data_dir().join("demo-lake");
        std::fs::create_dir_all(&lake).expect("create demo lake dir");
        let lake = lake.canonicalize().expect("canonical demo lake");
        demo::generate(&lake, DEMO_ROWS)
            .await
            .expect("generate demo data");
        lake
    })
    .await
}

/// A running server over its own catalog and the shared demo lake.
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// Its data directory (catalog, secret).
    pub dir: TempDir,
    /// Counts bytes the server reads from `file://`.
    pub store: Arc<CountingStore>,
    /// A second handle on the server's catalog, for test set-up.
    pub catalog: Catalog,
}

impl TestServer {
    /// A server with the demo datasets and account.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the demo datasets, after `tweak` adjusted its config.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        log_if_asked();
        let lake = demo_lake().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig::with_data_dir(dir.path());
        config.listen = "127.0.0.1:0".parse().expect("addr");
        tweak(&mut config);
        let catalog = Catalog::connect(&config.catalog_url)
            .await
            .expect("catalog");
        demo::install(&catalog, lake, DEMO_ROWS)
            .await
            .expect("demo install");
        let store = Arc::new(CountingStore::new(Arc::new(LocalFileSystem::new())));
        let options = ServerOptions {
            object_stores: vec![(
                url::Url::parse("file://").expect("url"),
                Arc::clone(&store) as Arc<dyn object_store::ObjectStore>,
            )],
        };
        let server = laker_flight_server::start(&config, options)
            .await
            .expect("server starts");
        Self {
            server,
            dir,
            store,
            catalog,
        }
    }

    /// Shuts the server down and starts another on the same data directory
    /// (catalog, secret, lake), configured afresh and then by `tweak`.
    pub async fn restart_with(self, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let Self {
            server,
            dir,
            store,
            catalog,
        } = self;
        server.shutdown().await;
        let mut config = ServerConfig::with_data_dir(dir.path());
        config.listen = "127.0.0.1:0".parse().expect("addr");
        tweak(&mut config);
        let options = ServerOptions {
            object_stores: vec![(
                url::Url::parse("file://").expect("url"),
                Arc::clone(&store) as Arc<dyn object_store::ObjectStore>,
            )],
        };
        let server = laker_flight_server::start(&config, options)
            .await
            .expect("server restarts");
        Self {
            server,
            dir,
            store,
            catalog,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// An unauthenticated client.
    pub async fn anonymous(&self) -> FlightClient {
        let channel = Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        FlightClient::new(channel)
    }

    /// A client logged in as `user`.
    pub async fn login(&self, user: &str, password: &str) -> Result<FlightClient, FlightError> {
        let mut client = self.anonymous().await;
        let basic = STANDARD.encode(format!("{user}:{password}"));
        client.add_header("authorization", &format!("Basic {basic}"))?;
        let token = client.handshake(Vec::<u8>::new()).await?;
        let token =
            String::from_utf8(token.to_vec()).map_err(|e| FlightError::protocol(e.to_string()))?;
        client.add_header("authorization", &format!("Bearer {token}"))?;
        Ok(client)
    }

    /// A client logged in as demo/demo.
    pub async fn demo_client(&self) -> FlightClient {
        self.login("demo", "demo").await.expect("demo login")
    }

    /// A client logged in as `admin`, a user created on first use with the
    /// `admin` and `read` grants on everything.
    pub async fn admin_client(&self) -> FlightClient {
        if self
            .catalog
            .user("admin")
            .await
            .expect("user lookup")
            .is_none()
        {
            let hash = laker_auth::password::hash_password("admin-secret").expect("hash");
            self.catalog
                .create_user("admin", &hash)
                .await
                .expect("admin user");
            self.catalog
                .grant("admin", "*", "admin")
                .await
                .expect("grant");
            self.catalog
                .grant("admin", "*", "read")
                .await
                .expect("grant");
        }
        self.login("admin", "admin-secret")
            .await
            .expect("admin login")
    }

    /// The server's own lake directory (`<data dir>/lake`), an allowed
    /// location for datasets registered through actions.
    pub fn lake_dir(&self) -> PathBuf {
        let dir = self
            .dir
            .path()
            .canonicalize()
            .expect("data dir")
            .join("lake");
        std::fs::create_dir_all(&dir).expect("lake dir");
        dir
    }

    /// Path of a demo dataset's directory.
    pub async fn dataset_dir(&self, name: &str) -> PathBuf {
        demo_lake().await.join("demo").join(name)
    }
}

/// ListFlights matching `search`.
pub async fn list(client: &mut FlightClient, search: &str) -> Result<Vec<FlightInfo>, FlightError> {
    client
        .list_flights(search.as_bytes().to_vec())
        .await?
        .try_collect()
        .await
}

/// ListFlights matching `search`, as `namespace.dataset` names from the descriptors.
pub async fn list_names(
    client: &mut FlightClient,
    search: &str,
) -> Result<Vec<String>, FlightError> {
    Ok(list(client, search)
        .await?
        .iter()
        .filter_map(|i| i.flight_descriptor.as_ref())
        .map(|d| d.path.join("."))
        .collect())
}

/// GetFlightInfo for a JSON spec.
pub async fn info_for(
    client: &mut FlightClient,
    spec: &serde_json::Value,
) -> Result<FlightInfo, FlightError> {
    client
        .get_flight_info(FlightDescriptor::new_cmd(spec.to_string()))
        .await
}

/// Downloads every endpoint of `info`, in order.
pub async fn fetch_all(
    client: &mut FlightClient,
    info: &FlightInfo,
) -> Result<Vec<RecordBatch>, FlightError> {
    let mut batches = Vec::new();
    for endpoint in &info.endpoint {
        let ticket = endpoint
            .ticket
            .clone()
            .ok_or_else(|| FlightError::protocol("no ticket"))?;
        batches.extend(fetch(client, ticket).await?);
    }
    Ok(batches)
}

/// Downloads one ticket.
pub async fn fetch(
    client: &mut FlightClient,
    ticket: Ticket,
) -> Result<Vec<RecordBatch>, FlightError> {
    client.do_get(ticket).await?.try_collect().await
}

/// Runs DoAction `kind` with a JSON body; returns the JSON result.
pub async fn action(
    client: &mut FlightClient,
    kind: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, FlightError> {
    let results: Vec<bytes::Bytes> = client
        .do_action(arrow_flight::Action::new(kind, body.to_string()))
        .await?
        .try_collect()
        .await?;
    let first = results
        .first()
        .ok_or_else(|| FlightError::protocol("action returned no result"))?;
    serde_json::from_slice(first).map_err(|e| FlightError::protocol(e.to_string()))
}

/// Uploads `batches` to `dataset` (`namespace.dataset`) with `mode` and an
/// optional upload id; returns the DoPut result's JSON.
pub async fn upload(
    client: &mut FlightClient,
    dataset: &str,
    mode: &str,
    upload_id: Option<&str>,
    batches: Vec<RecordBatch>,
) -> Result<serde_json::Value, tonic::Status> {
    client.add_header("x-laker-upload-mode", mode).unwrap();
    client
        .add_header("x-laker-upload-id", upload_id.unwrap_or("none"))
        .unwrap();
    if upload_id.is_none() {
        client.metadata_mut().remove("x-laker-upload-id");
    }
    let path = dataset.split('.').map(str::to_string).collect();
    let data = arrow_flight::encode::FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_path(path)))
        .build(futures::stream::iter(batches.into_iter().map(Ok)));
    let results: Vec<_> = client
        .do_put(data)
        .await
        .map_err(status)?
        .try_collect()
        .await
        .map_err(status)?;
    Ok(serde_json::from_slice(&results[0].app_metadata).unwrap())
}

/// Total rows in `batches`.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The gRPC status inside a Flight error (panics if there is none: a test bug).
pub fn status(err: FlightError) -> tonic::Status {
    match err {
        FlightError::Tonic(status) => *status,
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// With `LAKER_TEST_LOG` set (e.g. `warn` or `laker=debug`), the servers a
/// test starts log to stderr: the detail behind an error's reference.
fn log_if_asked() {
    if let Ok(filter) = std::env::var("LAKER_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}
