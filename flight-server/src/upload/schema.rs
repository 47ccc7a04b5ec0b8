//! Fitting an upload's batches to its dataset's schema: columns are matched
//! by name; types must match or widen (int8/16/32 → wider ints, float32 →
//! float64, any string type → the table's); missing nullable columns are
//! filled with nulls; new columns are added when nullable (the table's
//! schema evolves). Anything else is refused before a byte is written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Most offending rows quoted in an error.
const EXAMPLES: usize = 5;

/// How an upload's columns map onto the dataset's.
#[derive(Debug, Clone)]
pub struct Conformer {
    /// The schema batches are written with: the table's, plus new columns.
    pub target: SchemaRef,
    /// Whether the upload adds columns (the table's schema evolves).
    pub evolves: bool,
}

fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    matches!(
        (from, to),
        (Int8, Int16 | Int32 | Int64)
            | (Int16, Int32 | Int64)
            | (Int32, Int64)
            | (UInt8, UInt16 | UInt32 | UInt64 | Int16 | Int32 | Int64)
            | (UInt16, UInt32 | UInt64 | Int32 | Int64)
            | (UInt32, UInt64 | Int64)
            | (Float16 | Float32, Float64)
            | (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View)
            | (
                Binary | LargeBinary | BinaryView,
                Binary | LargeBinary | BinaryView
            )
    )
}

impl Conformer {
    /// Checks `upload` against `table` (`None`: the upload creates the table).
    pub fn new(dataset: &str, table: Option<&Schema>, upload: &Schema) -> Result<Self> {
        let Some(table) = table else {
            // Schema metadata (pandas', say) is not part of a Delta schema.
            let fields: Vec<_> = upload
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect();
            return Ok(Self {
                target: Arc::new(Schema::new(fields)),
                evolves: false,
            });
        };
        let mut problems = Vec::new();
        for field in table.fields() {
            match upload.field_with_name(field.name()) {
                Ok(sent) if sent.data_type() == field.data_type() => {}
                Ok(sent) if widens(sent.data_type(), field.data_type()) => {}
                Ok(sent) => problems.push(format!(
                    "column '{}' is {} in the dataset but the upload sends {}",
                    field.name(),
                    field.data_type(),
                    sent.data_type()
                )),
                Err(_) if field.is_nullable() => {}
                Err(_) => problems.push(format!(
                    "column '{}' is missing and may not be null",
                    field.name()
                )),
            }
        }
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        for sent in upload.fields() {
            if table.field_with_name(sent.name()).is_ok() {
                continue;
            }
            if sent.is_nullable() {
                fields.push(sent.as_ref().clone());
            } else {
                problems.push(format!(
                    "new column '{}' must be nullable to be added to the dataset",
                    sent.name()
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the upload does not fit dataset '{dataset}': {}",
                problems.join("; ")
            )));
        }
        let evolves = fields.len() > table.fields().len();
        Ok(Self {
            target: Arc::new(Schema::new(fields)),
            evolves,
        })
    }

    /// `batch` in the target schema; `first_row` is its first row's index in
    /// the upload, for error messages.
    pub fn conform(&self, batch: &RecordBatch, first_row: u64) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.target.fields().len());
        for field in self.target.fields() {
            let column = match batch.column_by_name(field.name()) {
                Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
                Some(c) => cast(c, field.data_type()).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "column '{}' cannot be widened: {e}",
                        field.name()
                    ))
                })?,
                None => new_null_array(field.data_type(), batch.num_rows()),
            };
            if !field.is_nullable() && column.null_count() > 0 {
                let rows: Vec<String> = (0..column.len())
                    .filter(|&i| column.is_null(i))
                    .take(EXAMPLES)
                    .map(|i| (first_row + i as u64).to_string())
                    .collect();
                return Err(Error::InvalidArgument(format!(
                    "rule 'not null' violated: column '{}' is null in {} row(s), e.g. rows {}",
                    field.name(),
                    column.null_count(),
                    rows.join(", ")
                )));
            }
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(&self.target), columns)
            .map_err(|e| Error::InvalidArgument(format!("the upload's batch is malformed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};

    fn table() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])
    }

    #[test]
    fn a_new_table_drops_the_uploads_schema_metadata() {
        let upload = table().with_metadata([("pandas".to_string(), "{}".to_string())].into());
        let c = Conformer::new("a.b", None, &upload).unwrap();
        assert!(c.target.metadata().is_empty());
        let batch = RecordBatch::try_new(
            Arc::new(upload),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        assert_eq!(c.conform(&batch, 0).unwrap().schema(), c.target);
    }

    #[test]
    fn widening_missing_nullable_and_new_columns() {
        let upload = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("extra", DataType::Utf8, true),
        ]);
        let c = Conformer::new("a.b", Some(&table()), &upload).unwrap();
        assert!(c.evolves);
        let batch = RecordBatch::try_new(
            Arc::new(upload),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap();
        let out = c.conform(&batch, 0).unwrap();
        assert_eq!(out.schema().fields().len(), 3);
        let ids = out.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.values(), &[1, 2]);
        assert_eq!(
            out.column(1).null_count(),
            2,
            "missing name filled with nulls"
        );
    }

    #[test]
    fn mismatches_are_named() {
        let upload = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("new", DataType::Int64, false),
        ]);
        let e = Conformer::new("a.b", Some(&table()), &upload).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("column 'id' is Int64 in the dataset but the upload sends Utf8"),
            "{msg}"
        );
        assert!(msg.contains("new column 'new' must be nullable"), "{msg}");
        let missing = Schema::new(vec![Field::new("name", DataType::Utf8, true)]);
        let e = Conformer::new("a.b", Some(&table()), &missing).unwrap_err();
        assert!(e.to_string().contains("column 'id' is missing"), "{e}");
    }

    #[test]
    fn nulls_in_required_columns_name_the_rows() {
        let upload = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
        let c = Conformer::new("a.b", Some(&table()), &upload).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(upload),
            vec![Arc::new(Int64Array::from(vec![
                Some(1),
                None,
                Some(3),
                None,
            ]))],
        )
        .unwrap();
        let e = c.conform(&batch, 100).unwrap_err().to_string();
        assert!(e.contains("rule 'not null' violated: column 'id'"), "{e}");
        assert!(e.contains("rows 101, 103"), "{e}");
    }
}
