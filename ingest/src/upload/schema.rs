//! Fitting an upload's batches to its dataset's schema: columns are matched
//! by name; types must match or widen (int8/16/32 → wider ints, float32 →
//! float64, any string type → the table's); missing nullable columns are
//! filled with nulls; new columns are added when nullable (the table's
//! schema evolves). Anything else is refused before a byte is written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{IngestError, Result};

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
            let target = Schema::new(fields);
            storable(dataset, &target)?;
            return Ok(Self {
                target: Arc::new(target),
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
            return Err(IngestError::InvalidArgument(format!(
                "the upload does not fit dataset '{dataset}': {}",
                problems.join("; ")
            )));
        }
        let evolves = fields.len() > table.fields().len();
        let target = Schema::new(fields);
        if evolves {
            storable(dataset, &target)?;
        }
        Ok(Self {
            target: Arc::new(target),
            evolves,
        })
    }

    /// `batch` in the target schema; `first_row` is its first row's index in
    /// the upload, for error messages.
    pub fn conform(&self, batch: &RecordBatch, first_row: u64) -> Result<RecordBatch> {
        self.check_fill(batch)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.target.fields().len());
        for field in self.target.fields() {
            let column = match batch.column_by_name(field.name()) {
                Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
                Some(c) => cast(c, field.data_type()).map_err(|e| {
                    IngestError::InvalidArgument(format!(
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
                return Err(IngestError::InvalidArgument(format!(
                    "rule 'not null' violated: column '{}' is null in {} row(s), e.g. rows {}",
                    field.name(),
                    column.null_count(),
                    rows.join(", ")
                )));
            }
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(&self.target), columns).map_err(|e| {
            IngestError::InvalidArgument(format!("the upload's batch is malformed: {e}"))
        })
    }

    /// Refuses a batch whose missing columns would take more than
    /// [`MAX_FILL_BYTES`] to fill with nulls: the batch's row count is the
    /// client's, and a batch of nothing but a null column costs it nothing.
    fn check_fill(&self, batch: &RecordBatch) -> Result<()> {
        let per_row: usize = self
            .target
            .fields()
            .iter()
            .filter(|f| batch.column_by_name(f.name()).is_none())
            .map(|f| null_bytes_per_row(f.data_type()))
            .fold(0, usize::saturating_add);
        let bytes = per_row.saturating_mul(batch.num_rows());
        if bytes > MAX_FILL_BYTES {
            return Err(IngestError::ResourceExhausted(format!(
                "a batch of {} rows leaves out columns that would take {bytes} bytes to fill \
                 with nulls; the limit is {MAX_FILL_BYTES} per batch (send smaller batches)",
                batch.num_rows()
            )));
        }
        Ok(())
    }
}

/// Most bytes the null columns filled into one batch may take.
pub const MAX_FILL_BYTES: usize = 256 << 20;

/// Refuses a schema a Delta table cannot hold (negative decimal scales,
/// for instance), naming the first column Delta refuses and what Delta
/// said (cut short); types the writer converts first (nanosecond and second
/// timestamps) are accepted.
fn storable(dataset: &str, schema: &Schema) -> Result<()> {
    use deltalake_core::kernel::StructType;
    use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
    let convert = |schema: Schema| {
        let normalized = deltalake_core::kernel::schema::normalize_for_delta(&Arc::new(schema));
        let converted: std::result::Result<StructType, _> = normalized.as_ref().try_into_kernel();
        converted.map(|_| ())
    };
    if convert(schema.clone()).is_ok() {
        return Ok(());
    }
    for field in schema.fields() {
        if let Err(e) = convert(Schema::new(vec![field.clone()])) {
            return Err(IngestError::InvalidArgument(format!(
                "the upload's column '{}' ({}) cannot be stored in dataset '{dataset}' \
                 (a Delta table): {}",
                field.name(),
                field.data_type(),
                shortened(&e.to_string())
            )));
        }
    }
    Err(IngestError::InvalidArgument(format!(
        "the upload's schema cannot be stored in dataset '{dataset}' (a Delta table)"
    )))
}

/// Most characters of a library's message quoted in an error.
const MAX_QUOTED: usize = 300;

fn shortened(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED {
        return text.to_string();
    }
    format!("{}…", text.chars().take(MAX_QUOTED).collect::<String>())
}

/// Bytes per row a column of nulls of `data_type` takes (an upper bound).
fn null_bytes_per_row(data_type: &DataType) -> usize {
    match data_type {
        DataType::FixedSizeBinary(w) => usize::try_from(*w).unwrap_or(usize::MAX).saturating_add(1),
        DataType::FixedSizeList(child, n) => usize::try_from(*n)
            .unwrap_or(usize::MAX)
            .saturating_mul(null_bytes_per_row(child.data_type()))
            .saturating_add(1),
        DataType::Struct(children) => children
            .iter()
            .map(|c| null_bytes_per_row(c.data_type()))
            .fold(1, usize::saturating_add),
        t => t.primitive_width().unwrap_or(16).saturating_add(1),
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
    fn schemas_are_checked_as_the_writer_stores_them() {
        use arrow::datatypes::TimeUnit;
        let seconds = Schema::new(vec![Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            true,
        )]);
        assert!(storable("a.b", &seconds).is_ok());
        let negative = Schema::new(vec![Field::new("d", DataType::Decimal128(10, -2), true)]);
        let e = storable("a.b", &negative).unwrap_err().to_string();
        assert!(e.contains("cannot be stored in dataset 'a.b'"), "{e}");
        let zoned = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Oslo".into())),
                true,
            ),
        ]);
        if let Err(e) = storable("a.b", &zoned) {
            let e = e.to_string();
            assert!(e.contains("column 'at'"), "{e}");
            assert!(e.len() < 600, "{e}");
        }
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
    fn types_delta_cannot_hold_are_refused_up_front() {
        let upload = Schema::new(vec![Field::new(
            "millions",
            DataType::Decimal128(5, -10),
            true,
        )]);
        let e = Conformer::new("a.b", None, &upload)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be stored in dataset 'a.b'"), "{e}");
        assert!(e.contains("column 'millions' (Decimal128(5, -10))"), "{e}");
        assert!(e.contains("Negative scales"), "{e}");
        let extra = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("millions", DataType::Decimal128(5, -10), true),
        ]);
        assert!(Conformer::new("a.b", Some(&table()), &extra).is_err());
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
