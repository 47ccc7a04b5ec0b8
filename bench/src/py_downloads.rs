//! Downloads with the Python client (pyarrow.flight): the whole dataset in
//! one stream and as GetFlightInfo + endpoints on parallel threads, against
//! the pyarrow server and a local read, and the Arrow bytes each sent; and
//! the selective download (3 columns, ~10% of the rows) with the bytes each
//! server read.

use serde_json::{Value, json};

use crate::bench::Bench;
use crate::py::{PyClient, bytes, rows, same_rows, secs};
use crate::report::Report;
use crate::result::Result;
use crate::{DATASET, SELECTIVE_BEFORE, SELECTIVE_COLUMNS};

const LOCAL: &str = "local pyarrow.parquet.read_table";

/// The full download each way; returns the local read's result (the cache
/// scenario's baseline).
pub fn full(b: &Bench<'_>, py: &PyClient, report: &mut Report) -> Result<Value> {
    eprintln!("full download, Python client …");
    let (one, one_peak) = b
        .laker
        .peak_while(|| py.flight(&b.laker_py, json!({"ticket": {"dataset": DATASET}})));
    let one = one?;
    let (endpoints, endpoints_peak) = b
        .laker
        .peak_while(|| py.flight(&b.laker_py, json!({"path": ["tpch", "lineitem"]})));
    let endpoints = endpoints?;
    let (pyarrow, pyarrow_peak) = b
        .pyarrow
        .peak_while(|| py.flight(&b.pyarrow_py, json!({"path": ["lineitem"]})));
    let pyarrow = pyarrow?;
    let local = py.local(&b.files)?;
    let baseline = format!("pyarrow.flight server ({} endpoints)", pyarrow["endpoints"]);
    same_rows("full download, one stream", &one, &baseline, &pyarrow)?;
    same_rows("full download, endpoints", &endpoints, &baseline, &pyarrow)?;
    same_rows("full download, endpoints", &endpoints, LOCAL, &local)?;

    report
        .throughput(
            "Full download, one stream (DoGet of the spec ticket), pyarrow.flight client",
            &one,
            &secs(&one),
            &baseline,
            &secs(&pyarrow),
        )
        .peaks(one_peak, Some(pyarrow_peak));
    let what = format!(
        "Full download, GetFlightInfo + {} endpoints on parallel threads, pyarrow.flight client",
        endpoints["endpoints"]
    );
    report
        .throughput(
            &what,
            &endpoints,
            &secs(&endpoints),
            &baseline,
            &secs(&pyarrow),
        )
        .peaks(endpoints_peak, Some(pyarrow_peak));
    report
        .throughput(&what, &endpoints, &secs(&endpoints), LOCAL, &secs(&local))
        .peaks(endpoints_peak, None);
    report.bytes_received(
        rows(&endpoints),
        [bytes(&endpoints), bytes(&one), bytes(&pyarrow)],
    );
    Ok(local)
}

/// The selective download: 3 columns, ~10% of the rows; and the bytes each
/// server read from the files for it.
pub fn selective(b: &Bench<'_>, py: &PyClient, report: &mut Report) -> Result<()> {
    eprintln!("selective download …");
    let spec = json!({"dataset": DATASET, "columns": SELECTIVE_COLUMNS,
        "filter": format!("l_shipdate < DATE '{SELECTIVE_BEFORE}'")});
    let extra =
        json!({"columns": SELECTIVE_COLUMNS, "filter": ["l_shipdate", "<", SELECTIVE_BEFORE]});
    let runs = py.runs.max(1) as u64;
    let before = b.laker.bytes_read();
    let (laker, laker_peak) = b
        .laker
        .peak_while(|| py.flight(&b.laker_py, json!({"command": spec})));
    let laker = laker?;
    let laker_read = b.laker.bytes_read().saturating_sub(before) / runs;
    let before = b.pyarrow.bytes_read();
    let (pyarrow, pyarrow_peak) = b.pyarrow.peak_while(|| {
        py.flight(
            &b.pyarrow_py,
            json!({"path": ["lineitem"], "ticket_extra": extra}),
        )
    });
    let pyarrow = pyarrow?;
    let pyarrow_read = b.pyarrow.bytes_read().saturating_sub(before) / runs;
    same_rows("selective download", &laker, "the pyarrow server", &pyarrow)?;
    report
        .throughput(
            "Selective download (3 columns, ~10% of rows), pyarrow.flight client",
            &laker,
            &secs(&laker),
            "pyarrow.flight server",
            &secs(&pyarrow),
        )
        .peaks(laker_peak, Some(pyarrow_peak));
    report.bytes_read(laker_read, pyarrow_read, rows(&laker));
    Ok(())
}
