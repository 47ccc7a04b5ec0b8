//! A real S3-compatible server (`moto_server` from PyPI `moto[server]`,
//! installed into the test virtualenv by `scripts/test.sh`) on a loopback port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running `moto_server`; killed on drop.
pub struct MotoServer {
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
}

fn binary() -> PathBuf {
    match std::env::var_os("LAKER_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"),
    }
}

impl MotoServer {
    /// Starts moto_server and waits until it answers HTTP.
    pub async fn start() -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}; run scripts/test.sh (it installs moto[server]) or set LAKER_MOTO_SERVER",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let server = Self {
            _child: child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(status) = server.request("GET", "/").await
                && status == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates a bucket (moto accepts unsigned bucket creation).
    pub async fn create_bucket(&self, bucket: &str) {
        let status = self
            .request("PUT", &format!("/{bucket}"))
            .await
            .expect("PUT bucket");
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// Sends a bodyless HTTP/1.1 request; returns the status code.
    async fn request(&self, method: &str, path: &str) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad HTTP response: {text:.80}")))
    }
}
