//! The benchmark's report: one Markdown table of figures, each with its
//! baseline from the same run and the ratio between them.

use std::fmt::Write;
use std::time::Duration;

/// The median of `values` (zero when empty).
pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

/// Bytes and rows per second of a download of `sizes` taking `secs`.
fn rate(sizes: &serde_json::Value, secs: f64) -> String {
    let rows = sizes["rows"].as_f64().unwrap_or(0.0);
    let bytes = sizes["bytes"].as_f64().unwrap_or(0.0);
    format!(
        "{:.0} MB/s, {:.2} M rows/s ({secs:.2} s)",
        mb(bytes) / secs.max(1e-9),
        rows / 1e6 / secs.max(1e-9)
    )
}

/// What one Parquet layout is: how many files, of what sizes.
fn layout(files: &[u64]) -> String {
    let total: u64 = files.iter().sum();
    let (smallest, largest) = (
        files.first().copied().unwrap_or(0),
        files.last().copied().unwrap_or(0),
    );
    match files.len() {
        1 => format!("1 Parquet file of {:.1} MB", mb(total as f64)),
        n if smallest == largest => format!(
            "{n} Parquet files of {:.1} MB ({:.1} MB in all)",
            mb(largest as f64),
            mb(total as f64)
        ),
        n => format!(
            "{n} Parquet files of {:.1}–{:.1} MB ({:.1} MB in all)",
            mb(smallest as f64),
            mb(largest as f64),
            mb(total as f64)
        ),
    }
}

/// One line of the table: what was measured, Laker's figure, the
/// baseline's, their ratio, and the servers' peak memory meanwhile.
pub struct Row {
    cells: [String; 4],
    peaks: Option<(u64, Option<u64>)>,
}

impl Row {
    /// The servers' peak resident memory during the measurement (sampled
    /// every 10 ms): Laker's, and the baseline's when the baseline is a server.
    pub fn peaks(&mut self, laker: u64, baseline: Option<u64>) -> &mut Self {
        self.peaks = Some((laker, baseline));
        self
    }

    fn rss(&self) -> String {
        match self.peaks {
            None => "—".into(),
            Some((laker, None)) => format!("{:.0} MB / —", mb(laker as f64)),
            Some((laker, Some(other))) => {
                format!("{:.0} MB / {:.0} MB", mb(laker as f64), mb(other as f64))
            }
        }
    }
}

/// Collected figures.
pub struct Report {
    header: String,
    rows: Vec<Row>,
    notes: Vec<String>,
    file_bytes: u64,
}

impl Report {
    /// A report for a run at `scale` over Parquet files of these sizes
    /// (`files`), with `runs` runs per figure.
    pub fn new(scale: f64, runs: usize, files: &[u64], server_args: &[String]) -> Self {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let header = format!(
            "TPC-H lineitem at scale {scale} as {}; {cores} cores; medians of {runs} runs; \
             ratios are Laker's figure over the baseline's (above 1: Laker is better); \
             peak RSS is each server's resident memory during that measurement, sampled every 10 ms.{}",
            layout(files),
            if server_args.is_empty() {
                String::new()
            } else {
                format!(" Laker settings: `{}`.", server_args.join(", "))
            }
        );
        Self {
            header,
            rows: Vec::new(),
            notes: Vec::new(),
            file_bytes: files.iter().sum(),
        }
    }

    fn push(&mut self, cells: [String; 4]) -> &mut Row {
        let i = self.rows.len();
        self.rows.push(Row { cells, peaks: None });
        &mut self.rows[i]
    }

    /// A line under the table.
    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    /// A measurement this build or setup cannot make, and why.
    pub fn unavailable(&mut self, what: &str, why: &str) {
        self.push([what.to_string(), why.to_string(), "—".into(), "—".into()]);
    }

    /// A download's throughput against a baseline's (same rows).
    pub fn throughput(
        &mut self,
        what: &str,
        sizes: &serde_json::Value,
        laker: &[Duration],
        baseline: &str,
        other: &[Duration],
    ) -> &mut Row {
        self.throughput_each(what, sizes, laker, baseline, sizes, other)
    }

    /// A download's throughput against a baseline's that sent the same rows
    /// in another form: each rate from its own bytes, the ratio from the times.
    pub fn throughput_each(
        &mut self,
        what: &str,
        sizes: &serde_json::Value,
        laker: &[Duration],
        baseline: &str,
        baseline_sizes: &serde_json::Value,
        other: &[Duration],
    ) -> &mut Row {
        let (l, o) = (median(laker).as_secs_f64(), median(other).as_secs_f64());
        self.push([
            what.to_string(),
            rate(sizes, l),
            format!("{baseline}: {}", rate(baseline_sizes, o)),
            format!("{:.2}×", o / l.max(1e-9)),
        ])
    }

    /// Arrow bytes the client received for the full download's rows: from
    /// Laker (GetFlightInfo + endpoints, and one stream) and the pyarrow server.
    pub fn bytes_received(&mut self, rows: u64, [endpoints, one_stream, pyarrow]: [u64; 3]) {
        self.push([
            format!("Full download: Arrow bytes received ({rows} rows, pyarrow.flight client)"),
            format!(
                "{:.1} MB (GetFlightInfo + endpoints), {:.1} MB (one stream)",
                mb(endpoints as f64),
                mb(one_stream as f64)
            ),
            format!("pyarrow.flight server: {:.1} MB", mb(pyarrow as f64)),
            format!("{:.2}×", pyarrow as f64 / (endpoints as f64).max(1.0)),
        ]);
    }

    /// Bytes each server read from the store for one selective download.
    pub fn bytes_read(&mut self, laker: u64, pyarrow: u64, rows: u64) {
        let share = |b: u64| 100.0 * b as f64 / self.file_bytes.max(1) as f64;
        let cells = [
            format!("Selective download: bytes read from the store ({rows} rows sent)"),
            format!(
                "{:.1} MB ({:.1}% of the files)",
                mb(laker as f64),
                share(laker)
            ),
            format!(
                "pyarrow.flight server: {:.1} MB ({:.1}%)",
                mb(pyarrow as f64),
                share(pyarrow)
            ),
            format!("{:.2}×", pyarrow as f64 / (laker as f64).max(1.0)),
        ];
        self.push(cells);
    }

    /// Peak resident memory of both servers over the whole run.
    pub fn memory(&mut self, laker: u64, pyarrow: u64) {
        self.push([
            "Server peak RSS over the run".into(),
            format!("{:.0} MB", mb(laker as f64)),
            format!("pyarrow.flight server: {:.0} MB", mb(pyarrow as f64)),
            format!("{:.2}×", pyarrow as f64 / (laker as f64).max(1.0)),
        ]);
    }

    /// Laker's peak resident memory (sampled) during its HTTP downloads and
    /// during its Flight DoGet downloads of the same data.
    pub fn http_memory(&mut self, http: u64, flight: u64) {
        self.push([
            "Server peak RSS during the HTTP downloads (sampled every 10 ms)".into(),
            format!("{:.0} MB", mb(http as f64)),
            format!(
                "during the Flight DoGet downloads: {:.0} MB",
                mb(flight as f64)
            ),
            format!("{:.2}×", flight as f64 / (http as f64).max(1.0)),
        ]);
    }

    /// Stalled downloads: admitted and refused streams, memory held, and
    /// memory once their clients left (all Laker; a pyarrow server has no
    /// budget to compare with).
    pub fn stalled(
        &mut self,
        n: usize,
        (open, refused): (usize, usize),
        [before, held, after]: [u64; 3],
    ) {
        self.push([
            format!("{n} stalled full downloads (one stream each, first batch read, then no reads)"),
            format!(
                "{open} open, {refused} refused; server RSS {:.0} MB → {:.0} MB with them → {:.0} MB after they left",
                mb(before as f64),
                mb(held as f64),
                mb(after as f64)
            ),
            "—".into(),
            "—".into(),
        ]);
    }

    /// Small downloads: errors and latency percentiles.
    pub fn small(
        &mut self,
        (n, at_once): (usize, usize),
        how: &str,
        latencies: &[Duration],
        errors: &[String],
    ) -> &mut Row {
        let mut sorted = latencies.to_vec();
        sorted.sort();
        if let Some(first) = errors.first() {
            self.notes
                .push(format!("first small-download error ({how}): {first}"));
        }
        self.push([
            if at_once >= n {
                format!(
                    "{n} small downloads at once ({how} + GetFlightInfo + DoGet of ≤1,000 rows)"
                )
            } else {
                format!(
                    "{n} small downloads, {at_once} at a time ({how} + GetFlightInfo + DoGet of \
                     ≤1,000 rows)"
                )
            },
            format!(
                "{} errors; p50 {:.0} ms, p99 {:.0} ms",
                errors.len(),
                percentile(&sorted, 0.5).as_secs_f64() * 1e3,
                percentile(&sorted, 0.99).as_secs_f64() * 1e3
            ),
            "—".into(),
            "—".into(),
        ])
    }

    /// Time to first batch.
    pub fn first_batch(&mut self, laker: Duration, pyarrow: Duration) {
        self.push([
            "Time to first batch, full dataset (GetFlightInfo + first DoGet batch)".into(),
            format!("{:.1} ms", laker.as_secs_f64() * 1e3),
            format!(
                "pyarrow.flight server: {:.1} ms",
                pyarrow.as_secs_f64() * 1e3
            ),
            format!(
                "{:.2}×",
                pyarrow.as_secs_f64() / laker.as_secs_f64().max(1e-9)
            ),
        ]);
    }

    /// The Markdown report.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}\n\n| measurement | Laker | baseline | ratio | peak RSS, Laker / baseline |\n\
             |---|---|---|---|---|\n",
            self.header
        );
        for row in &self.rows {
            let [a, b, c, d] = &row.cells;
            let _ = writeln!(out, "| {a} | {b} | {c} | {d} | {} |", row.rss());
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }
}
