//! Column statistics of a Delta table from its transaction log: the
//! per-file `min`, `max` and `nullCount` of each add action, combined.

use std::collections::HashMap;

use arrow::array::{Array, Int64Array};
use datafusion::scalar::ScalarValue;
use laker_query::deltalake::DeltaTable;

/// Combined statistics of one column.
#[derive(Debug, Default)]
pub(crate) struct ColumnStats {
    /// Smallest value over all files (when every file records one).
    pub min: Option<String>,
    /// Largest value over all files.
    pub max: Option<String>,
    /// Nulls over all files (when every file records it).
    pub null_count: Option<i64>,
}

/// Statistics by column name; empty when the log carries none.
pub(crate) fn column_stats(table: &DeltaTable) -> HashMap<String, ColumnStats> {
    let Ok(files) = table.snapshot().and_then(|s| s.add_actions_table(true)) else {
        return HashMap::new();
    };
    let schema = files.schema();
    let mut out: HashMap<String, ColumnStats> = HashMap::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let column = files.column(i);
        if let Some(name) = field.name().strip_prefix("min.") {
            out.entry(name.to_string()).or_default().min =
                extreme(column.as_ref(), std::cmp::Ordering::Less);
        } else if let Some(name) = field.name().strip_prefix("max.") {
            out.entry(name.to_string()).or_default().max =
                extreme(column.as_ref(), std::cmp::Ordering::Greater);
        } else if let Some(name) = field.name().strip_prefix("null_count.") {
            out.entry(name.to_string()).or_default().null_count = column
                .as_any()
                .downcast_ref::<Int64Array>()
                .filter(|a| a.null_count() == 0)
                .map(|a| a.values().iter().sum());
        }
    }
    out
}

/// The smallest (`Less`) or largest (`Greater`) value of `column`, or `None`
/// if any file lacks the statistic (the true extreme is then unknown).
fn extreme(column: &dyn Array, want: std::cmp::Ordering) -> Option<String> {
    if column.is_empty() || column.null_count() > 0 {
        return None;
    }
    let mut best: Option<ScalarValue> = None;
    for row in 0..column.len() {
        let value = ScalarValue::try_from_array(column, row).ok()?;
        best = match best {
            Some(b) if b.partial_cmp(&value)? != want.reverse() => Some(b),
            _ => Some(value),
        };
    }
    best.map(|v| v.to_string())
}
