//! `laker-fuzz`: runs the fuzz targets for a number of inputs or a time.
//!
//! ```sh
//! cargo run --release -p laker-fuzz -- --inputs 1000000 --seed 1
//! cargo run --release -p laker-fuzz -- --target sql --minutes 30
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use laker_fuzz::targets::Target;

/// Fuzzes Laker's decoders and request paths.
#[derive(Debug, Parser)]
struct Args {
    /// Targets to run (repeatable) [default: all].
    #[arg(long = "target", value_enum)]
    targets: Vec<Target>,
    /// Inputs per target.
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// Stop each target after this many minutes (split evenly).
    #[arg(long)]
    minutes: Option<u64>,
    /// Generator seed (runs are repeatable).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where inputs that crash or hang are saved.
    #[arg(long, default_value = "fuzz/findings")]
    findings: std::path::PathBuf,
}

fn main() {
    let args = Args::parse();
    let targets = if args.targets.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.targets
    };
    let started = Instant::now();
    let deadline = args
        .minutes
        .map(|m| started + Duration::from_secs(m.saturating_mul(60)));
    let mut total = 0;
    for target in &targets {
        let per_target = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Instant::now() + left / (targets.len() as u32).max(1)
        });
        let report = laker_fuzz::drive(
            &[*target],
            args.inputs,
            per_target,
            args.seed,
            Some(&args.findings),
        );
        for ((t, n), (_, slowest)) in report.inputs.iter().zip(&report.slowest) {
            println!(
                "{t:?}: {n} inputs, 0 crashes, 0 hangs, slowest {} ms",
                slowest.as_millis()
            );
        }
        total += report.total();
    }
    println!(
        "all targets: {total} inputs in {} s, 0 crashes, 0 hangs",
        started.elapsed().as_secs()
    );
}
