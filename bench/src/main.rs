//! `laker-bench`: generates TPC-H `lineitem` as Parquet, starts a
//! laker-server and a plain pyarrow.flight server over the same files, and
//! measures downloads against those baselines in the same run, with the
//! Python (pyarrow.flight) and Rust (arrow-flight) clients; and Laker's
//! HTTP downloads against its own Flight DoGet. Every figure is the median
//! of the runs and is printed with its ratio to its baseline.
//!
//! ```text
//! cargo build --release --bins
//! target/release/laker-bench --scale 2 --runs 3 --out BENCHMARKS-run.md
//! target/debug/laker-bench --smoke            # seconds; CI
//! ```

mod client;
mod footer;
mod http;
mod http_downloads;
mod procs;
mod report;
mod result;

use result::Result;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_flight::FlightDescriptor;
use clap::Parser;

use client::Target;
use report::{Report, median};

const ADMIN_PASSWORD: &str = "bench-admin-password";
/// Columns of the selective download and its filter (about 10% of rows).
const SELECTIVE_COLUMNS: [&str; 3] = ["l_orderkey", "l_extendedprice", "l_shipdate"];
const SELECTIVE_BEFORE: &str = "1992-09-01";
/// Columns each of the concurrent clients downloads.
const CONCURRENT_COLUMNS: [&str; 4] = ["l_orderkey", "l_quantity", "l_extendedprice", "l_shipdate"];

/// Measure Laker's downloads against pyarrow baselines.
#[derive(Debug, Parser)]
#[command(name = "laker-bench", version, about)]
struct Args {
    /// TPC-H scale factor of `lineitem` (2: 12 million rows).
    #[arg(long, default_value_t = 2.0)]
    scale: f64,
    /// Parquet files the table is written as.
    #[arg(long, default_value_t = 8)]
    parts: u32,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Clients downloading at once.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Small downloads started at once.
    #[arg(long, default_value_t = 1000)]
    small: usize,
    /// Full downloads opened and left unread, to see memory stay bounded
    /// (set the budget with `--server-arg=--memory-limit-mb=N`).
    #[arg(long, default_value_t = 200)]
    stalled: usize,
    /// A tiny run that only checks the tool works (scale 0.01, one run).
    #[arg(long)]
    smoke: bool,
    /// Working directory (data and the server's catalog).
    #[arg(long, default_value = "target/laker-bench")]
    work_dir: PathBuf,
    /// Python with pyarrow [default: $LAKER_BENCH_PYTHON, else .venv/bin/python].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Also write the report (Markdown) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Extra laker-server flag (repeatable), to measure a setting: `--server-arg=--batch-size=65536`.
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// Header sent with every Laker call, as `name=value` (repeatable), to
    /// measure a client-side option: `--laker-header=x-laker-compression=lz4`.
    #[arg(long, value_parser = header)]
    laker_header: Vec<(String, String)>,
}

fn header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .ok_or_else(|| format!("expected name=value, got '{s}'"))
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    if args.smoke {
        args.scale = 0.01;
        args.parts = 2;
        args.runs = 1;
        args.clients = 4;
        args.small = 20;
        args.stalled = 10;
    }
    if let Err(e) = run(args).await {
        eprintln!("laker-bench: {e}");
        std::process::exit(1);
    }
}

fn python(args: &Args) -> PathBuf {
    args.python
        .clone()
        .or_else(|| std::env::var_os("LAKER_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"))
}

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

fn secs(v: &serde_json::Value) -> Vec<Duration> {
    v["seconds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_f64())
                .map(Duration::from_secs_f64)
                .collect()
        })
        .unwrap_or_default()
}

async fn run(args: Args) -> Result<()> {
    let python = python(&args);
    let tpchgen = python.with_file_name("tpchgen-cli");
    let server_bin = std::env::current_exe()?.with_file_name("laker-server");
    let data_dir = args.work_dir.join("server");
    let lake = data_dir.join("lake");
    std::fs::create_dir_all(&lake)?;
    let data_dir = data_dir.canonicalize()?;
    let lake = lake.canonicalize()?;
    eprintln!("generating lineitem at scale {} …", args.scale);
    let files = procs::generate(&tpchgen, &lake, args.scale, args.parts)?;
    let file_bytes = procs::dir_bytes(&files);

    let _ = std::fs::remove_file(data_dir.join("catalog.db"));
    let _ = std::fs::remove_file(data_dir.join("catalog.db-wal"));
    let _ = std::fs::remove_file(data_dir.join("catalog.db-shm"));
    let laker = procs::laker_server(&server_bin, &data_dir, &args.server_arg)?;
    procs::create_admin(&server_bin, &data_dir, ADMIN_PASSWORD)?;
    let token = client::login(&laker.addr, "admin", ADMIN_PASSWORD).await?;
    let lt = Target {
        addr: laker.addr.clone(),
        token: Some(token),
        headers: args.laker_header.clone(),
    };
    client::action(&lt, "create_namespace", serde_json::json!({"name": "tpch"})).await?;
    client::action(
        &lt,
        "grant",
        serde_json::json!({"user": "admin", "pattern": "tpch.*", "action": "read"}),
    )
    .await?;
    client::action(
        &lt,
        "register_dataset",
        serde_json::json!({"name": "tpch.lineitem", "format": "parquet",
            "location": format!("file://{}/", files.display())}),
    )
    .await?;
    let pyarrow = procs::pyarrow_server(&python, &bench_dir().join("pyarrow_server.py"), &files)?;
    let pt = Target {
        addr: pyarrow.addr.clone(),
        token: None,
        headers: Vec::new(),
    };
    let client_py = bench_dir().join("py_client.py");
    let laker_full = FlightDescriptor::new_path(vec!["tpch".into(), "lineitem".into()]);
    let pyarrow_full = FlightDescriptor::new_path(vec!["lineitem".into()]);
    let mut settings = args.server_arg.clone();
    settings.extend(
        args.laker_header
            .iter()
            .map(|(n, v)| format!("header {n}: {v}")),
    );
    let mut report = Report::new(args.scale, args.runs, file_bytes, &settings);

    // Full download, Python client, against the pyarrow server and a local read.
    eprintln!("full download, Python client …");
    let py = |job: serde_json::Value| procs::python_job(&python, &client_py, &job);
    let job = |url: &str,
               user: bool,
               command: serde_json::Value,
               path: serde_json::Value,
               extra: serde_json::Value| {
        let headers = if user {
            args.laker_header.clone()
        } else {
            Vec::new()
        };
        serde_json::json!({"kind": "flight", "url": url, "user": if user {"admin"} else {""},
            "password": ADMIN_PASSWORD, "command": command, "path": path,
            "ticket_extra": extra, "runs": args.runs, "headers": headers})
    };
    let laker_url = format!("grpc://{}", laker.addr);
    let pyarrow_url = format!("grpc://{}", pyarrow.addr);
    let l = py(job(
        &laker_url,
        true,
        serde_json::Value::Null,
        serde_json::json!(["tpch", "lineitem"]),
        serde_json::Value::Null,
    ))?;
    let p = py(job(
        &pyarrow_url,
        false,
        serde_json::Value::Null,
        serde_json::json!(["lineitem"]),
        serde_json::Value::Null,
    ))?;
    let local = py(serde_json::json!({"kind": "local", "dir": files, "runs": args.runs}))?;
    report.throughput(
        "Full download, pyarrow.flight client",
        &l,
        &secs(&l),
        "pyarrow.flight server",
        &secs(&p),
    );
    report.throughput(
        "Full download, pyarrow.flight client",
        &l,
        &secs(&l),
        "local pyarrow.parquet.read_table",
        &secs(&local),
    );

    // Full download, Rust client.
    eprintln!("full download, Rust client …");
    let mut lr = Vec::new();
    let mut pr = Vec::new();
    let mut bytes = 0;
    let mut rows = 0;
    for _ in 0..args.runs {
        let (got, d) = client::download(&lt, &laker_full, None).await?;
        (rows, bytes) = (got.rows, got.bytes);
        lr.push(d);
        pr.push(client::download(&pt, &pyarrow_full, None).await?.1);
    }
    let rust_sizes = serde_json::json!({"rows": rows, "bytes": bytes});
    report.throughput(
        "Full download, Rust arrow-flight client",
        &rust_sizes,
        &lr,
        "pyarrow.flight server",
        &pr,
    );

    // Full download over HTTP (Arrow, Parquet) against Flight DoGet.
    eprintln!("full download over HTTP …");
    let http_addr = laker
        .http_addr
        .as_deref()
        .ok_or("laker-server did not report its HTTP address")?;
    let session = http::login(http_addr, "admin", ADMIN_PASSWORD).await?;
    http_downloads::measure(&laker, &lt, &laker_full, &session, args.runs, &mut report).await?;

    // Selective download: 3 columns, ~10% of the rows; bytes read by each server.
    eprintln!("selective download …");
    let spec = serde_json::json!({"dataset": "tpch.lineitem", "columns": SELECTIVE_COLUMNS,
        "filter": format!("l_shipdate < DATE '{SELECTIVE_BEFORE}'")});
    let extra = serde_json::json!({"columns": SELECTIVE_COLUMNS, "filter": ["l_shipdate", "<", SELECTIVE_BEFORE]});
    let before = laker.bytes_read();
    let l = py(job(
        &laker_url,
        true,
        spec,
        serde_json::Value::Null,
        serde_json::Value::Null,
    ))?;
    let laker_read = (laker.bytes_read() - before) / args.runs as u64;
    let before = pyarrow.bytes_read();
    let p = py(job(
        &pyarrow_url,
        false,
        serde_json::Value::Null,
        serde_json::json!(["lineitem"]),
        extra,
    ))?;
    let pyarrow_read = (pyarrow.bytes_read() - before) / args.runs as u64;
    report.throughput(
        "Selective download (3 columns, ~10% of rows), pyarrow.flight client",
        &l,
        &secs(&l),
        "pyarrow.flight server",
        &secs(&p),
    );
    report.bytes_read(laker_read, pyarrow_read, l["rows"].as_u64().unwrap_or(0));

    // Many clients at once.
    eprintln!("{} clients at once …", args.clients);
    let spec = serde_json::json!({"dataset": "tpch.lineitem", "columns": CONCURRENT_COLUMNS});
    let extra = serde_json::json!({"columns": CONCURRENT_COLUMNS});
    let mut lc = Vec::new();
    let mut pc = Vec::new();
    let mut got = client::Received::default();
    for _ in 0..args.runs {
        let (g, d) = client::concurrent(
            &lt,
            args.clients,
            &FlightDescriptor::new_cmd(spec.to_string()),
            None,
        )
        .await?;
        got = g;
        lc.push(d);
        pc.push(
            client::concurrent(&pt, args.clients, &pyarrow_full, Some(&extra))
                .await?
                .1,
        );
    }
    let sizes = serde_json::json!({"rows": got.rows, "bytes": got.bytes});
    report.throughput(
        &format!(
            "{} concurrent clients (4 columns each), aggregate, Rust client",
            args.clients
        ),
        &sizes,
        &lc,
        "pyarrow.flight server",
        &pc,
    );
    report.memory(laker.peak_rss(), pyarrow.peak_rss());

    // Small downloads, each with its own handshake.
    eprintln!("{} small downloads at once …", args.small);
    let spec = serde_json::json!({"dataset": "tpch.lineitem", "columns": ["l_orderkey", "l_partkey", "l_quantity"],
        "filter": "l_orderkey < 4000", "limit": 1000});
    let admin = ("admin", ADMIN_PASSWORD);
    let (latencies, errors) =
        client::small_downloads(&laker.addr, admin, args.small, &spec, None).await;
    report.small(args.small, "each its own handshake", &latencies, &errors);
    let token = lt.token.as_deref();
    let (latencies, errors) =
        client::small_downloads(&laker.addr, admin, args.small, &spec, token).await;
    report.small(args.small, "one token shared", &latencies, &errors);

    // Time to first batch of the full dataset.
    eprintln!("time to first batch …");
    let mut lf = Vec::new();
    let mut pf = Vec::new();
    for _ in 0..args.runs.max(5) {
        lf.push(client::first_batch(&lt, &laker_full).await?);
        pf.push(client::first_batch(&pt, &pyarrow_full).await?);
    }
    report.first_batch(median(&lf), median(&pf));

    // Stalled downloads: memory held stays within the budget and comes back.
    eprintln!("{} stalled downloads …", args.stalled);
    let before = laker.rss();
    let stalled = client::stalled(
        &lt,
        args.stalled,
        &serde_json::json!({"dataset": "tpch.lineitem"}),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = laker.rss();
    let counts = (stalled.streams.len(), stalled.refused);
    drop(stalled);
    let after = laker.settle_below(before + (64 << 20), Duration::from_secs(30));
    report.stalled(args.stalled, counts, [before, held, after]);

    let text = report.render();
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text)?;
    }
    Ok(())
}
