//! `laker-bench`: generates TPC-H `lineitem` as Parquet (one layout or
//! several: one file, many files), starts a laker-server, a plain
//! pyarrow.flight server and roapi over the same files, and measures
//! downloads against those baselines in the same run, with the Python
//! (pyarrow.flight, ADBC Flight SQL) and Rust (arrow-flight) clients;
//! Laker's HTTP downloads against its own Flight DoGet; and Laker's result
//! cache. Every figure is the median of the runs and is printed with its
//! ratio to its baseline and the servers' peak memory meanwhile. Named
//! alone, the `commits` scenario (not in the default run) makes many small
//! commits to one table and reports the server's memory as the log grows.
//!
//! ```text
//! cargo build --release --bins
//! target/release/laker-bench --scale 2 --runs 3 --layouts 1,8 --out BENCHMARKS-run.md
//! target/debug/laker-bench --smoke            # seconds; CI
//! target/release/laker-bench --only commits   # 10,000 commits; minutes
//! ```

mod bench;
mod cache;
mod client;
mod commits;
mod flight_sql;
mod footer;
mod http;
mod http_downloads;
mod layout;
mod load;
mod procs;
mod py;
mod py_downloads;
mod report;
mod result;
mod rust_downloads;

use result::Result;

use std::path::{Path, PathBuf};

use clap::Parser;

const ADMIN_PASSWORD: &str = "bench-admin-password";
/// The dataset every scenario downloads, as Laker names it.
const DATASET: &str = "tpch.lineitem";
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
    /// Layouts to measure one after the other, as numbers of Parquet files
    /// (`--layouts 1,8`: every scenario on one file, then on eight)
    /// [default: `--parts`].
    #[arg(long, value_delimiter = ',')]
    layouts: Vec<u32>,
    /// Only these scenarios (comma-separated: full, rust, http, selective,
    /// sql, concurrent, small, first, stalled, cache; and commits, which
    /// the default run leaves out) [default: all but commits].
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Commits the `commits` scenario makes to its one table.
    #[arg(long, default_value_t = 10_000)]
    commits: u64,
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
    /// Memory of the result cache of the laker-server the cache scenario
    /// starts (`--result-cache-mb`).
    #[arg(long, default_value_t = 4096)]
    cache_mb: u64,
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
        args.cache_mb = 64;
        args.commits = 300;
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

async fn run(args: Args) -> Result<()> {
    let many_commits = args.only.iter().any(|o| o == "commits");
    // `--only commits` needs no layout (no lineitem, no baselines).
    let any_layout = args.only.is_empty() || args.only.iter().any(|o| o != "commits");
    let layouts = if !any_layout {
        Vec::new()
    } else if args.layouts.is_empty() {
        vec![args.parts]
    } else {
        args.layouts.clone()
    };
    let mut reports = Vec::new();
    for parts in layouts {
        let report = layout::run(&args, parts).await?;
        // Each layout's figures as soon as they are known.
        eprintln!("{report}");
        reports.push(report);
    }
    if many_commits {
        let report = commits::run(&args).await?;
        eprintln!("{report}");
        reports.push(report);
    }
    let text = reports.join("\n");
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text)?;
    }
    Ok(())
}
