//! Upper bounds of what one call of an amplifying function produces, from
//! its arguments, computed before the function runs.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, IntervalMonthDayNano};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ColumnarValue;

/// The amplifying functions a guard knows how to bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `repeat(s, n)`: `|s|·n`.
    Repeat,
    /// `lpad/rpad(s, n[, fill])`: up to 4 bytes per character of `n`.
    Pad,
    /// `replace(s, from, to)`.
    Replace,
    /// `regexp_replace(s, pattern, replacement[, flags])`.
    RegexpReplace,
    /// `regexp_match(s, pattern[, flags])`: a copy of `s` per group.
    RegexpMatch,
    /// `range` / `generate_series` as scalar functions (lists).
    Range {
        /// `generate_series` includes `stop`.
        inclusive: bool,
    },
    /// `array_repeat(element, count)`.
    ArrayRepeat,
    /// `array_resize(list, size[, fill])`.
    ArrayResize,
    /// `array_to_string(list, delimiter[, null_string])`.
    ArrayToString,
    /// `array_replace_all / array_replace_n(list, from, to[, n])`.
    ArrayReplace,
    /// Functions that copy all their arguments (`concat`, `make_array`, …).
    Copy,
    /// `levenshtein(a, b)`: no large output, but work of `|a|·|b|` per row
    /// (counted in character pairs, bounded per row and per call).
    Pairwise,
    /// `arrays_zip(l1, l2, …)`: per row, the longest list's length times a
    /// struct of one element of each list.
    Zip,
    /// `array_positions(list, value)`: 8 bytes per element of the list.
    Positions,
    /// `string_to_array(s, delimiter[, null_string])`: up to an element
    /// per byte of `s`.
    Split,
}

/// Per-row argument views, broadcasting scalars.
struct Args<'a> {
    args: &'a [ColumnarValue],
    rows: usize,
}

impl Args<'_> {
    fn array(&self, i: usize) -> Result<Option<ArrayRef>> {
        match self.args.get(i) {
            None => Ok(None),
            Some(ColumnarValue::Array(a)) => Ok(Some(a.clone())),
            Some(ColumnarValue::Scalar(s)) => Ok(Some(s.to_array_of_size(1)?)),
        }
    }

    /// Whether argument `i` is one value for every row.
    fn scalar(&self, i: usize) -> bool {
        matches!(self.args.get(i), Some(ColumnarValue::Scalar(_)))
    }

    /// Row `row` of argument `i` (row 0 for scalars).
    fn at(&self, i: usize, row: usize) -> usize {
        if self.scalar(i) { 0 } else { row }
    }

    /// Byte lengths of a string or binary argument.
    fn lengths(&self, i: usize) -> Result<Option<Vec<u64>>> {
        let Some(array) = self.array(i)? else {
            return Ok(None);
        };
        let lengths = match array.data_type() {
            DataType::Utf8 => string_lengths(array.as_string::<i32>().iter()),
            DataType::LargeUtf8 => string_lengths(array.as_string::<i64>().iter()),
            DataType::Utf8View => string_lengths(array.as_string_view().iter()),
            DataType::Binary => bytes_lengths(array.as_binary::<i32>().iter()),
            DataType::LargeBinary => bytes_lengths(array.as_binary::<i64>().iter()),
            DataType::BinaryView => bytes_lengths(array.as_binary_view().iter()),
            // Other types are rendered as text; bound their width generously.
            _ => vec![64; array.len()],
        };
        Ok(Some(lengths))
    }

    /// Integer values of an argument (nulls as `None`).
    fn ints(&self, i: usize) -> Result<Option<Vec<Option<i64>>>> {
        let Some(array) = self.array(i)? else {
            return Ok(None);
        };
        let ints = cast(&array, &DataType::Int64)?;
        Ok(Some(
            ints.as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .collect(),
        ))
    }

    /// The per-row memory of each row of a list or any argument.
    fn row_sizes(&self, i: usize) -> Result<Option<Vec<u64>>> {
        let Some(array) = self.array(i)? else {
            return Ok(None);
        };
        Ok(Some(
            (0..array.len())
                .map(|r| crate::memory::size::logical_bytes(&array.slice(r, 1)))
                .collect(),
        ))
    }

    /// Element counts of a list argument.
    fn list_lengths(&self, i: usize) -> Result<Option<Vec<u64>>> {
        let Some(array) = self.array(i)? else {
            return Ok(None);
        };
        let lengths = match array.data_type() {
            DataType::List(_) => list_lengths(array.as_list::<i32>().offsets().windows(2)),
            DataType::LargeList(_) => list_lengths(array.as_list::<i64>().offsets().windows(2)),
            DataType::FixedSizeList(_, n) => {
                vec![u64::try_from(*n).unwrap_or(0); array.len()]
            }
            _ => vec![0; array.len()],
        };
        Ok(Some(lengths))
    }
}

fn string_lengths<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<u64> {
    values.map(|v| v.map_or(0, |s| s.len() as u64)).collect()
}

fn bytes_lengths<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<u64> {
    values.map(|v| v.map_or(0, |s| s.len() as u64)).collect()
}

fn list_lengths<O: arrow::array::OffsetSizeTrait>(windows: std::slice::Windows<'_, O>) -> Vec<u64> {
    windows
        .map(|w| (w[1].as_usize().saturating_sub(w[0].as_usize())) as u64)
        .collect()
}

/// An upper bound of the bytes one call produces for `rows` rows.
pub fn output_bytes(kind: Kind, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let args = Args { args, rows };
    // Row `r` of a per-row vector of argument `i` (row 0 for scalars).
    let at = |v: &[u64], i: usize, r: usize| v.get(args.at(i, r)).copied().unwrap_or(0);
    let int = |v: &[Option<i64>], i: usize, r: usize| v.get(args.at(i, r)).copied().flatten();
    let sum = |row: &dyn Fn(usize) -> u64| {
        (0..rows.max(1)).fold(0u64, |total, r| total.saturating_add(row(r)))
    };
    let lengths = |i: usize| args.lengths(i).map(Option::unwrap_or_default);
    let ints = |i: usize| args.ints(i).map(Option::unwrap_or_default);
    let sizes = |i: usize| args.row_sizes(i).map(Option::unwrap_or_default);
    Ok(match kind {
        Kind::Repeat => {
            let (s, n) = (lengths(0)?, ints(1)?);
            sum(&|r| at(&s, 0, r).saturating_mul(positive(int(&n, 1, r).unwrap_or(0))))
        }
        Kind::Pad => {
            let (s, n) = (lengths(0)?, ints(1)?);
            if n.iter().flatten().any(|n| *n < 0) {
                return exec_err!("lpad/rpad: the length must not be negative");
            }
            // Up to 4 bytes per character of fill.
            sum(&|r| {
                at(&s, 0, r).saturating_add(positive(int(&n, 1, r).unwrap_or(0)).saturating_mul(4))
            })
        }
        Kind::Replace => {
            let (s, from, to) = (lengths(0)?, lengths(1)?, lengths(2)?);
            sum(&|r| {
                let (s, from, to) = (at(&s, 0, r), at(&from, 1, r), at(&to, 2, r));
                if from == 0 || to <= from {
                    s
                } else {
                    s.saturating_add((s / from).saturating_mul(to - from))
                }
            })
        }
        Kind::RegexpReplace => {
            let s = lengths(0)?;
            let replacements = text(&args, 2)?;
            let global = text(&args, 3)?.iter().any(|f| f.contains('g'));
            sum(&|r| {
                let s = at(&s, 0, r);
                let repl = replacements.get(args.at(2, r)).map_or("", String::as_str);
                // Group references copy (part of) the input each.
                let refs = repl.matches(['$', '\\']).count() as u64;
                let matches = if global { s.saturating_add(1) } else { 1 };
                s.saturating_mul(1 + refs)
                    .saturating_add(matches.saturating_mul(repl.len() as u64))
            })
        }
        Kind::RegexpMatch => {
            let s = lengths(0)?;
            let patterns = text(&args, 1)?;
            sum(&|r| {
                let groups = patterns
                    .get(args.at(1, r))
                    .map_or(1, |p| p.matches('(').count().max(1))
                    as u64;
                at(&s, 0, r).saturating_mul(groups)
            })
        }
        Kind::Range { inclusive } => range_elements(&args, inclusive)?.saturating_mul(8),
        Kind::ArrayRepeat => {
            let (size, n) = (sizes(0)?, ints(1)?);
            sum(&|r| {
                positive(int(&n, 1, r).unwrap_or(0))
                    .saturating_mul(at(&size, 0, r).saturating_add(8))
            })
        }
        Kind::ArrayResize => {
            let (size, n, fill) = (sizes(0)?, ints(1)?, sizes(2)?);
            let len = args.list_lengths(0)?.unwrap_or_default();
            sum(&|r| {
                let element = (at(&size, 0, r) / at(&len, 0, r).max(1))
                    .max(at(&fill, 2, r))
                    .max(8);
                positive(int(&n, 1, r).unwrap_or(0)).saturating_mul(element)
            })
        }
        Kind::ArrayToString => {
            let (size, delimiter, null) = (sizes(0)?, lengths(1)?, lengths(2)?);
            let len = args.list_lengths(0)?.unwrap_or_default();
            sum(&|r| {
                let n = at(&len, 0, r);
                // An element renders in at most ~330 bytes (a float) or its own size.
                let rendered = n.saturating_mul(330).max(at(&size, 0, r));
                let glue = at(&delimiter, 1, r).saturating_add(at(&null, 2, r));
                rendered.saturating_add(n.saturating_mul(glue))
            })
        }
        Kind::Copy => args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Array(a) => crate::memory::size::array_bytes(a.as_ref()),
                ColumnarValue::Scalar(s) => (s.size() as u64).saturating_mul(rows.max(1) as u64),
            })
            .fold(0, u64::saturating_add),
        Kind::Pairwise => {
            let (a, b) = (lengths(0)?, lengths(1)?);
            let pairs = |r| at(&a, 0, r).saturating_mul(at(&b, 1, r));
            if let Some(r) = (0..rows.max(1)).find(|r| pairs(*r) > MAX_PAIRS_PER_ROW) {
                return Err(datafusion::error::DataFusionError::ResourcesExhausted(
                    format!(
                        "levenshtein() would compare {} character pairs in one row; the limit is {}",
                        pairs(r),
                        MAX_PAIRS_PER_ROW
                    ),
                ));
            }
            sum(&pairs)
        }
        Kind::Zip => {
            let mut lengths = Vec::with_capacity(args.args.len());
            let mut element = 0u64;
            for i in 0..args.args.len() {
                let len = args.list_lengths(i)?.unwrap_or_default();
                let size = sizes(i)?;
                let (bytes, count) = (0..rows.max(1)).fold((0u64, 0u64), |(b, c), r| {
                    (
                        b.saturating_add(at(&size, i, r)),
                        c.saturating_add(at(&len, i, r)),
                    )
                });
                // An element's average size, and a null bit and offset each.
                element = element
                    .saturating_add(bytes / count.max(1))
                    .saturating_add(9);
                lengths.push(len);
            }
            sum(&|r| {
                let longest = (0..lengths.len())
                    .map(|i| at(&lengths[i], i, r))
                    .max()
                    .unwrap_or(0);
                longest.saturating_mul(element).saturating_add(8)
            })
        }
        Kind::Positions => {
            let len = args.list_lengths(0)?.unwrap_or_default();
            sum(&|r| at(&len, 0, r).saturating_mul(8).saturating_add(8))
        }
        Kind::Split => {
            let s = lengths(0)?;
            // Per element: an offset, a view or a value's bytes, a null bit.
            sum(&|r| at(&s, 0, r).saturating_add(1).saturating_mul(21))
        }
        Kind::ArrayReplace => {
            let (size, to, n) = (sizes(0)?, sizes(2)?, ints(3)?);
            let len = args.list_lengths(0)?.unwrap_or_default();
            sum(&|r| {
                let len = at(&len, 0, r);
                let replaced = int(&n, 3, r).map_or(len, positive).min(len);
                at(&size, 0, r).saturating_add(replaced.saturating_mul(at(&to, 2, r)))
            })
        }
    })
}

/// Most character pairs `levenshtein` may compare for one row: its work
/// is quadratic, and one row cannot be interrupted.
pub const MAX_PAIRS_PER_ROW: u64 = 1 << 24;

/// Most character pairs `levenshtein` may compare for one batch (seconds
/// of work).
pub const MAX_PAIRS_PER_CALL: u64 = 1 << 32;

fn positive(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The text of a scalar or array argument, row by row (empty when absent).
fn text(args: &Args<'_>, i: usize) -> Result<Vec<String>> {
    let Some(array) = args.array(i)? else {
        return Ok(Vec::new());
    };
    let utf8 = cast(&array, &DataType::Utf8)?;
    Ok(utf8
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// Elements `range`/`generate_series` produce over all rows.
fn range_elements(args: &Args<'_>, inclusive: bool) -> Result<u64> {
    let Some(first) = args.args.first() else {
        return Ok(0);
    };
    let temporal = matches!(
        first.data_type(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    if temporal {
        return temporal_elements(args);
    }
    // range(stop), range(start, stop), range(start, stop, step).
    let (start, stop, step) = match args.args.len() {
        1 => (None, args.ints(0)?, None),
        2 => (args.ints(0)?, args.ints(1)?, None),
        _ => (args.ints(0)?, args.ints(1)?, args.ints(2)?),
    };
    let mut total = 0u64;
    for r in 0..args.rows.max(1) {
        let pick = |v: &Option<Vec<Option<i64>>>, i: usize| {
            v.as_ref()
                .and_then(|v| v.get(args.at(i, r)).copied().flatten())
        };
        let start = if args.args.len() == 1 {
            0
        } else {
            pick(&start, 0).unwrap_or(0)
        };
        let stop_index = if args.args.len() == 1 { 0 } else { 1 };
        let Some(stop) = pick(&stop, stop_index) else {
            continue;
        };
        let step = pick(&step, 2).unwrap_or(1);
        total = total.saturating_add(int_range_len(start, stop, step, inclusive));
    }
    Ok(total)
}

fn int_range_len(start: i64, stop: i64, step: i64, inclusive: bool) -> u64 {
    if step == 0 {
        return 0;
    }
    let (lo, hi, step) = if step > 0 {
        (i128::from(start), i128::from(stop), i128::from(step))
    } else {
        (i128::from(stop), i128::from(start), -i128::from(step))
    };
    let span = hi - lo + i128::from(inclusive);
    if span <= 0 {
        return 0;
    }
    u64::try_from((span + step - 1) / step).unwrap_or(u64::MAX)
}

/// Elements of a date or timestamp range: its span over the smallest
/// length the interval step can have. A step that mixes directions (`1
/// day -24 hours`) may never advance and is refused.
fn temporal_elements(args: &Args<'_>) -> Result<u64> {
    const DAY_NS: i128 = 86_400_000_000_000;
    // Bounds in nanoseconds, exactly (i128: no date overflows it).
    let span_ns = |i: usize| -> Result<Vec<Option<i128>>> {
        let Some(array) = args.array(i)? else {
            return Ok(Vec::new());
        };
        let factor: i128 = match array.data_type() {
            DataType::Date32 => DAY_NS,
            DataType::Date64 => 1_000_000,
            DataType::Timestamp(unit, _) => match unit {
                arrow::datatypes::TimeUnit::Second => 1_000_000_000,
                arrow::datatypes::TimeUnit::Millisecond => 1_000_000,
                arrow::datatypes::TimeUnit::Microsecond => 1_000,
                arrow::datatypes::TimeUnit::Nanosecond => 1,
            },
            other => return exec_err!("range/generate_series: unsupported bound type {other}"),
        };
        Ok(cast(&array, &DataType::Int64)?
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .map(|v| v.map(|v| i128::from(v) * factor))
            .collect())
    };
    let (starts, stops) = (span_ns(0)?, span_ns(1)?);
    let steps: Vec<Option<IntervalMonthDayNano>> = match args.array(2)? {
        Some(a) if matches!(a.data_type(), DataType::Interval(_)) => {
            let a = cast(
                &a,
                &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
            )?;
            a.as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                .iter()
                .collect()
        }
        _ => vec![Some(IntervalMonthDayNano::new(0, 1, 0))],
    };
    let mut total = 0u64;
    for r in 0..args.rows.max(1) {
        let (Some(Some(start)), Some(Some(stop)), Some(Some(step))) = (
            starts.get(args.at(0, r)),
            stops.get(args.at(1, r)),
            steps.get(args.at(2, r)),
        ) else {
            continue;
        };
        let parts = [
            i128::from(step.months),
            i128::from(step.days),
            i128::from(step.nanoseconds),
        ];
        let forward = parts.iter().all(|p| *p >= 0);
        let backward = parts.iter().all(|p| *p <= 0);
        if !forward && !backward {
            return exec_err!(
                "range/generate_series: an interval step must not mix positive and negative parts"
            );
        }
        // The shortest a step can be: 28-day months, 23-hour days.
        let shortest =
            parts[0].abs() * 28 * DAY_NS + parts[1].abs() * (DAY_NS / 24 * 23) + parts[2].abs();
        if shortest == 0 {
            continue;
        }
        let span = (stop - start).abs();
        total = total.saturating_add(u64::try_from(span / shortest + 1).unwrap_or(u64::MAX));
    }
    Ok(total)
}

/// The fixed width, in bytes, one value of `data_type` takes at least
/// (what a column of nulls of it costs per row).
pub fn fixed_width(data_type: &DataType) -> u64 {
    match data_type {
        DataType::FixedSizeBinary(w) => u64::try_from(*w).unwrap_or(0),
        DataType::FixedSizeList(child, n) => u64::try_from(*n)
            .unwrap_or(0)
            .saturating_mul(fixed_width(child.data_type()).max(1)),
        DataType::Struct(children) => children
            .iter()
            .map(|c| fixed_width(c.data_type()))
            .fold(0, u64::saturating_add),
        DataType::List(child) | DataType::LargeList(child) | DataType::Map(child, _) => {
            fixed_width(child.data_type()).min(8)
        }
        t => t.primitive_width().unwrap_or(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    fn scalar(v: ScalarValue) -> ColumnarValue {
        ColumnarValue::Scalar(v)
    }

    #[test]
    fn repeat_and_pad_bounds() {
        let args = [
            scalar(ScalarValue::Utf8(Some("ab".into()))),
            scalar(ScalarValue::Int64(Some(500_000_000))),
        ];
        assert_eq!(output_bytes(Kind::Repeat, &args, 1).unwrap(), 1_000_000_000);
        let names: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["abc", "de"]));
        let args = [
            ColumnarValue::Array(names),
            scalar(ScalarValue::Int64(Some(10))),
        ];
        assert_eq!(output_bytes(Kind::Repeat, &args, 2).unwrap(), 50);
        assert_eq!(output_bytes(Kind::Pad, &args, 2).unwrap(), 3 + 40 + 2 + 40);
        let lengths: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![3, -1]));
        let args = [
            scalar(ScalarValue::Utf8(Some("x".into()))),
            ColumnarValue::Array(lengths),
        ];
        assert!(
            output_bytes(Kind::Pad, &args, 2).is_err(),
            "negative lengths panic in lpad"
        );
    }

    #[test]
    fn ranges() {
        let i = |v: i64| scalar(ScalarValue::Int64(Some(v)));
        assert_eq!(
            output_bytes(Kind::Range { inclusive: false }, &[i(0), i(100_000_000)], 1).unwrap(),
            800_000_000
        );
        assert_eq!(
            output_bytes(Kind::Range { inclusive: true }, &[i(1), i(10), i(3)], 1).unwrap(),
            4 * 8
        );
        assert_eq!(
            output_bytes(Kind::Range { inclusive: false }, &[i(5)], 1).unwrap(),
            40
        );
        assert_eq!(
            output_bytes(Kind::Range { inclusive: false }, &[i(10), i(0), i(-2)], 1).unwrap(),
            5 * 8
        );
        let date = |d: i32| scalar(ScalarValue::Date32(Some(d)));
        let step = |m: i32, d: i32, n: i64| {
            scalar(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(m, d, n),
            )))
        };
        let days = output_bytes(
            Kind::Range { inclusive: true },
            &[date(0), date(3650), step(0, 1, 0)],
            1,
        )
        .unwrap();
        assert!((3651 * 8..=3900 * 8).contains(&days), "{days}");
        // Far outside the nanosecond range of timestamps: still counted.
        let far = output_bytes(
            Kind::Range { inclusive: true },
            &[date(-95_000_000), date(95_000_000), step(0, 1, 0)],
            1,
        )
        .unwrap();
        assert!(far > 1_000_000_000, "{far}");
        let mixed = output_bytes(
            Kind::Range { inclusive: true },
            &[date(0), date(10), step(0, 1, -86_400_000_000_000)],
            1,
        );
        assert!(mixed.is_err(), "a step that never advances is refused");
    }

    #[test]
    fn replace_bounds() {
        let s = |v: &str| scalar(ScalarValue::Utf8(Some(v.into())));
        let out = output_bytes(Kind::Replace, &[s("aaaa"), s("a"), s("bbbbbbbb")], 1).unwrap();
        assert_eq!(out, 4 + 4 * 7);
        let out = output_bytes(Kind::Replace, &[s("aaaa"), s(""), s("bbbbbbbb")], 1).unwrap();
        assert_eq!(out, 4, "an empty 'from' returns the input");
        let out = output_bytes(
            Kind::RegexpReplace,
            &[s("abcd"), s(""), s("xyz"), s("g")],
            1,
        )
        .unwrap();
        assert_eq!(out, 4 + 5 * 3);
    }

    #[test]
    fn wider_outputs() {
        use arrow::array::{Int64Array, ListArray};
        use arrow::datatypes::Int64Type;
        let lists = |rows: Vec<Vec<i64>>| -> ColumnarValue {
            ColumnarValue::Array(Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                rows.into_iter().map(|r| Some(r.into_iter().map(Some))),
            )))
        };
        let a = lists(vec![vec![1, 2, 3], vec![4]]);
        let b = lists(vec![vec![1], vec![1, 2, 3, 4, 5]]);
        // Longest lists 3 and 5; from each list an element of its average
        // size (8 bytes and its share of offsets: 12 and 10), + 9.
        let zip = output_bytes(Kind::Zip, &[a.clone(), b], 2).unwrap();
        assert_eq!(zip, (3 + 5) * (21 + 19) + 2 * 8);
        let one = ColumnarValue::Array(Arc::new(Int64Array::from(vec![1, 4])));
        assert_eq!(
            output_bytes(Kind::Positions, &[a, one], 2).unwrap(),
            (3 * 8 + 8) + (8 + 8)
        );
        let s = |v: &str| scalar(ScalarValue::Utf8(Some(v.into())));
        assert_eq!(
            output_bytes(Kind::Split, &[s("a,b,c"), s(",")], 1).unwrap(),
            6 * 21
        );
        let long = s(&"x".repeat(5000));
        let e = output_bytes(Kind::Pairwise, &[long.clone(), long], 1).unwrap_err();
        assert!(e.to_string().contains("in one row"), "{e}");
    }

    #[test]
    fn fixed_widths() {
        let fsl = DataType::FixedSizeList(
            Arc::new(arrow::datatypes::Field::new("x", DataType::Int64, true)),
            1 << 20,
        );
        assert_eq!(fixed_width(&fsl), 8 << 20);
        assert_eq!(fixed_width(&DataType::FixedSizeBinary(100)), 100);
    }
}
