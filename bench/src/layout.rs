//! One layout's run: `lineitem` generated as so many Parquet files, a fresh
//! laker-server with the dataset registered, the pyarrow server and roapi
//! over the same files, every scenario measured against them, then the
//! result cache on a second laker-server; the report of that layout.

use std::path::Path;

use arrow_flight::FlightDescriptor;

use crate::bench::Bench;
use crate::client::{self, Target};
use crate::procs;
use crate::py::{PyClient, PyServer};
use crate::report::Report;
use crate::result::Result;
use crate::{ADMIN_PASSWORD, Args, DATASET};
use crate::{cache, flight_sql, http, http_downloads, load, py_downloads, rust_downloads};

/// Generates the layout of `parts` files, starts the servers, measures
/// every scenario; returns the layout's report.
pub async fn run(args: &Args, parts: u32) -> Result<String> {
    let python = crate::python(args);
    let server_bin = std::env::current_exe()?.with_file_name("laker-server");
    let data_dir = args.work_dir.join("server");
    let lake = data_dir.join("lake");
    std::fs::create_dir_all(&lake)?;
    let data_dir = data_dir.canonicalize()?;
    let lake = lake.canonicalize()?;
    // Where earlier versions of the bench kept their one layout.
    let _ = std::fs::remove_dir_all(lake.join("tpch"));
    eprintln!(
        "generating lineitem at scale {} as {parts} Parquet file(s) …",
        args.scale
    );
    let tpchgen = python.with_file_name("tpchgen-cli");
    let root = lake.join(format!("parts{parts}"));
    let files = procs::generate(&tpchgen, &root, args.scale, parts)?;

    for file in ["catalog.db", "catalog.db-wal", "catalog.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(file));
    }
    let laker = procs::laker_server(&server_bin, &data_dir, &args.server_arg)?;
    procs::create_admin(&server_bin, &data_dir, ADMIN_PASSWORD)?;
    let token = client::login(&laker.addr, "admin", ADMIN_PASSWORD).await?;
    let laker_rust = Target {
        addr: laker.addr.clone(),
        token: Some(token),
        headers: args.laker_header.clone(),
    };
    register(&laker_rust, &files).await?;
    let pyarrow = procs::pyarrow_server(
        &python,
        &crate::bench_dir().join("pyarrow_server.py"),
        &files,
    )?;
    let roapi = procs::roapi(&python.with_file_name("roapi"), &files)?;
    let bench = Bench {
        args,
        laker_py: PyServer::laker(&laker.addr, &args.laker_header),
        laker_rust,
        laker_full: FlightDescriptor::new_path(vec!["tpch".into(), "lineitem".into()]),
        laker,
        pyarrow_rust: Target {
            addr: pyarrow.addr.clone(),
            token: None,
            headers: Vec::new(),
        },
        pyarrow_py: PyServer::baseline(&pyarrow.addr),
        pyarrow_full: FlightDescriptor::new_path(vec!["lineitem".into()]),
        pyarrow,
        roapi_py: PyServer::baseline(&roapi.addr),
        roapi,
        files,
    };
    let mut settings = args.server_arg.clone();
    settings.extend(
        args.laker_header
            .iter()
            .map(|(n, v)| format!("header {n}: {v}")),
    );
    let sizes = procs::file_sizes(&bench.files);
    let mut report = Report::new(args.scale, args.runs, &sizes, &settings);
    let py = PyClient::new(&python, args.runs);

    let run = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut local = serde_json::Value::Null;
    if run("full") {
        let got = py_downloads::full(&bench, &py, &mut report);
        local = failed_as_note(&mut report, "full", got).unwrap_or_default();
    }
    if run("rust") {
        let got = rust_downloads::full(&bench, &mut report).await;
        failed_as_note(&mut report, "rust", got);
    }
    if run("http") {
        let got = http_download(&bench, &mut report).await;
        failed_as_note(&mut report, "http", got);
    }
    if run("selective") {
        let got = py_downloads::selective(&bench, &py, &mut report);
        failed_as_note(&mut report, "selective", got);
    }
    if run("sql") {
        let got = flight_sql::measure(&bench, &py, &mut report);
        failed_as_note(&mut report, "sql", got);
    }
    if run("concurrent") {
        let got = rust_downloads::concurrent(&bench, &mut report).await;
        failed_as_note(&mut report, "concurrent", got);
    }
    if run("small") {
        load::small(&bench, &mut report).await;
    }
    if run("first") {
        let got = rust_downloads::first_batch(&bench, &mut report).await;
        failed_as_note(&mut report, "first", got);
    }
    if run("stalled") {
        let got = load::stalled(&bench, &mut report).await;
        failed_as_note(&mut report, "stalled", got);
    }
    // The cache's server runs alone, on the same catalog.
    drop(bench);
    if run("cache") {
        let got = cache::measure(args, &server_bin, &data_dir, &py, &local, &mut report);
        failed_as_note(&mut report, "cache", got);
    }
    Ok(report.render())
}

/// `got`'s value; a failed scenario is named in the report (the run goes on).
fn failed_as_note<T>(report: &mut Report, scenario: &str, got: Result<T>) -> Option<T> {
    match got {
        Ok(value) => Some(value),
        Err(e) => {
            eprintln!("scenario {scenario} failed: {e}");
            report.note(format!("scenario `{scenario}` failed: {e}"));
            None
        }
    }
}

/// Full downloads over the HTTP API against Flight DoGet.
async fn http_download(bench: &Bench<'_>, report: &mut Report) -> Result<()> {
    eprintln!("full download over HTTP …");
    let http_addr = bench
        .laker
        .http_addr
        .as_deref()
        .ok_or("laker-server did not report its HTTP address")?;
    let session = http::login(http_addr, "admin", ADMIN_PASSWORD).await?;
    http_downloads::measure(
        &bench.laker,
        &bench.laker_rust,
        &bench.laker_full,
        &session,
        bench.args.runs,
        report,
    )
    .await
}

/// Creates the namespace, lets the admin read it and registers the files
/// as the dataset.
async fn register(laker: &Target, files: &Path) -> Result<()> {
    client::action(
        laker,
        "create_namespace",
        serde_json::json!({"name": "tpch"}),
    )
    .await?;
    client::action(
        laker,
        "grant",
        serde_json::json!({"user": "admin", "pattern": "tpch.*", "action": "read"}),
    )
    .await?;
    client::action(
        laker,
        "register_dataset",
        serde_json::json!({"name": DATASET, "format": "parquet",
            "location": format!("file://{}/", files.display())}),
    )
    .await
}
