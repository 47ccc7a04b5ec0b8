//! The processes a benchmark run starts: a laker-server, the pyarrow
//! baseline server and roapi, each waited on until it reports readiness;
//! and what `/proc` says about them (peak memory, memory sampled while
//! something runs, bytes read).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::result::Result;

/// A child process killed when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Where it listens (`host:port`).
    pub addr: String,
    /// Where its HTTP API listens (`host:port`; laker-server only).
    pub http_addr: Option<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Peak resident memory (VmHWM) in bytes.
    pub fn peak_rss(&self) -> u64 {
        proc_field(self.child.id(), "status", "VmHWM:").map_or(0, |kb| kb * 1024)
    }

    /// Resident memory now (VmRSS) in bytes.
    pub fn rss(&self) -> u64 {
        proc_field(self.child.id(), "status", "VmRSS:").map_or(0, |kb| kb * 1024)
    }

    /// Waits up to `timeout` for resident memory to fall to `bytes`;
    /// returns the last reading.
    pub fn settle_below(&self, bytes: u64, timeout: Duration) -> u64 {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let rss = self.rss();
            if rss <= bytes || std::time::Instant::now() > deadline {
                return rss;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Starts sampling resident memory every 10 ms, to learn the peak
    /// while something runs (VmHWM covers the whole life of the process).
    pub fn watch_rss(&self) -> RssWatch {
        let pid = self.child.id();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak: u64 = 0;
            loop {
                let rss = proc_field(pid, "status", "VmRSS:").map_or(0, |kb| kb * 1024);
                peak = peak.max(rss);
                if stopped.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssWatch {
            stop,
            thread: Some(thread),
        }
    }

    /// Runs `work`, sampling resident memory meanwhile; its result and the
    /// largest resident memory seen, in bytes.
    pub fn peak_while<T>(&self, work: impl FnOnce() -> T) -> (T, u64) {
        let watch = self.watch_rss();
        let out = work();
        (out, watch.stop())
    }

    /// [`Proc::peak_while`] for async work.
    pub async fn peak_while_async<T>(&self, work: impl Future<Output = T>) -> (T, u64) {
        let watch = self.watch_rss();
        let out = work.await;
        (out, watch.stop())
    }

    /// Bytes the process has read through read syscalls (`rchar`): for a
    /// local lake, the bytes it read from the object store.
    pub fn bytes_read(&self) -> u64 {
        proc_field(self.child.id(), "io", "rchar:").unwrap_or(0)
    }
}

/// Resident memory sampled until stopped (see [`Proc::watch_rss`]).
pub struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssWatch {
    /// Stops sampling; the largest resident memory seen, in bytes.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Waits (up to `timeout`) for `ready` to find what it looks for in the
/// `lines` of a child's output (it sees every line, in order).
fn wait_for<T: Send + 'static>(
    lines: impl BufRead + Send + 'static,
    mut ready: impl FnMut(&str) -> Option<T> + Send + 'static,
    timeout: Duration,
) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in lines.lines().map_while(std::result::Result::ok) {
            if !sent && let Some(found) = ready(&line) {
                let _ = tx.send(found);
                sent = true;
            } else if line.contains("ERROR") || line.contains("panicked") {
                // A server's errors belong in the bench's output.
                eprintln!("server: {line}");
            }
        }
    });
    rx.recv_timeout(timeout).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => "a server did not report readiness in time".into(),
        mpsc::RecvTimeoutError::Disconnected => "a server exited before reporting readiness".into(),
    })
}

/// Starts `laker-server` over `data_dir`, its Flight and HTTP ports each on
/// 127.0.0.1:0; waits until it has logged both addresses.
pub fn laker_server(binary: &Path, data_dir: &Path, extra: &[String]) -> Result<Proc> {
    let mut child = Command::new(binary)
        .args(extra)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "warn,laker_flight_server::server=info",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (mut flight, mut http) = (None, None);
    let (addr, http_addr) = wait_for(
        BufReader::new(stderr),
        move |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let addr = v["fields"]["addr"].as_str().map(String::from);
            match v["fields"]["message"].as_str()? {
                "listening" => flight = addr,
                m if m.starts_with("HTTP console") => http = addr,
                _ => {}
            }
            flight.clone().zip(http.clone())
        },
        Duration::from_secs(120),
    )?;
    Ok(Proc {
        child,
        addr,
        http_addr: Some(http_addr),
    })
}

/// Creates the catalog's admin account.
pub fn create_admin(binary: &Path, data_dir: &Path, password: &str) -> Result<()> {
    let status = Command::new(binary)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["catalog", "create-admin", "--name", "admin"])
        .env("LAKER_ADMIN_PASSWORD", password)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("create-admin failed".into());
    }
    Ok(())
}

/// Starts the pyarrow.flight baseline server over the Parquet files in `data`.
pub fn pyarrow_server(python: &Path, script: &Path, data: &Path) -> Result<Proc> {
    let mut child = Command::new(python)
        .arg(script)
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let port = wait_for(
        BufReader::new(stdout),
        |line| line.strip_prefix("port ").map(|p| p.trim().to_string()),
        Duration::from_secs(60),
    )?;
    Ok(Proc {
        child,
        addr: format!("127.0.0.1:{port}"),
        http_addr: None,
    })
}

/// Starts roapi serving the Parquet files in `dir` as the table `lineitem`
/// over Flight SQL (and, as roapi always does, HTTP and Postgres), each on
/// 127.0.0.1:0, reading the files on each query as Laker does rather than
/// loading the table into memory first (`use_memory_table=false`); waits
/// until it has logged its Flight SQL address.
pub fn roapi(binary: &Path, dir: &Path) -> Result<Proc> {
    if !binary.is_file() {
        return Err(format!(
            "roapi is not installed at {}: install it into the bench's Python environment \
             with `pip install roapi` (see integration-tests/python/requirements.txt)",
            binary.display()
        )
        .into());
    }
    let table = format!(
        "lineitem={}/,format=parquet,use_memory_table=false",
        dir.display()
    );
    let mut child = Command::new(binary)
        .args(["--table", &table])
        .args(["--addr-flight-sql", "127.0.0.1:0"])
        .args(["--addr-http", "127.0.0.1:0"])
        .args(["--addr-postgres", "127.0.0.1:0"])
        .env("RUST_LOG", "roapi=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    // "… 🚀 Listening on 127.0.0.1:41583 for FlightSQL traffic..."
    let addr = wait_for(
        BufReader::new(stderr),
        |line| {
            let (addr, what) = line.split_once("Listening on ")?.1.split_once(' ')?;
            what.starts_with("for FlightSQL").then(|| addr.to_string())
        },
        Duration::from_secs(120),
    )?;
    Ok(Proc {
        child,
        addr,
        http_addr: None,
    })
}

/// Whether `binary --help` lists `flag` (a flag this build has).
pub fn accepts_flag(binary: &Path, flag: &str) -> bool {
    Command::new(binary)
        .arg("--help")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(flag))
}

/// Runs the Python client on one job; returns its JSON result.
pub fn python_job(
    python: &Path,
    script: &Path,
    job: &serde_json::Value,
) -> Result<serde_json::Value> {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(job.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("the Python client failed on {job}").into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Generates TPC-H `lineitem` at `scale` as `parts` Parquet files under
/// `root/lineitem/` (kept between runs of the same scale; each layout has
/// its own `root`).
pub fn generate(tpchgen: &Path, root: &Path, scale: f64, parts: u32) -> Result<PathBuf> {
    let dir = root.join("lineitem");
    let marker = root.join(format!(".sf{scale}-parts{parts}"));
    if marker.exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root)?;
    let status = Command::new(tpchgen)
        .args(["parquet", "--tables", "lineitem"])
        .args(["-s", &scale.to_string(), "--parts", &parts.to_string()])
        .arg("--output-dir")
        .arg(root)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", tpchgen.display()))?;
    if !status.success() {
        return Err("tpchgen-cli failed".into());
    }
    std::fs::write(&marker, b"")?;
    Ok(dir)
}

/// Sizes of the files in `dir`, smallest first.
pub fn file_sizes(dir: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .collect()
        })
        .unwrap_or_default();
    sizes.sort_unstable();
    sizes
}
