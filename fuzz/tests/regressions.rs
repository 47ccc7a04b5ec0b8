//! Inputs of past fuzz findings, each run through its target: they must be
//! refused, not crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use laker_fuzz::generate::{EXPR_REGRESSIONS, IPC_REGRESSIONS};
use laker_fuzz::targets::{self, Target};

#[test]
fn past_ipc_findings_are_refused_without_a_panic() {
    for input in IPC_REGRESSIONS {
        let outcome = std::panic::catch_unwind(|| targets::run(Target::Ipc, input, None));
        assert!(outcome.is_ok(), "a past finding panics again");
    }
}

#[test]
fn past_expr_findings_are_refused_without_a_panic() {
    // A stack overflow aborts this test binary: it cannot pass silently.
    for input in EXPR_REGRESSIONS {
        let outcome = std::panic::catch_unwind(|| targets::run(Target::Expr, input, None));
        assert!(outcome.is_ok(), "a past finding panics again");
    }
}
