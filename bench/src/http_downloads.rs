//! The "HTTP download" section: the whole dataset over the HTTP API as
//! Arrow and as Parquet (Snappy, and not compressed), against Flight DoGet of the same dataset (Rust
//! arrow-flight client) measured in the same runs, with the server's peak
//! memory during each kind of download.

use arrow_flight::FlightDescriptor;

use crate::client::{self, Received, Target};
use crate::http::{self, Format, Session};
use crate::procs::Proc;
use crate::report::Report;
use crate::result::Result;

const BASELINE: &str = "Flight DoGet (Rust client)";
const FORMATS: [Format; 3] = [Format::Arrow, Format::Parquet, Format::ParquetUncompressed];

/// Measures `runs` downloads of `descriptor`'s dataset each way, in turns,
/// checks every HTTP download sent the rows Flight did, and reports them.
pub async fn measure(
    laker: &Proc,
    flight: &Target,
    descriptor: &FlightDescriptor,
    session: &Session,
    runs: usize,
    report: &mut Report,
) -> Result<()> {
    let dataset = descriptor.path.join(".");
    let mut flight_times = Vec::new();
    let mut flight_got = Received::default();
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let mut got = [http::Got::default(); 3];
    let (mut flight_peak, mut http_peak) = (0u64, 0u64);
    for _ in 0..runs {
        let watch = laker.watch_rss();
        let (g, d) = client::download(flight, descriptor, None).await?;
        flight_peak = flight_peak.max(watch.stop());
        flight_got = g;
        flight_times.push(d);
        for (i, format) in FORMATS.into_iter().enumerate() {
            let watch = laker.watch_rss();
            let (g, d) = http::download(session, &dataset, format).await?;
            http_peak = http_peak.max(watch.stop());
            if let Some(rows) = g.rows
                && rows != flight_got.rows
            {
                return Err(format!(
                    "the HTTP download as {} sent {rows} rows, Flight DoGet {}",
                    format.name(),
                    flight_got.rows
                )
                .into());
            }
            got[i] = g;
            times[i].push(d);
        }
    }
    let flight_sizes = serde_json::json!({"rows": flight_got.rows, "bytes": flight_got.bytes});
    for ((format, g), t) in FORMATS.into_iter().zip(got).zip(&times) {
        let sizes =
            serde_json::json!({"rows": g.rows.unwrap_or(flight_got.rows), "bytes": g.bytes});
        report.throughput_each(
            &format!(
                "Full download over HTTP, format={} (Rust reqwest client; {:.1} MB as sent)",
                format.name(),
                g.bytes as f64 / 1e6
            ),
            &sizes,
            t,
            BASELINE,
            &flight_sizes,
            &flight_times,
        );
    }
    report.http_memory(http_peak, flight_peak);
    Ok(())
}
