//! Fuzzing Laker: targets for every decoder a client reaches ([`targets`]),
//! a structure-aware generator ([`generate`]), an in-process server for the
//! targets that need one ([`harness`]), and [`drive`], which runs them —
//! a bounded run in the test suite, long runs from the `laker-fuzz` binary.

pub mod generate;
pub mod harness;
pub mod targets;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generate::Mutator;
use harness::Harness;
use targets::Target;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Inputs run, per target.
    pub inputs: Vec<(Target, u64)>,
    /// The slowest input's time, per target.
    pub slowest: Vec<(Target, Duration)>,
}

impl Report {
    /// Inputs run in all.
    pub fn total(&self) -> u64 {
        self.inputs.iter().map(|(_, n)| n).sum()
    }
}

/// The input running now, with its target and start (for the watchdog).
type Running = Arc<Mutex<Option<(Target, Vec<u8>, Instant)>>>;

/// How long one input may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// Runs each of `targets` for `inputs` inputs or until `deadline` passes,
/// with generator seed `seed`. An input that panics stops the run with the
/// input printed (hex) and saved under `findings` (if given); one that
/// takes longer than [`HANG`] aborts the process the same way (a watchdog
/// thread), so hangs cannot pass unnoticed.
pub fn drive(
    targets: &[Target],
    inputs: u64,
    deadline: Option<Instant>,
    seed: u64,
    findings: Option<&std::path::Path>,
) -> Report {
    // The server does request work on threads of this stack size; inputs
    // run on one too, so the fuzzer sees the depths the server would.
    std::thread::scope(|scope| {
        let run = std::thread::Builder::new()
            .name("fuzz".into())
            .stack_size(laker_flight_server::WORKER_STACK_BYTES)
            .spawn_scoped(scope, || {
                drive_here(targets, inputs, deadline, seed, findings)
            });
        match run.map(|handle| handle.join()) {
            Ok(Ok(report)) => report,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(e) => panic!("cannot start the fuzzing thread: {e}"),
        }
    })
}

fn drive_here(
    targets: &[Target],
    inputs: u64,
    deadline: Option<Instant>,
    seed: u64,
    findings: Option<&std::path::Path>,
) -> Report {
    let harness = targets
        .iter()
        .any(|t| t.needs_server())
        .then(Harness::start);
    let current: Running = Arc::default();
    let stop = Arc::new(AtomicU64::new(0));
    let watchdog = {
        let current = Arc::clone(&current);
        let stop = Arc::clone(&stop);
        let findings = findings.map(std::path::Path::to_path_buf);
        std::thread::spawn(move || {
            while stop.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_millis(200));
                let slow = current
                    .lock()
                    .ok()
                    .and_then(|c| c.as_ref().filter(|(_, _, t)| t.elapsed() > HANG).cloned());
                if let Some((target, input, _)) = slow {
                    report_finding("hang", target, &input, findings.as_deref());
                    std::process::abort();
                }
            }
        })
    };
    let trace = std::env::var_os("LAKER_FUZZ_TRACE").map(std::path::PathBuf::from);
    let mut report = Report::default();
    for (i, target) in targets.iter().enumerate() {
        let mut mutator = Mutator::new(*target, seed.wrapping_add(i as u64));
        let mut count = 0;
        let mut slowest = Duration::ZERO;
        while count < inputs && deadline.is_none_or(|d| Instant::now() < d) {
            let input = mutator.next_input();
            if let Some(trace) = &trace {
                // A stack overflow aborts without unwinding: the input that
                // did it is the one left in this file.
                let _ = std::fs::write(trace, &input);
            }
            if let Ok(mut c) = current.lock() {
                *c = Some((*target, input.clone(), Instant::now()));
            }
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                targets::run(*target, &input, harness.as_ref())
            }));
            slowest = slowest.max(started.elapsed());
            if outcome.is_err() {
                report_finding("panic", *target, &input, findings);
                stop.store(1, Ordering::Relaxed);
                panic!("target {target:?} panicked on an input (see above)");
            }
            count += 1;
        }
        report.inputs.push((*target, count));
        report.slowest.push((*target, slowest));
    }
    stop.store(1, Ordering::Relaxed);
    let _ = watchdog.join();
    report
}

fn report_finding(kind: &str, target: Target, input: &[u8], dir: Option<&std::path::Path>) {
    let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!(
        "laker-fuzz: {kind} in target {target:?} on input ({} bytes): {hex}",
        input.len()
    );
    if let Some(dir) = dir {
        let _ = std::fs::create_dir_all(dir);
        let path = dir.join(format!("{kind}-{target:?}-{}.bin", input.len()));
        if std::fs::write(&path, input).is_ok() {
            eprintln!("laker-fuzz: saved as {}", path.display());
        }
    }
}
