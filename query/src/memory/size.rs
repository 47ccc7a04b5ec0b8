//! The memory arrays hold, as the limits count it: the bytes of their
//! range only. Arrow's `get_array_memory_size` counts every buffer's whole
//! allocation, which for slices of one message body (decoded IPC) counts
//! that body once per buffer.

use arrow::array::{Array, ArrayData, RecordBatch};
use arrow::datatypes::DataType;

/// Bytes of `array`'s own range (a view's data buffers count whole).
pub fn array_bytes(array: &dyn Array) -> u64 {
    let data = array.to_data();
    match data.get_slice_memory_size() {
        Ok(range) => (range as u64).saturating_add(view_data_bytes(&data)),
        Err(_) => array.get_array_memory_size() as u64,
    }
}

/// Bytes of the data buffers of the view arrays in `data` (at any depth),
/// which Arrow's slice size leaves out: views point into them anywhere.
fn view_data_bytes(data: &ArrayData) -> u64 {
    let own = match data.data_type() {
        DataType::Utf8View | DataType::BinaryView => data
            .buffers()
            .iter()
            .skip(1)
            .map(|b| b.len() as u64)
            .fold(0, u64::saturating_add),
        _ => 0,
    };
    data.child_data()
        .iter()
        .map(view_data_bytes)
        .fold(own, u64::saturating_add)
}

/// Bytes of what `array` holds as values (its range, the list elements it
/// refers to, the strings its views refer to), not the buffers it shares:
/// the measure of a row for estimates of what a function makes of it.
pub fn logical_bytes(array: &dyn Array) -> u64 {
    use arrow::array::AsArray;
    use arrow::datatypes::ArrowNativeType;
    let nulls = array.nulls().map_or(0, |n| n.len().div_ceil(8) as u64);
    let offsets = |width: u64| (array.len() as u64 + 1) * width;
    let own = match array.data_type() {
        DataType::Utf8View => view_lengths(array.as_string_view().views()),
        DataType::BinaryView => view_lengths(array.as_binary_view().views()),
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let o = list.offsets();
            let (start, end) = (o[0].as_usize(), o[o.len() - 1].as_usize());
            offsets(4) + logical_bytes(&list.values().slice(start, end - start))
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let o = list.offsets();
            let (start, end) = (o[0].as_usize(), o[o.len() - 1].as_usize());
            offsets(8) + logical_bytes(&list.values().slice(start, end - start))
        }
        DataType::Map(..) => {
            let map = array.as_map();
            let o = map.offsets();
            let (start, end) = (o[0].as_usize(), o[o.len() - 1].as_usize());
            offsets(4) + logical_bytes(&map.entries().slice(start, end - start))
        }
        DataType::FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            let n = usize::try_from(*n).unwrap_or(0);
            let start = list.offset() * n;
            logical_bytes(&list.values().slice(start, list.len() * n))
        }
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|c| logical_bytes(c.as_ref()))
            .fold(0, u64::saturating_add),
        _ => return array_bytes(array),
    };
    own.saturating_add(nulls)
}

/// 16 bytes per view, and the bytes of the values not held inline.
fn view_lengths(views: &[u128]) -> u64 {
    views
        .iter()
        .map(|v| {
            let len = u64::from(*v as u32);
            16 + if len > 12 { len } else { 0 }
        })
        .fold(0, u64::saturating_add)
}

/// Bytes of `batch`'s columns' ranges.
pub fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|c| array_bytes(c.as_ref()))
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn slices_count_their_own_range() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..1000)),
                Arc::new(StringArray::from_iter_values(
                    (0..1000).map(|i| format!("{i:08}")),
                )),
            ],
        )
        .unwrap();
        let whole = batch_bytes(&batch);
        assert_eq!(whole, 1000 * 8 + 1001 * 4 + 1000 * 8);
        let tenth = batch_bytes(&batch.slice(100, 100));
        assert_eq!(tenth, 100 * 8 + 101 * 4 + 100 * 8);
        assert!(batch.slice(100, 100).get_array_memory_size() as u64 >= whole);
    }

    #[test]
    fn views_count_their_data_buffers() {
        use arrow::array::{ListArray, StringViewArray};
        let long = |i: usize| format!("{i:0>40}");
        let views = StringViewArray::from_iter_values((0..100).map(long));
        // 16 bytes per view, and the 40-byte strings they point to.
        assert_eq!(array_bytes(&views), 100 * 16 + 100 * 40);
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8View, false)),
            arrow::buffer::OffsetBuffer::from_lengths([50, 50]),
            Arc::new(views),
            None,
        );
        assert_eq!(array_bytes(&list), 3 * 4 + 100 * 16 + 100 * 40);
        // One row: its 50 elements only, and the strings they refer to.
        assert_eq!(logical_bytes(&list.slice(1, 1)), 2 * 4 + 50 * 16 + 50 * 40);
    }
}
