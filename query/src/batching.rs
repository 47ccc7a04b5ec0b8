//! Large batches for the downloads that can use them.
//!
//! A scan in batches of `--batch-size` rows (8,192) pays per batch to
//! decode, convert and encode; a full download runs faster in batches of
//! tens of thousands of rows. But a stream holds a few batches in flight,
//! so large batches are a bounded resource ([`LargeBatches`]): at most
//! `--large-batch-streams` streams hold them at once, each reserving
//! [`LARGE_BATCH_HOLD`] more of the memory budget, and only for plans
//! whose statistics give the row width (a batch aims at
//! [`LARGE_BATCH_BYTES`]) and that call no functions and hold no constant
//! or cast to a fixed-size type that, copied into every row of a large
//! batch, would exceed `--max-batch-mb` (the plan guard's bounds assume
//! `--batch-size`).

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{CastExpr, Literal, TryCastExpr};
use datafusion::physical_plan::ExecutionPlan;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::functions::estimate::fixed_width;

/// Bytes a large batch aims at (by the statistics' row width).
pub const LARGE_BATCH_BYTES: usize = 8 << 20;

/// Memory a stream reading large batches reserves besides its base: the
/// batches it decodes, converts and encodes at once.
pub const LARGE_BATCH_HOLD: usize = 6 * LARGE_BATCH_BYTES;

/// The least rows a large batch has (narrower rows than the statistics
/// say would only make it smaller than it should be).
const MIN_LARGE_ROWS: usize = 16_384;

/// The server's large-batch permits.
#[derive(Debug)]
pub struct LargeBatches {
    permits: Arc<Semaphore>,
    max_rows: usize,
}

/// A stream's permit to read in batches of `rows` rows; returned when dropped.
#[derive(Debug)]
pub struct LargeBatch {
    _permit: OwnedSemaphorePermit,
    /// Rows per batch.
    pub rows: usize,
}

impl LargeBatches {
    /// At most `streams` streams at once read batches of up to `max_rows`
    /// rows (`--large-batch-streams`, `--large-batch-size`); none when
    /// either is 0.
    pub fn new(max_rows: usize, streams: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(if max_rows == 0 { 0 } else { streams })),
            max_rows,
        }
    }

    /// A permit for a stream whose plan may be read in batches of
    /// `rows_for(max_rows)` rows (`None`: it may not), if one is free now.
    pub fn take(&self, rows_for: impl FnOnce(usize) -> Option<usize>) -> Option<LargeBatch> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok()?;
        let rows = rows_for(self.max_rows)?;
        Some(LargeBatch {
            _permit: permit,
            rows,
        })
    }

    /// Permits free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Rows per batch for `(rows, bytes)` estimated from statistics: about
/// [`LARGE_BATCH_BYTES`] of rows, at most `max_rows`. `None` when the
/// statistics do not give the row width.
pub fn rows_for((rows, bytes): (Option<u64>, Option<u64>), max_rows: usize) -> Option<usize> {
    let (rows, bytes) = (rows?, bytes?);
    if rows == 0 || max_rows == 0 {
        return None;
    }
    let width = (bytes / rows).max(1);
    let fit = usize::try_from(LARGE_BATCH_BYTES as u64 / width).unwrap_or(usize::MAX);
    let rows = usize::try_from(rows).unwrap_or(usize::MAX);
    Some(fit.clamp(MIN_LARGE_ROWS.min(max_rows), max_rows).min(rows))
}

/// True when `plan` calls no function and none of its constants or
/// fixed-size casts, copied into each of `rows` rows, exceeds
/// `max_batch_bytes`.
pub fn plain(plan: &Arc<dyn ExecutionPlan>, rows: usize, max_batch_bytes: u64) -> bool {
    let max_literal = max_batch_bytes / rows.max(1) as u64;
    let mut plain = true;
    let walked = plan.apply(|node| {
        node.apply_expressions(&mut |root| {
            root.apply(|e| {
                let cast = e
                    .downcast_ref::<CastExpr>()
                    .map(CastExpr::cast_type)
                    .or_else(|| e.downcast_ref::<TryCastExpr>().map(TryCastExpr::cast_type));
                let fits = if let Some(literal) = e.downcast_ref::<Literal>() {
                    literal.value().size() as u64 <= max_literal
                } else if let Some(to) = cast {
                    fixed_width(to) <= max_literal
                } else {
                    !e.is::<ScalarFunctionExpr>()
                };
                plain &= fits;
                Ok(if fits {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })
    });
    walked.is_ok() && plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_aim_at_their_bytes_within_bounds() {
        // 100 bytes a row: 8 MiB is 83,886 rows, capped at 65,536.
        assert_eq!(
            rows_for((Some(1_000_000), Some(100_000_000)), 65_536),
            Some(65_536)
        );
        // 1 KiB a row: 8,192 rows would be 8 MiB; at least 16,384.
        assert_eq!(
            rows_for((Some(1_000_000), Some(1 << 30)), 65_536),
            Some(16_384)
        );
        // 300 bytes a row.
        assert_eq!(
            rows_for((Some(1_000_000), Some(300_000_000)), 65_536),
            Some(27_962)
        );
        // Never more rows than the download has.
        assert_eq!(rows_for((Some(1_000), Some(100_000)), 65_536), Some(1_000));
        // Unknown width: no large batches.
        assert_eq!(rows_for((Some(1_000), None), 65_536), None);
        assert_eq!(rows_for((None, Some(1_000)), 65_536), None);
        assert_eq!(rows_for((Some(0), Some(0)), 65_536), None);
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let large = LargeBatches::new(65_536, 2);
        let a = large.take(Some).unwrap();
        assert_eq!(a.rows, 65_536);
        let b = large.take(|_| Some(20_000)).unwrap();
        assert_eq!(b.rows, 20_000);
        assert!(large.take(Some).is_none(), "both in use");
        drop(a);
        assert_eq!(large.available(), 1);
        assert!(large.take(|_| None).is_none(), "a plan that may not");
        assert_eq!(large.available(), 1, "its permit went back");
        drop(b);
        assert_eq!(large.available(), 2);
        assert!(LargeBatches::new(0, 4).take(Some).is_none());
    }
}
