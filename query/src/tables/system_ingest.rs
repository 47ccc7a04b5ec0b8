//! The tables behind `system.ingest_runs` (every run of an ingest job) and
//! `system.ingest_files` (every file ingest jobs took), read from the
//! catalog database page by page on every scan.

use futures::FutureExt;
use laker_catalog::{IngestRun, ManifestEntry};

use super::columns::Column;
use super::paged::PagedTable;

/// `system.ingest_runs`; a run still running has no `finished_at`, one that
/// committed nothing no `delta_version`.
pub(super) fn ingest_runs_table() -> PagedTable<IngestRun> {
    type C = Column<IngestRun>;
    let columns = vec![
        C::int64("id", |r| r.id),
        C::text("job", |r| &r.job),
        C::text("cause", |r| &r.cause),
        C::time("started_at", |r| r.started_at),
        C::optional_time("finished_at", |r| r.finished_at),
        C::optional_int64("duration_ms", |r| r.finished_at.map(|f| f - r.started_at)),
        C::int64("files", |r| r.summary.files),
        C::int64("rows", |r| r.summary.rows),
        C::int64("bytes", |r| r.summary.bytes),
        C::int64("rejects", |r| r.summary.rejects),
        C::int64("reimports", |r| r.summary.reimports),
        C::optional_int64("delta_version", |r| r.summary.delta_version),
        C::text("outcome", |r| &r.summary.outcome),
        C::optional_text("message", |r| r.summary.message.as_deref()),
    ];
    PagedTable::new(
        columns,
        |c, after, n| async move { c.ingest_run_page(after, n).await }.boxed(),
        |r| r.id,
    )
}

/// `system.ingest_files`.
pub(super) fn ingest_files_table() -> PagedTable<ManifestEntry> {
    type C = Column<ManifestEntry>;
    let columns = vec![
        C::int64("id", |e| e.id),
        C::text("job", |e| &e.job),
        C::int64("run_id", |e| e.run_id),
        C::text("path", |e| &e.file.path),
        C::int64("size", |e| e.file.size),
        C::text("version", |e| &e.file.object_version),
        C::text("outcome", |e| &e.file.outcome),
        C::int64("rows", |e| e.file.rows),
        C::optional_text("reason", |e| e.file.reason.as_deref()),
        C::flag("reimport", |e| e.file.reimport),
        C::flag("pending", |e| e.pending),
        C::time("taken_at", |e| e.taken_at),
    ];
    PagedTable::new(
        columns,
        |c, after, n| async move { c.ingest_manifest_page(after, n).await }.boxed(),
        |e| e.id,
    )
}
