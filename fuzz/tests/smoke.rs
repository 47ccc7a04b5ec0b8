//! A bounded fuzz run for the test suite: every target, a few thousand
//! generated inputs each (seconds), no panic, no hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use laker_fuzz::targets::Target;

#[test]
fn decoders_survive_generated_inputs() {
    let pure: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| !t.needs_server())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = laker_fuzz::drive(&pure, 3_000, Some(deadline), 17, None);
    for (target, n) in &report.inputs {
        assert!(*n > 0, "{target:?} ran no input");
    }
}

#[test]
fn the_server_survives_generated_requests() {
    let served: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| t.needs_server())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = laker_fuzz::drive(&served, 300, Some(deadline), 23, None);
    for (target, n) in &report.inputs {
        assert!(*n > 0, "{target:?} ran no input");
    }
}

/// Differential: whatever arrow-rs writes (every accepted type, sliced,
/// with and without compression), the checked decoder accepts and decodes
/// to the same batch.
#[test]
fn the_checks_accept_what_arrow_writes() {
    use arrow::ipc::CompressionType;
    use laker_ingest::inbound::{Decoder, Limits};
    for codec in [
        None,
        Some(CompressionType::LZ4_FRAME),
        Some(CompressionType::ZSTD),
    ] {
        for batch in laker_fuzz::generate::batches() {
            let framed = laker_fuzz::generate::frame(&batch, codec);
            let mut decoder = Decoder::new(Limits::default());
            let mut decoded = Vec::new();
            for message in laker_fuzz::targets::messages(&framed) {
                match decoder.push(&message) {
                    Ok(Some(b)) => decoded.push(b),
                    Ok(None) => {}
                    Err(e) => panic!("{codec:?} {:?}: refused: {e}", batch.schema()),
                }
            }
            assert_eq!(decoded.len(), 1, "{codec:?} {:?}", batch.schema());
            assert_eq!(decoded[0], batch, "{codec:?}");
        }
    }
    assert_eq!(laker_ingest::inbound::caught_panics(), 0);
}
