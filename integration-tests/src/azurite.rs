//! A real Azure Blob Storage emulator (Azurite, npm `azurite`, installed by
//! `scripts/test.sh`) on a loopback port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// API version sent with requests.
const API_VERSION: &str = "2021-08-06";

/// A running `azurite-blob`; killed on drop.
pub struct Azurite {
    _child: Child,
    port: u16,
    /// Blob endpoint including the account: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
}

fn binary() -> PathBuf {
    match std::env::var_os("LAKER_AZURITE_BLOB") {
        Some(path) => PathBuf::from(path),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/.bin/azurite-blob")
        }
    }
}

impl Azurite {
    /// Starts azurite-blob in memory and waits until it answers HTTP.
    pub async fn start() -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "azurite-blob not found at {}; run scripts/test.sh (it installs azurite) or set LAKER_AZURITE_BLOB",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start azurite-blob");
        let server = Self {
            _child: child,
            port,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "azurite did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// Creates a blob container (a signed `PUT ?restype=container`).
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
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let request = format!(
            "PUT /{ACCOUNT}/{container}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\nx-ms-version: {API_VERSION}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            port = self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect azurite");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read response");
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 201"),
            "creating container {container}: {text:.300}"
        );
    }
}
