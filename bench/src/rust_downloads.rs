//! Downloads with the Rust client (arrow-flight), Laker against the
//! pyarrow server: the whole dataset (every endpoint on its own
//! connection), many clients at once, and the time to the first batch.

use arrow_flight::FlightDescriptor;

use crate::CONCURRENT_COLUMNS;
use crate::bench::Bench;
use crate::client::{self, Received};
use crate::report::{Report, median};
use crate::result::Result;

/// The full download, `runs` times each.
pub async fn full(b: &Bench<'_>, report: &mut Report) -> Result<()> {
    eprintln!("full download, Rust client …");
    let (mut laker, mut pyarrow) = (Vec::new(), Vec::new());
    let (mut laker_peak, mut pyarrow_peak) = (0, 0);
    let mut got = Received::default();
    for run in 0..b.args.runs {
        let (done, peak) = b
            .laker
            .peak_while_async(client::download(&b.laker_rust, &b.laker_full, None))
            .await;
        let (g, d) = done?;
        got = g;
        laker.push(d);
        laker_peak = peak.max(laker_peak);
        if run > 0 {
            // Once: the pyarrow server reads each file whole per stream and
            // holds ~20 GB with 32 clients on 8 files; again, it can run
            // this machine out of memory.
            continue;
        }
        let (done, peak) = b
            .pyarrow
            .peak_while_async(client::download(&b.pyarrow_rust, &b.pyarrow_full, None))
            .await;
        pyarrow.push(done?.1);
        pyarrow_peak = peak.max(pyarrow_peak);
    }
    let sizes = serde_json::json!({"rows": got.rows, "bytes": got.bytes});
    report
        .throughput(
            "Full download, Rust arrow-flight client",
            &sizes,
            &laker,
            "pyarrow.flight server",
            &pyarrow,
        )
        .peaks(laker_peak, Some(pyarrow_peak));
    Ok(())
}

/// `--clients` clients at once, each downloading 4 columns; then both
/// servers' peak memory over the whole run so far.
pub async fn concurrent(b: &Bench<'_>, report: &mut Report) -> Result<()> {
    let clients = b.args.clients;
    eprintln!("{clients} clients at once …");
    let spec = serde_json::json!({"dataset": crate::DATASET, "columns": CONCURRENT_COLUMNS});
    let descriptor = FlightDescriptor::new_cmd(spec.to_string());
    let extra = serde_json::json!({"columns": CONCURRENT_COLUMNS});
    let (mut laker, mut pyarrow) = (Vec::new(), Vec::new());
    let (mut laker_peak, mut pyarrow_peak) = (0, 0);
    let mut got = Received::default();
    for run in 0..b.args.runs {
        let (done, peak) = b
            .laker
            .peak_while_async(client::concurrent(
                &b.laker_rust,
                clients,
                &descriptor,
                None,
            ))
            .await;
        let (g, d) = done?;
        got = g;
        laker.push(d);
        laker_peak = peak.max(laker_peak);
        if run > 0 {
            // Once: the pyarrow server reads each file whole per stream and
            // holds ~20 GB with 32 clients on 8 files; again, it can run
            // this machine out of memory.
            continue;
        }
        let (done, peak) = b
            .pyarrow
            .peak_while_async(client::concurrent(
                &b.pyarrow_rust,
                clients,
                &b.pyarrow_full,
                Some(&extra),
            ))
            .await;
        pyarrow.push(done?.1);
        pyarrow_peak = peak.max(pyarrow_peak);
    }
    let sizes = serde_json::json!({"rows": got.rows, "bytes": got.bytes});
    report
        .throughput(
            &format!("{clients} concurrent clients (4 columns each), aggregate, Rust client"),
            &sizes,
            &laker,
            "pyarrow.flight server",
            &pyarrow,
        )
        .peaks(laker_peak, Some(pyarrow_peak));
    report.memory(b.laker.peak_rss(), b.pyarrow.peak_rss());
    if b.args.runs > 1 {
        report.note(format!(
            "{clients} concurrent clients: the pyarrow server is measured once (it holds each \
             file whole per stream; repeated, it can run the machine out of memory)"
        ));
    }
    Ok(())
}

/// Time from GetFlightInfo to the first batch of the whole dataset.
pub async fn first_batch(b: &Bench<'_>, report: &mut Report) -> Result<()> {
    eprintln!("time to first batch …");
    let (mut laker, mut pyarrow) = (Vec::new(), Vec::new());
    for _ in 0..b.args.runs.max(5) {
        laker.push(client::first_batch(&b.laker_rust, &b.laker_full).await?);
        pyarrow.push(client::first_batch(&b.pyarrow_rust, &b.pyarrow_full).await?);
    }
    report.first_batch(median(&laker), median(&pyarrow));
    Ok(())
}
