//! A real Azure Blob Storage emulator (Azurite, npm `azurite`, installed by
//! `scripts/test.sh` into `integration-tests/tools`) on a loopback port.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::{ClientConfigKey, ObjectStore};
use sha2::Sha256;

use crate::emulator::{Binary, Emulator};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// API version sent with requests.
const API_VERSION: &str = "2021-08-06";

/// A running `azurite-blob` (in memory); killed on drop.
pub struct Azurite {
    server: Emulator,
    /// Blob endpoint including the account: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
}

impl Azurite {
    /// Starts azurite-blob and waits until it listens.
    pub async fn start() -> Self {
        let binary = Binary {
            var: "LAKER_AZURITE_BLOB",
            default: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tools/node_modules/.bin/azurite-blob"),
            installed_by: "azurite (npm)",
        };
        let server = Emulator::start(binary, |port| {
            [
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ]
            .map(String::from)
            .to_vec()
        })
        .await;
        Self {
            endpoint: format!("http://127.0.0.1:{}/{ACCOUNT}", server.port),
            server,
        }
    }

    /// Creates a blob container (a `PUT ?restype=container` signed with the
    /// account key).
    pub async fn create_container(&self, container: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
        );
        let key = STANDARD.decode(ACCOUNT_KEY).expect("account key");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
        mac.update(to_sign.as_bytes());
        let auth = format!(
            "SharedKey {ACCOUNT}:{}",
            STANDARD.encode(mac.finalize().into_bytes())
        );
        let (status, text) = self
            .server
            .http(
                "PUT",
                &format!("/{ACCOUNT}/{container}?restype=container"),
                &[
                    ("x-ms-date", &date),
                    ("x-ms-version", API_VERSION),
                    ("Authorization", &auth),
                ],
                &[],
            )
            .await;
        assert_eq!(status, 201, "creating container {container}: {text:.300}");
    }

    /// A client for `container` with the development account. Like the
    /// server's, it drops connections idle for 3 s, before Azurite closes
    /// them (after 5 s).
    pub fn store(&self, container: &str) -> Arc<dyn ObjectStore> {
        let idle = AzureConfigKey::Client(ClientConfigKey::PoolIdleTimeout);
        Arc::new(
            MicrosoftAzureBuilder::new()
                .with_config(idle, "3s")
                .with_account(ACCOUNT)
                .with_access_key(ACCOUNT_KEY)
                .with_container_name(container)
                .with_endpoint(self.endpoint.clone())
                .with_allow_http(true)
                .build()
                .expect("Azure client"),
        )
    }
}
