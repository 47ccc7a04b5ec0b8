//! Reading a download plan: its rendered text, the data files and columns
//! its scans read, and the values of the rows it returned.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::{sort_to_indices, take_record_batch};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use laker_query::DownloadPlan;

/// The physical plan, one operator a line, with every detail (all files).
pub fn render(plan: &DownloadPlan) -> String {
    displayable(plan.physical_plan().as_ref())
        .indent(true)
        .to_string()
}

/// The object store paths of every file the plan's scans read.
pub fn data_files(plan: &Arc<dyn ExecutionPlan>) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    each_scan(plan, &mut |scan| {
        if let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() {
            for group in &config.file_groups {
                files.extend(group.iter().map(|file| file.path().to_string()));
            }
        }
    });
    files
}

/// The columns the plan's scans produce.
pub fn scan_columns(plan: &Arc<dyn ExecutionPlan>) -> BTreeSet<String> {
    let mut columns = BTreeSet::new();
    each_scan(plan, &mut |scan| {
        columns.extend(scan.schema().fields().iter().map(|f| f.name().clone()));
    });
    columns
}

/// Calls `visit` with every scan in `plan` (policy views' included).
fn each_scan(plan: &Arc<dyn ExecutionPlan>, visit: &mut dyn FnMut(&DataSourceExec)) {
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
        visit(scan);
    }
    for child in plan.children() {
        each_scan(child, visit);
    }
}

/// `batch` with its rows in `id` order.
pub fn by_id(batch: &RecordBatch) -> RecordBatch {
    let order = sort_to_indices(column(batch, "id"), None, None).unwrap();
    take_record_batch(batch, &order).unwrap()
}

/// The values of the Int64 column `name`.
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
    column(batch, name)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// The values of the Float64 column `name`.
pub fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    column(batch, name)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

/// The values of column `name` (of any type) as text; `None` for nulls.
pub fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let array = column(batch, name);
    (0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array_value_to_string(array, i).unwrap()))
        .collect()
}

/// Column `name` of `batch`.
fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    match batch.column_by_name(name) {
        Some(array) => array.as_ref(),
        None => panic!("no column '{name}' in {:?}", batch.schema()),
    }
}
