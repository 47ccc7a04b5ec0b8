//! Fixtures of the golden plan tests: the test lake, the engine built as
//! the server builds it, reading plans and their rows, reviewed snapshots,
//! and the case runner tying them together.

pub mod case;
pub mod engine;
pub mod inspect;
pub mod lake;
pub mod snapshot;
