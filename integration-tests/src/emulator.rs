//! Starting the storage emulators the tests talk to (moto_server, Azurite,
//! fake-gcs-server) on free loopback ports, and a tiny HTTP/1.1 client for
//! setting them up (buckets, containers, uploads).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running emulator process; killed on drop.
pub struct Emulator {
    _child: Child,
    /// Its loopback port.
    pub port: u16,
}

/// Where an emulator's executable is: `$var`, else `default`.
pub struct Binary {
    /// Environment variable naming the executable (set by `scripts/test.sh`).
    pub var: &'static str,
    /// Path used when the variable is unset.
    pub default: PathBuf,
    /// What installs it, for the failure message.
    pub installed_by: &'static str,
}

impl Binary {
    /// The executable: `$var`, else the default. Panics, saying what
    /// installs it, when it is not there.
    pub fn path(&self) -> PathBuf {
        let bin = std::env::var_os(self.var)
            .map(PathBuf::from)
            .unwrap_or_else(|| self.default.clone());
        assert!(
            bin.exists(),
            "{} not found; run scripts/test.sh (it installs {}) or set {}",
            bin.display(),
            self.installed_by,
            self.var
        );
        bin
    }
}

impl Emulator {
    /// Starts `binary` with the arguments `args` gives for a free port, and
    /// waits until the port accepts connections.
    pub async fn start(binary: Binary, args: impl FnOnce(u16) -> Vec<String>) -> Self {
        Self::run(&binary.path(), args).await
    }

    /// Starts the program `bin` with the arguments `args` gives for a free
    /// port, and waits until the port accepts connections.
    pub async fn run(bin: &Path, args: impl FnOnce(u16) -> Vec<String>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(bin)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not start listening",
                bin.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _child: child,
            port,
        }
    }

    /// Sends one HTTP/1.1 request; returns the status code and the response text.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to emulator");
        stream.write_all(head.as_bytes()).await.expect("send");
        stream.write_all(body).await.expect("send body");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad HTTP response: {text:.200}"));
        (status, text)
    }
}
