//! The `commits` scenario, run only when named (`--only commits`): a
//! laker-server of its own, on a fresh data directory, takes `--commits`
//! small uploads (one DoPut of a few rows each, one Delta commit each) into
//! one table, planning a download of it (GetFlightInfo) every 100 commits
//! as a reader would. After a tenth, half and all of them the whole table
//! is downloaded and the server's resident memory read: with checkpoints,
//! what a load reads stays bounded however long the log grows, and the
//! memory should stay flat apart from the table's current files.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightDescriptor;
use arrow_flight::encode::FlightDataEncoderBuilder;
use futures::TryStreamExt;

use crate::client::{self, Target};
use crate::procs;
use crate::result::Result;
use crate::{ADMIN_PASSWORD, Args};

/// Rows each commit adds.
const ROWS_PER_COMMIT: u64 = 10;
/// Commits between two plans of a download of the whole table.
const PLAN_EVERY: u64 = 100;

/// One reading: after how many commits, and what was seen.
struct Mark {
    commits: u64,
    rss: u64,
    rows: u64,
    checkpoint: Option<u64>,
    ms_per_commit: f64,
}

/// Makes the commits, reads memory at the marks; returns the report.
pub async fn run(args: &Args) -> Result<String> {
    let server_bin = std::env::current_exe()?.with_file_name("laker-server");
    let data_dir = args.work_dir.join("commits");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let data_dir = data_dir.canonicalize()?;
    let laker = procs::laker_server(&server_bin, &data_dir, &args.server_arg)?;
    procs::create_admin(&server_bin, &data_dir, ADMIN_PASSWORD)?;
    let token = client::login(&laker.addr, "admin", ADMIN_PASSWORD).await?;
    let target = Target {
        addr: laker.addr.clone(),
        token: Some(token),
        headers: Vec::new(),
    };
    client::action(
        &target,
        "create_namespace",
        serde_json::json!({"name": "soak"}),
    )
    .await?;
    client::action(
        &target,
        "grant",
        serde_json::json!({"user": "admin", "pattern": "soak.*", "action": "write"}),
    )
    .await?;
    let descriptor = FlightDescriptor::new_path(vec!["soak".into(), "events".into()]);
    let log = data_dir.join("lake/soak/events/_delta_log");
    let n = args.commits;
    let marks = [n / 10, n / 2, n];
    eprintln!("{n} commits to one table …");
    let idle = laker.rss();
    let mut readings = Vec::new();
    let mut uploader = client::client(&target).await?;
    let (mut since, mut previous) = (Instant::now(), 0);
    for i in 0..n {
        let mode = if i == 0 { "create" } else { "append" };
        uploader.add_header("x-laker-upload-mode", mode)?;
        let data = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(descriptor.clone()))
            .build(futures::stream::iter(vec![Ok(batch(i)?)]));
        let _: Vec<_> = uploader.do_put(data).await?.try_collect().await?;
        let done = i + 1;
        if done % PLAN_EVERY == 0 {
            // As a reader would: the server brings its copy of the table up to date.
            uploader.get_flight_info(descriptor.clone()).await?;
        }
        if !marks.contains(&done) {
            continue;
        }
        let ms_per_commit = since.elapsed().as_secs_f64() * 1e3 / (done - previous) as f64;
        let (got, _) = client::download(&target, &descriptor, None).await?;
        if got.rows != done * ROWS_PER_COMMIT {
            return Err(format!(
                "after {done} commits the table has {} rows, not {}",
                got.rows,
                done * ROWS_PER_COMMIT
            )
            .into());
        }
        let rss = laker.rss();
        eprintln!("{done} commits: server RSS {:.0} MB", mb(rss));
        readings.push(Mark {
            commits: done,
            rss,
            rows: got.rows,
            checkpoint: last_checkpoint(&log),
            ms_per_commit,
        });
        (since, previous) = (Instant::now(), done);
    }
    Ok(report(n, idle, &readings, &args.server_arg))
}

/// The rows of commit `i`: ids `i * ROWS_PER_COMMIT ..`.
fn batch(i: u64) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let first = i64::try_from(i * ROWS_PER_COMMIT)?;
    let ids = Int64Array::from_iter_values(first..first + ROWS_PER_COMMIT as i64);
    Ok(RecordBatch::try_new(schema, vec![Arc::new(ids)])?)
}

/// The version `_last_checkpoint` names in the table's log.
fn last_checkpoint(log: &Path) -> Option<u64> {
    let hint = std::fs::read(log.join("_last_checkpoint")).ok()?;
    serde_json::from_slice::<serde_json::Value>(&hint).ok()?["version"].as_u64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The Markdown report of the readings.
fn report(n: u64, idle: u64, readings: &[Mark], server_args: &[String]) -> String {
    use std::fmt::Write;
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let mut out = format!(
        "{n} commits to one Delta table (`soak.events`), one DoPut of {ROWS_PER_COMMIT} rows \
         each, one at a time; {cores} cores; server RSS read after a full download of the \
         table at each mark (before the first commit: {:.0} MB).{}\n\n\
         | commits | server RSS | rows downloaded | newest checkpoint | ms per commit since the previous mark (with the plans) |\n\
         |---|---|---|---|---|\n",
        mb(idle),
        if server_args.is_empty() {
            String::new()
        } else {
            format!(" Laker settings: `{}`.", server_args.join(", "))
        }
    );
    for m in readings {
        let checkpoint = m
            .checkpoint
            .map_or_else(|| "none".to_string(), |v| format!("version {v}"));
        let _ = writeln!(
            out,
            "| {} | {:.0} MB | {} | {checkpoint} | {:.1} |",
            m.commits,
            mb(m.rss),
            m.rows,
            m.ms_per_commit
        );
    }
    out
}
