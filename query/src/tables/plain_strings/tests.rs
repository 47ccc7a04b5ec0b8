//! A Parquet dataset whose file's Arrow schema hint asks for views, read
//! through the engine with plain strings on and off.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryViewArray, Int64Array, ListBuilder, RecordBatch, StringViewArray,
    StringViewBuilder, StructArray,
};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::stats::Precision;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext, collect};
use laker_catalog::{Dataset, DatasetFormat, DatasetName, DatasetOptions};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use tempfile::TempDir;

use super::types::plain_type;
use crate::{EngineConfig, QueryEngine};

const LONG_NAME: &str = "a name longer than twelve bytes";

/// The rows written: strings and binaries short enough to sit in their
/// views and longer ones, nulls, a list of strings and a struct of one.
fn written() -> RecordBatch {
    let ids = Int64Array::from(vec![1, 2, 3]);
    let names = StringViewArray::from(vec![Some("ana"), None, Some(LONG_NAME)]);
    let payloads = BinaryViewArray::from(vec![
        Some(b"\x00\x01".as_slice()),
        None,
        Some(b"a payload longer than twelve".as_slice()),
    ]);
    let mut tags = ListBuilder::new(StringViewBuilder::new());
    tags.append_value([Some("x"), Some("a tag longer than twelve bytes")]);
    tags.append_null();
    tags.append_value([None, Some("y")]);
    let cities = StringViewArray::from(vec![Some("Oslo"), Some("a city longer than twelve"), None]);
    let place = StructArray::from(vec![(
        Arc::new(Field::new("city", DataType::Utf8View, true)),
        Arc::new(cities) as ArrayRef,
    )]);
    RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("name", Arc::new(names) as ArrayRef),
        ("payload", Arc::new(payloads) as ArrayRef),
        ("tags", Arc::new(tags.finish()) as ArrayRef),
        ("place", Arc::new(place) as ArrayRef),
    ])
    .unwrap()
}

/// A directory with one Parquet file of `batch` (its hint says views), and
/// the dataset on it.
fn lake(batch: &RecordBatch) -> (TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let file = std::fs::File::create(root.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    let dataset = Dataset {
        name: DatasetName::parse("t.views").unwrap(),
        description: String::new(),
        tags: Vec::new(),
        format: DatasetFormat::Parquet,
        location: format!("file://{}/", root.display()),
        options: DatasetOptions::default(),
        owner: String::new(),
        created_at: 0,
        updated_at: 0,
        refreshed_at: 0,
        revision: 1,
    };
    (dir, dataset)
}

fn engine(plain_strings: bool) -> QueryEngine {
    let config = EngineConfig {
        plain_strings,
        ..EngineConfig::default()
    };
    QueryEngine::new(&config, Arc::new(RuntimeEnv::default()))
}

/// What reading `dataset` gives: the table's schema, the scan's plan.
async fn scan(engine: &QueryEngine, dataset: &Dataset) -> (SchemaRef, Arc<dyn ExecutionPlan>) {
    let table = engine.table(dataset).await.unwrap();
    let plan = table.scan(engine.state(), None, &[], None).await.unwrap();
    (table.schema(), plan)
}

/// The schema the scan's Parquet reader decodes the file into (what its
/// reader factory hands the decoder).
async fn decoded(plan: &Arc<dyn ExecutionPlan>) -> SchemaRef {
    let config = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.data_source().downcast_ref::<FileScanConfig>())
        .unwrap();
    let source = config
        .file_source()
        .downcast_ref::<ParquetSource>()
        .unwrap();
    let file = config.file_groups[0].files()[0].clone();
    let mut reader: Box<dyn AsyncFileReader> = source
        .parquet_file_reader_factory()
        .unwrap()
        .create_reader(0, file, None, &ExecutionPlanMetricsSet::new())
        .unwrap();
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .unwrap();
    Arc::clone(metadata.schema())
}

/// Every row the scan produces, in one batch.
async fn rows(engine: &QueryEngine, plan: &Arc<dyn ExecutionPlan>) -> RecordBatch {
    let batches = collect(Arc::clone(plan), engine.state().task_ctx())
        .await
        .unwrap();
    concat_batches(&plan.schema(), &batches).unwrap()
}

fn types(schema: &SchemaRef) -> Vec<DataType> {
    schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

#[tokio::test]
async fn plain_strings_decode_without_views() {
    let batch = written();
    let (_dir, dataset) = lake(&batch);
    let engine = engine(true);
    let (table, plan) = scan(&engine, &dataset).await;
    let plain: Vec<DataType> = types(&batch.schema()).iter().map(plain_type).collect();
    assert_eq!(types(&table), plain);
    assert_eq!(plain[1], DataType::Utf8);
    assert_eq!(plain[2], DataType::Binary);
    assert_eq!(
        types(&decoded(&plan).await),
        plain,
        "the Parquet reader decodes plain arrays"
    );

    let got = rows(&engine, &plan).await;
    assert_eq!(types(&got.schema()), plain);
    for (i, column) in batch.columns().iter().enumerate() {
        let expected = cast(column, &plain[i]).unwrap();
        assert_eq!(got.column(i), &expected, "{}", batch.schema().field(i));
    }

    // Statistics are read with the table's types.
    let stats = StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .unwrap();
    let name = &stats.column_statistics[1];
    assert_eq!(
        name.min_value.get_value(),
        Some(&ScalarValue::Utf8(Some(LONG_NAME.into())))
    );
    assert_eq!(
        name.max_value.get_value(),
        Some(&ScalarValue::Utf8(Some("ana".into())))
    );
    assert_eq!(name.null_count, Precision::Exact(1));
}

#[tokio::test]
async fn without_plain_strings_views_are_read_as_the_hint_says() {
    let batch = written();
    let (_dir, dataset) = lake(&batch);
    let engine = engine(false);
    let (table, plan) = scan(&engine, &dataset).await;
    let views = types(&batch.schema());
    assert_eq!(types(&table), views);
    assert_eq!(views[1], DataType::Utf8View);
    assert_eq!(types(&decoded(&plan).await), views);

    let got = rows(&engine, &plan).await;
    assert_eq!(types(&got.schema()), views);
    for (i, column) in batch.columns().iter().enumerate() {
        assert_eq!(got.column(i), column, "{}", batch.schema().field(i));
    }
    let stats = StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .unwrap();
    assert_eq!(
        stats.column_statistics[1].min_value.get_value(),
        Some(&ScalarValue::Utf8View(Some(LONG_NAME.into())))
    );
}
