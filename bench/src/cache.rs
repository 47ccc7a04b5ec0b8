//! The result cache: a second laker-server, started with
//! `--result-cache-mb` over the same catalog and files, downloads the whole
//! dataset (GetFlightInfo + endpoints on parallel threads, Python client)
//! once cold (a miss), once more (the second sighting, which stores the
//! results), then `--runs` times warm; warm against the local read and
//! against cold.

use std::path::Path;

use serde_json::{Value, json};

use crate::Args;
use crate::procs;
use crate::py::{PyClient, PyServer, same_rows, secs};
use crate::report::Report;
use crate::result::Result;

const FLAG: &str = "--result-cache-mb";
const LOCAL: &str = "local pyarrow.parquet.read_table";

/// Measures the cache, or reports that this build has none; `local` is the
/// local read's result from the same run.
pub fn measure(
    args: &Args,
    server_bin: &Path,
    data_dir: &Path,
    py: &PyClient,
    local: &Value,
    report: &mut Report,
) -> Result<()> {
    if !procs::accepts_flag(server_bin, FLAG) {
        report.unavailable(
            &format!("Full download from the result cache (`{FLAG}`)"),
            "cache: not available in this build",
        );
        return Ok(());
    }
    eprintln!("result cache …");
    let mut server_args = args.server_arg.clone();
    if !server_args.iter().any(|a| a.starts_with(FLAG)) {
        server_args.push(format!("{FLAG}={}", args.cache_mb));
    }
    let laker = procs::laker_server(server_bin, data_dir, &server_args)?;
    let server = PyServer::laker(&laker.addr, &args.laker_header);
    let py = py.with_runs(py.runs + 2);
    let (got, peak) =
        laker.peak_while(|| py.flight(&server, json!({"path": ["tpch", "lineitem"]})));
    let got = got?;
    same_rows("full download from the cache", &got, LOCAL, local)?;
    let seconds = secs(&got);
    let [cold, second, warm @ ..] = seconds.as_slice() else {
        return Err("the Python client reported fewer runs than it was asked for".into());
    };
    let setting = server_args
        .iter()
        .find(|a| a.starts_with(FLAG))
        .cloned()
        .unwrap_or_default();
    report
        .throughput(
            &format!(
                "Full download from the result cache, warm (GetFlightInfo + {} endpoints, \
                 pyarrow.flight client; `{setting}`)",
                got["endpoints"]
            ),
            &got,
            warm,
            LOCAL,
            &secs(local),
        )
        .peaks(peak, None);
    report
        .throughput(
            "Result cache: warm against cold (the first download, a miss)",
            &got,
            warm,
            "cold",
            &[*cold],
        )
        .peaks(peak, None);
    report.note(format!(
        "Result cache: the second download (the second sighting of each partition, \
         which stores it) took {:.2} s; peak RSS is over all {} downloads.",
        second.as_secs_f64(),
        seconds.len()
    ));
    Ok(())
}
