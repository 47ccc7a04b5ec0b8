//! The columns of a built-in `system` table: each names its field and how a
//! row gives its value, so the table's schema and its record batches come
//! from one list. A column whose value is an `Option` is nullable.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;

/// The time zone of every timestamp column.
const UTC: &str = "UTC";

/// How a row gives one column's value.
enum Value<R> {
    Int64(fn(&R) -> i64),
    OptionalInt64(fn(&R) -> Option<i64>),
    Text(fn(&R) -> &str),
    OptionalText(fn(&R) -> Option<&str>),
    Flag(fn(&R) -> bool),
    /// Unix epoch milliseconds, shown in UTC.
    Time(fn(&R) -> i64),
    /// Unix epoch milliseconds, shown in UTC.
    OptionalTime(fn(&R) -> Option<i64>),
    /// Days since the Unix epoch.
    Date(fn(&R) -> i32),
}

/// One column of a table of rows `R`.
pub(super) struct Column<R> {
    name: &'static str,
    value: Value<R>,
}

impl<R> Column<R> {
    /// A 64-bit integer column.
    pub(super) fn int64(name: &'static str, value: fn(&R) -> i64) -> Self {
        Self::new(name, Value::Int64(value))
    }

    /// A nullable 64-bit integer column.
    pub(super) fn optional_int64(name: &'static str, value: fn(&R) -> Option<i64>) -> Self {
        Self::new(name, Value::OptionalInt64(value))
    }

    /// A text column.
    pub(super) fn text(name: &'static str, value: fn(&R) -> &str) -> Self {
        Self::new(name, Value::Text(value))
    }

    /// A nullable text column.
    pub(super) fn optional_text(name: &'static str, value: fn(&R) -> Option<&str>) -> Self {
        Self::new(name, Value::OptionalText(value))
    }

    /// A boolean column.
    pub(super) fn flag(name: &'static str, value: fn(&R) -> bool) -> Self {
        Self::new(name, Value::Flag(value))
    }

    /// A UTC timestamp column from Unix epoch milliseconds.
    pub(super) fn time(name: &'static str, value: fn(&R) -> i64) -> Self {
        Self::new(name, Value::Time(value))
    }

    /// A nullable UTC timestamp column from Unix epoch milliseconds.
    pub(super) fn optional_time(name: &'static str, value: fn(&R) -> Option<i64>) -> Self {
        Self::new(name, Value::OptionalTime(value))
    }

    /// A date column from days since the Unix epoch.
    pub(super) fn date(name: &'static str, value: fn(&R) -> i32) -> Self {
        Self::new(name, Value::Date(value))
    }

    fn new(name: &'static str, value: Value<R>) -> Self {
        Self { name, value }
    }

    fn field(&self) -> Field {
        let time = || DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()));
        let (data_type, nullable) = match self.value {
            Value::Int64(_) => (DataType::Int64, false),
            Value::OptionalInt64(_) => (DataType::Int64, true),
            Value::Text(_) => (DataType::Utf8, false),
            Value::OptionalText(_) => (DataType::Utf8, true),
            Value::Flag(_) => (DataType::Boolean, false),
            Value::Time(_) => (time(), false),
            Value::OptionalTime(_) => (time(), true),
            Value::Date(_) => (DataType::Date32, false),
        };
        Field::new(self.name, data_type, nullable)
    }

    fn array(&self, rows: &[R]) -> ArrayRef {
        match self.value {
            Value::Int64(f) => Arc::new(Int64Array::from_iter_values(rows.iter().map(f))),
            Value::OptionalInt64(f) => Arc::new(rows.iter().map(f).collect::<Int64Array>()),
            Value::Text(f) => Arc::new(StringArray::from_iter_values(rows.iter().map(f))),
            Value::OptionalText(f) => Arc::new(rows.iter().map(f).collect::<StringArray>()),
            Value::Flag(f) => Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>()),
            Value::Time(f) => Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(f)).with_timezone(UTC),
            ),
            Value::OptionalTime(f) => Arc::new(
                rows.iter()
                    .map(f)
                    .collect::<TimestampMillisecondArray>()
                    .with_timezone(UTC),
            ),
            Value::Date(f) => Arc::new(Date32Array::from_iter_values(rows.iter().map(f))),
        }
    }
}

/// A table's columns and the schema they make.
pub(super) struct Columns<R> {
    schema: SchemaRef,
    columns: Vec<Column<R>>,
}

impl<R> fmt::Debug for Columns<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Columns").field(&self.schema).finish()
    }
}

impl<R> Columns<R> {
    /// The table of `columns`, in this order.
    pub(super) fn new(columns: Vec<Column<R>>) -> Self {
        let fields: Vec<Field> = columns.iter().map(Column::field).collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            columns,
        }
    }

    /// The table's schema.
    pub(super) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// `rows` as one record batch of the table's schema.
    pub(super) fn batch(&self, rows: &[R]) -> Result<RecordBatch, DataFusionError> {
        let arrays = self.columns.iter().map(|c| c.array(rows)).collect();
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Date32Type, Int64Type, TimestampMillisecondType};

    use super::*;

    struct Row {
        id: i64,
        name: String,
        note: Option<String>,
        done: Option<i64>,
        flag: bool,
    }

    fn columns() -> Columns<Row> {
        type C = Column<Row>;
        Columns::new(vec![
            C::int64("id", |r| r.id),
            C::text("name", |r| &r.name),
            C::optional_text("note", |r| r.note.as_deref()),
            C::optional_time("done", |r| r.done),
            C::flag("flag", |r| r.flag),
            C::date("day", |r| i32::try_from(r.id).unwrap_or(i32::MAX)),
        ])
    }

    #[test]
    fn schema_and_batch_follow_the_columns() {
        let columns = columns();
        let schema = columns.schema();
        let shape: Vec<(&str, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.is_nullable()))
            .collect();
        let expected = [
            ("id", false),
            ("name", false),
            ("note", true),
            ("done", true),
            ("flag", false),
            ("day", false),
        ];
        assert_eq!(shape, expected);
        assert_eq!(
            schema.field(3).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );

        let rows = [
            Row {
                id: 1,
                name: "a".into(),
                note: None,
                done: Some(5),
                flag: true,
            },
            Row {
                id: 2,
                name: "b".into(),
                note: Some("n".into()),
                done: None,
                flag: false,
            },
        ];
        let batch = columns.batch(&rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), 2);
        assert_eq!(batch.column(1).as_string::<i32>().value(1), "b");
        let notes = batch.column(2).as_string::<i32>();
        assert!(notes.is_null(0));
        assert_eq!(notes.value(1), "n");
        let done = batch.column(3).as_primitive::<TimestampMillisecondType>();
        assert_eq!(done.value(0), 5);
        assert!(done.is_null(1));
        let flags = batch.column(4).as_boolean();
        assert!(flags.value(0) && !flags.value(1));
        assert_eq!(batch.column(5).as_primitive::<Date32Type>().value(1), 2);
    }
}
