//! The table behind `system.access_requests`: every access request and its
//! decision, read from the catalog database page by page on every scan.

use futures::FutureExt;
use laker_catalog::AccessRequest;

use super::columns::Column;
use super::paged::PagedTable;

/// `system.access_requests`; a request not yet decided has no
/// `decided_by`, `decided_at` or `note`, and has a `dataset` or a `need`.
pub(super) fn access_requests_table() -> PagedTable<AccessRequest> {
    type C = Column<AccessRequest>;
    let columns = vec![
        C::int64("id", |r| r.id),
        C::text("requester", |r| &r.requester),
        C::optional_text("dataset", |r| r.dataset.as_deref()),
        C::optional_text("need", |r| r.need.as_deref()),
        C::text("reason", |r| &r.reason),
        C::text("status", |r| r.status.as_str()),
        C::time("created_at", |r| r.created_at),
        C::optional_text("decided_by", |r| r.decided_by.as_deref()),
        C::optional_time("decided_at", |r| r.decided_at),
        C::optional_text("note", |r| r.note.as_deref()),
    ];
    PagedTable::new(
        columns,
        |c, after, n| async move { c.access_request_page(after, n).await }.boxed(),
        |r| r.id,
    )
}
