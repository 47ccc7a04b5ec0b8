//! Whether a download returns the rows of whole Parquet files unchanged:
//! no filter, limit, order, policy, computed or renamed column between the
//! files' columns and the client. Such a download can be served by copying
//! the files' encoded column chunks into a new file, with no decoding or
//! encoding. Only a whitelist of plan shapes qualifies; any other node, or
//! anything the check does not recognise, means the download is read the
//! usual way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::Schema;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::projection::ProjectionExec;
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::engine::DownloadPlan;

/// The Parquet files a download reads whole, and the columns it returns.
#[derive(Debug, Clone)]
pub struct CopySource {
    /// The store the files are in (registered in the runtime).
    pub store: ObjectStoreUrl,
    /// Each file once, in the order the plan lists them.
    pub files: Vec<ObjectMeta>,
    /// The download's columns, in order: top-level columns of the files.
    pub columns: Vec<String>,
}

impl DownloadPlan {
    /// The files and columns this download reads, when it returns every
    /// row of those files' columns unchanged (in no particular order);
    /// `None` when it filters, limits, orders, masks, computes or renames
    /// anything, returns a partition column, or has a shape not known to
    /// be safe.
    pub fn copy_source(&self) -> Option<CopySource> {
        if self.ordered {
            return None;
        }
        copy_source(self.physical_plan())
    }
}

/// [`DownloadPlan::copy_source`] of a physical plan: optional
/// `CoalescePartitionsExec`, `CooperativeExec` and `ProjectionExec`s of
/// plain columns over a Parquet `DataSourceExec` with no predicate and no
/// limit, each node without a fetch.
pub fn copy_source(plan: &Arc<dyn ExecutionPlan>) -> Option<CopySource> {
    let mut node = plan;
    // For each output column, its index in `node`'s output.
    let mut picks: Vec<usize> = (0..plan.schema().fields().len()).collect();
    let scan = loop {
        // A node delegating its identity could pass for another type.
        if node.downcast_delegate().is_some() || node.fetch().is_some() {
            return None;
        }
        if let Some(exec) = node.downcast_ref::<ProjectionExec>() {
            let input = exec.input();
            let columns = plain_columns(exec.expr(), &input.schema())?;
            picks = picks
                .iter()
                .map(|&i| columns.get(i).copied())
                .collect::<Option<_>>()?;
            node = input;
        } else if let Some(exec) = node.downcast_ref::<CoalescePartitionsExec>() {
            node = exec.input();
        } else if let Some(exec) = node.downcast_ref::<CooperativeExec>() {
            node = exec.input();
        } else {
            break node.downcast_ref::<DataSourceExec>()?;
        }
    };
    let (config, parquet) = scan.downcast_to_file_source::<ParquetSource>()?;
    if config.limit.is_some() || parquet.filter().is_some() {
        return None;
    }
    let table = parquet.table_schema().table_schema();
    let scanned = match parquet.projection() {
        Some(projection) => plain_columns(projection.iter(), table)?,
        None => (0..table.fields().len()).collect(),
    };
    // Columns past the files' own are partition (or virtual) columns.
    let in_files = config.file_schema().fields();
    let columns = picks
        .iter()
        .map(|&i| {
            let field = *scanned.get(i)?;
            in_files.get(field).map(|f| f.name().clone())
        })
        .collect::<Option<Vec<String>>>()?;
    let distinct: HashSet<&String> = columns.iter().collect();
    if columns.is_empty() || distinct.len() != columns.len() {
        return None;
    }
    let output = plan.schema();
    if output.fields().iter().map(|f| f.name()).ne(columns.iter()) {
        return None;
    }
    Some(CopySource {
        store: config.object_store_url.clone(),
        files: whole_files(config)?,
        columns,
    })
}

/// The input column each expression passes on unchanged, by index; `None`
/// if one computes anything or renames its column.
fn plain_columns<'a>(
    exprs: impl IntoIterator<Item = &'a ProjectionExpr>,
    input: &Schema,
) -> Option<Vec<usize>> {
    exprs
        .into_iter()
        .map(|e| {
            let column = e.expr.downcast_ref::<Column>()?;
            let field = input.fields().get(column.index())?;
            (e.alias == column.name() && field.name() == column.name()).then_some(column.index())
        })
        .collect()
}

/// The files the scan reads, each once and whole: a file split into byte
/// ranges (read by several partitions) counts when its ranges cover it
/// exactly, without gaps or overlaps. `None` for anything else, or for a
/// file carrying extensions (e.g. an access plan skipping row groups).
fn whole_files(config: &FileScanConfig) -> Option<Vec<ObjectMeta>> {
    let mut order: Vec<ObjectMeta> = Vec::new();
    let mut ranges: HashMap<Path, Vec<(i64, i64)>> = HashMap::new();
    for file in config.file_groups.iter().flat_map(|group| group.iter()) {
        // Extensions (an access plan skipping row groups) and a schema of
        // the file's own change what is read from it.
        if !file.extensions.is_empty() || file.arrow_schema.is_some() {
            return None;
        }
        let meta = &file.object_meta;
        let size = i64::try_from(meta.size).ok()?;
        let range = file.range.as_ref().map_or((0, size), |r| (r.start, r.end));
        let pieces = ranges.entry(meta.location.clone()).or_default();
        if pieces.is_empty() {
            order.push(meta.clone());
        }
        pieces.push(range);
    }
    for meta in &order {
        let pieces = ranges.get_mut(&meta.location)?;
        pieces.sort_unstable();
        let mut next = 0;
        for &(start, end) in pieces.iter() {
            if start != next || end <= start {
                return None;
            }
            next = end;
        }
        if next != i64::try_from(meta.size).ok()? {
            return None;
        }
    }
    (!order.is_empty()).then_some(order)
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, SchemaRef};
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
    use datafusion::physical_expr::expressions::lit;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn scan(
        groups: Vec<Vec<PartitionedFile>>,
        source: ParquetSource,
        projection: Option<Vec<usize>>,
    ) -> Arc<dyn ExecutionPlan> {
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection)
                .unwrap()
                .build();
        DataSourceExec::from_data_source(config)
    }

    fn file(name: &str) -> PartitionedFile {
        PartitionedFile::new(name, 1000)
    }

    fn names(source: &CopySource) -> Vec<String> {
        source
            .files
            .iter()
            .map(|f| f.location.to_string())
            .collect()
    }

    #[test]
    fn whole_files_and_plain_columns_are_copied() {
        let plan = scan(
            vec![vec![file("a.parquet")], vec![file("b.parquet")]],
            ParquetSource::new(schema()),
            None,
        );
        let source = copy_source(&plan).unwrap();
        assert_eq!(source.columns, ["id", "name"]);
        assert_eq!(names(&source), ["a.parquet", "b.parquet"]);

        let reordered = scan(
            vec![vec![file("a.parquet")]],
            ParquetSource::new(schema()),
            Some(vec![1, 0]),
        );
        assert_eq!(copy_source(&reordered).unwrap().columns, ["name", "id"]);

        let coalesced: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(plan));
        assert_eq!(copy_source(&coalesced).unwrap().columns, ["id", "name"]);
    }

    #[test]
    fn a_file_split_into_ranges_counts_only_when_they_cover_it() {
        let split = vec![
            vec![file("a.parquet").with_range(0, 400)],
            vec![file("a.parquet").with_range(400, 1000), file("b.parquet")],
        ];
        let plan = scan(split, ParquetSource::new(schema()), None);
        assert_eq!(
            names(&copy_source(&plan).unwrap()),
            ["a.parquet", "b.parquet"]
        );

        let gap = vec![
            vec![file("a.parquet").with_range(0, 400)],
            vec![file("a.parquet").with_range(500, 1000)],
        ];
        assert!(copy_source(&scan(gap, ParquetSource::new(schema()), None)).is_none());
        let twice = vec![vec![file("a.parquet")], vec![file("a.parquet")]];
        assert!(copy_source(&scan(twice, ParquetSource::new(schema()), None)).is_none());
        let part = vec![vec![file("a.parquet").with_range(0, 400)]];
        assert!(copy_source(&scan(part, ParquetSource::new(schema()), None)).is_none());
    }

    #[test]
    fn predicates_limits_and_renames_are_not_copied() {
        let files = || vec![vec![file("a.parquet")]];
        let filtered = ParquetSource::new(schema()).with_predicate(lit(true));
        assert!(copy_source(&scan(files(), filtered, None)).is_none());

        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::local_filesystem(),
            Arc::new(ParquetSource::new(schema())),
        )
        .with_file_groups(files().into_iter().map(FileGroup::new).collect())
        .with_limit(Some(5))
        .build();
        let limited: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        assert!(copy_source(&limited).is_none());

        let plan = scan(files(), ParquetSource::new(schema()), None);
        let renamed = ProjectionExec::try_new(
            vec![ProjectionExpr::new(Arc::new(Column::new("id", 0)), "x")],
            Arc::clone(&plan),
        )
        .unwrap();
        assert!(copy_source(&(Arc::new(renamed) as Arc<dyn ExecutionPlan>)).is_none());
        let constant = ProjectionExec::try_new(
            vec![ProjectionExpr::new(lit(1i64), "id")],
            Arc::clone(&plan),
        )
        .unwrap();
        assert!(copy_source(&(Arc::new(constant) as Arc<dyn ExecutionPlan>)).is_none());
        let kept = ProjectionExec::try_new(
            vec![ProjectionExpr::new(
                Arc::new(Column::new("name", 1)),
                "name",
            )],
            plan,
        )
        .unwrap();
        let kept = copy_source(&(Arc::new(kept) as Arc<dyn ExecutionPlan>)).unwrap();
        assert_eq!(kept.columns, ["name"]);
    }
}
