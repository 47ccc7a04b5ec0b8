//! The key of a cached result: a SHA-256 over everything that decides the
//! bytes of one partition's stream — or none, for a plan whose bytes
//! cannot be pinned down.
//!
//! What it covers:
//! - the dataset (name, location, creation time, revision) and the Delta
//!   version read;
//! - the physical plan as rendered in full (projection, the client's
//!   filter, the caller's row filters and column masks with the
//!   principal's values bound in, sort, limit, partitioning) and its
//!   output schema;
//! - every file each scan reads (path, size, modification time, ETag,
//!   version, byte range, partition values): the rendering shortens file
//!   lists, and a directory of Parquet files can change without a new
//!   revision;
//! - the partition, the body compression and the largest message size;
//! - for callers whose grants filter rows or mask columns, the caller:
//!   their entries are their own.
//!
//! Not cacheable (`None`): a plan reading anything but files (the `system`
//! datasets, in-memory or streaming sources), and one with a volatile
//! expression (`random()`), whose every run differs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::ipc::CompressionType;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use laker_catalog::Dataset;
use sha2::{Digest, Sha256};

/// The identity of a cached result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ResultKey(pub(super) [u8; 32]);

impl ResultKey {
    /// The key's first 8 bytes, for the set of keys seen recently.
    pub(super) fn digest(&self) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(head)
    }
}

/// Everything a download's bytes depend on.
pub(crate) struct KeyParts<'a> {
    /// The dataset read.
    pub dataset: &'a Dataset,
    /// The Delta version read (`None` for file datasets).
    pub delta_version: Option<u64>,
    /// The physical plan, policies included.
    pub plan: &'a Arc<dyn ExecutionPlan>,
    /// The partition streamed (`None`: all of them, merged).
    pub partition: Option<usize>,
    /// The compression of message bodies.
    pub compression: Option<CompressionType>,
    /// The largest message body the encoder writes before splitting a batch.
    pub max_message_bytes: usize,
    /// The caller, when their grants filter rows or mask columns.
    pub reader: Option<&'a str>,
}

/// The key of the result `parts` describe; `None` when its bytes cannot
/// be keyed.
pub(crate) fn result_key(parts: &KeyParts<'_>) -> Option<ResultKey> {
    let mut h = Fields(Sha256::new());
    let dataset = parts.dataset;
    h.field("dataset", dataset.name.to_string());
    h.field("location", &dataset.location);
    h.field("format", dataset.format.as_str());
    h.number("created_at", dataset.created_at);
    h.number("revision", dataset.revision);
    h.option("delta_version", parts.delta_version.map(|v| v.to_string()));
    h.option("partition", parts.partition.map(|p| p.to_string()));
    h.option("compression", parts.compression.map(|c| format!("{c:?}")));
    h.number("max_message_bytes", parts.max_message_bytes as i64);
    h.option("reader", parts.reader);
    h.field("plan", plan_digest(parts.plan)?);
    h.field("schema", schema_text(&parts.plan.schema()));
    sources(parts.plan, parts.delta_version.is_some(), &mut h)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&h.0.finalize());
    Some(ResultKey(key))
}

/// Fields hashed with their names and lengths, so no two different lists
/// of fields hash the same bytes.
struct Fields(Sha256);

impl Fields {
    fn field(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        self.0.update(name.as_bytes());
        self.0.update([0u8]);
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    fn number(&mut self, name: &str, value: i64) {
        self.field(name, value.to_le_bytes());
    }

    fn option(&mut self, name: &str, value: Option<impl AsRef<[u8]>>) {
        match value {
            Some(value) => self.field(name, value),
            None => self.field(name, b"\xff-none"),
        }
    }
}

/// Feeds text into a hash as it is written.
struct HashWriter<'a>(&'a mut Sha256);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// SHA-256 of the plan rendered in full (every operator with every detail).
fn plan_digest(plan: &Arc<dyn ExecutionPlan>) -> Option<[u8; 32]> {
    let mut digest = Sha256::new();
    write!(
        HashWriter(&mut digest),
        "{}",
        displayable(plan.as_ref()).indent(true)
    )
    .ok()?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest.finalize());
    Some(out)
}

/// The schema's fields (names, types, nullability, metadata in order) and
/// metadata, as text.
fn schema_text(schema: &Schema) -> String {
    let mut text = String::new();
    for field in schema.fields() {
        let metadata: BTreeMap<_, _> = field.metadata().iter().collect();
        let _ = writeln!(
            text,
            "{:?}\t{:?}\t{}\t{:?}",
            field.name(),
            field.data_type(),
            field.is_nullable(),
            metadata
        );
    }
    let metadata: BTreeMap<_, _> = schema.metadata().iter().collect();
    let _ = write!(text, "{metadata:?}");
    text
}

/// Hashes what every leaf of `plan` reads; `None` when a leaf reads
/// something other than files, or an expression is volatile. `delta`: the
/// plan reads one Delta version, whose metadata-only scans are pinned by it.
fn sources(plan: &Arc<dyn ExecutionPlan>, delta: bool, h: &mut Fields) -> Option<()> {
    let mut stack = vec![plan];
    while let Some(node) = stack.pop() {
        if volatile(node) {
            return None;
        }
        let children = node.children();
        if children.is_empty() {
            leaf(node, delta, h)?;
        }
        stack.extend(children);
    }
    Some(())
}

/// Whether `node` evaluates a volatile expression.
fn volatile(node: &Arc<dyn ExecutionPlan>) -> bool {
    if let Some(filter) = node.downcast_ref::<FilterExec>() {
        return is_volatile(filter.predicate());
    }
    if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
        return projection.expr().iter().any(|p| is_volatile(&p.expr));
    }
    if let Some(config) = file_scan(node) {
        let source = &config.file_source;
        let filter = source.filter().is_some_and(|f| is_volatile(&f));
        let projected = source
            .projection()
            .is_some_and(|p| p.iter().any(|e| is_volatile(&e.expr)));
        return filter || projected;
    }
    false
}

fn file_scan(node: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    node.downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()
}

/// Hashes what the leaf `node` reads; `None` if it cannot be keyed.
fn leaf(node: &Arc<dyn ExecutionPlan>, delta: bool, h: &mut Fields) -> Option<()> {
    if let Some(config) = file_scan(node) {
        h.field("store", config.object_store_url.as_str());
        for (i, group) in config.file_groups.iter().enumerate() {
            h.number("group", i as i64);
            for file in group.iter() {
                let meta = &file.object_meta;
                let path: &str = meta.location.as_ref();
                h.field("path", path);
                h.number("size", meta.size as i64);
                h.number("modified_s", meta.last_modified.timestamp());
                h.number(
                    "modified_ns",
                    i64::from(meta.last_modified.timestamp_subsec_nanos()),
                );
                h.option("e_tag", meta.e_tag.as_deref());
                h.option("version", meta.version.as_deref());
                h.option(
                    "range",
                    file.range
                        .as_ref()
                        .map(|r| format!("{}..{}", r.start, r.end)),
                );
                h.field("partition_values", format!("{:?}", file.partition_values));
            }
        }
        return Some(());
    }
    let pinned = node.is::<EmptyExec>()
        || node.is::<PlaceholderRowExec>()
        // A Delta scan answered from the log alone (counts), pinned by the version.
        || (delta && node.name() == "DeltaScanMetaExec");
    if pinned {
        h.field("leaf", node.name());
        Some(())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    use laker_catalog::{DatasetFormat, DatasetName, DatasetOptions};

    fn dataset(revision: i64) -> Dataset {
        Dataset {
            name: DatasetName::parse("lake.numbers").unwrap(),
            description: String::new(),
            tags: Vec::new(),
            format: DatasetFormat::Parquet,
            location: "file:///lake/numbers/".into(),
            options: DatasetOptions::default(),
            owner: String::new(),
            created_at: 1,
            updated_at: 1,
            refreshed_at: 0,
            revision,
        }
    }

    fn write_numbers(path: &std::path::Path, n: i64) {
        let batch = RecordBatch::try_from_iter([(
            "a",
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
        )])
        .unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// The physical plan of `sql`, over table `t` (the Parquet file at `path`).
    async fn plan(path: &std::path::Path, sql: &str) -> Arc<dyn ExecutionPlan> {
        let ctx = SessionContext::new();
        ctx.register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        ctx.sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap()
    }

    fn key(plan: &Arc<dyn ExecutionPlan>, dataset: &Dataset) -> Option<ResultKey> {
        result_key(&KeyParts {
            dataset,
            delta_version: None,
            plan,
            partition: Some(0),
            compression: None,
            max_message_bytes: 2 << 20,
            reader: None,
        })
    }

    #[tokio::test]
    async fn the_key_follows_the_plan_the_files_and_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("numbers.parquet");
        write_numbers(&path, 100);
        let ds = dataset(1);
        let sql = "SELECT a FROM t WHERE a > 10";
        let first = plan(&path, sql).await;
        let k = key(&first, &ds).expect("a file scan is keyed");
        // Planned again: the same key.
        assert_eq!(key(&plan(&path, sql).await, &ds), Some(k));
        // Another filter (a row filter, a mask) is another plan.
        let other = plan(&path, "SELECT a FROM t WHERE a > 11").await;
        assert_ne!(key(&other, &ds), Some(k));
        // A new revision, another partition, compression, reader.
        assert_ne!(key(&first, &dataset(2)), Some(k));
        let with = |f: &dyn Fn(&mut KeyParts<'_>)| {
            let mut parts = KeyParts {
                dataset: &ds,
                delta_version: None,
                plan: &first,
                partition: Some(0),
                compression: None,
                max_message_bytes: 2 << 20,
                reader: None,
            };
            f(&mut parts);
            result_key(&parts)
        };
        assert_eq!(with(&|_| {}), Some(k));
        assert_ne!(with(&|p| p.partition = None), Some(k));
        assert_ne!(
            with(&|p| p.compression = Some(CompressionType::ZSTD)),
            Some(k)
        );
        assert_ne!(with(&|p| p.reader = Some("eve")), Some(k));
        assert_ne!(with(&|p| p.delta_version = Some(3)), Some(k));
        // The file rewritten in place, with the same revision: another key.
        write_numbers(&path, 200);
        assert_ne!(key(&plan(&path, sql).await, &ds), Some(k));
    }

    #[tokio::test]
    async fn volatile_expressions_and_other_sources_are_not_keyed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("numbers.parquet");
        write_numbers(&path, 10);
        let ds = dataset(1);
        for sql in [
            "SELECT a FROM t WHERE random() < 0.5",
            "SELECT a, random() AS r FROM t",
            "SELECT * FROM (VALUES (1), (2)) AS v(x)",
        ] {
            assert_eq!(key(&plan(&path, sql).await, &ds), None, "{sql}");
        }
        assert!(key(&plan(&path, "SELECT 1 AS one").await, &ds).is_some());
    }
}
