//! The `laker-server` binary as a child process: started on 127.0.0.1:0
//! with the flags a test gives, ready once it logs its address, killed
//! when dropped. Its resident memory is read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `laker-server` binary built beside the tests (`LAKER_SERVER_BIN`
/// overrides it, e.g. with a release build).
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("LAKER_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/laker-server
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("laker-server"))
        .expect("target directory")
}

/// A running `laker-server` process.
pub struct ServerProcess {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl ServerProcess {
    /// Starts the server on `data_dir` with `args` (after `--listen
    /// 127.0.0.1:0 --data-dir …`); waits until it logs its address.
    pub fn start(data_dir: &Path, args: &[&str]) -> Self {
        let binary = server_binary();
        let mut child = Command::new(&binary)
            .args(["--listen", "127.0.0.1:0", "--log", "info"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env_remove("LAKER_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let kept = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut kept) = kept.lock() {
                    if kept.len() >= 300 {
                        kept.pop_front();
                    }
                    kept.push_back(line.clone());
                }
                if !sent
                    && line.contains(": listening addr=")
                    && let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("{} did not start", binary.display()));
        Self {
            child,
            log,
            addr,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// The last lines the server logged (for a failing test's message).
    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory, bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Waits until resident memory is at most `bytes` (memory returned), or
    /// `timeout` passes; returns the last reading.
    pub fn settle_below(&self, bytes: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let rss = self.rss();
            if rss <= bytes || Instant::now() > deadline {
                return rss;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
