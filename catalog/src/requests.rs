//! Access requests: a principal asks for read access to a dataset, or
//! describes data no dataset meets, with a reason; an admin approves or
//! rejects each once. The catalog stores and checks the records; granting
//! the access is the server's job.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{is_unique_violation, now_ms};
use crate::error::{CatalogError, Result};
use crate::names::DatasetName;
use crate::store::Catalog;

/// Most pending requests one requester may have at a time.
pub const MAX_PENDING_REQUESTS: i64 = 20;

/// Longest `reason`, `need` or `note`, in characters.
pub const MAX_REQUEST_TEXT: usize = 2000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for an admin.
    Pending,
    /// Approved (the access was granted).
    Approved,
    /// Rejected.
    Rejected,
}

impl RequestStatus {
    /// The name stored in the catalog and shown to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored or user-given status name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            _ => Err(CatalogError::invalid(format!(
                "invalid access request status '{}': expected pending, approved or rejected",
                s.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// A stored access request. Times are Unix epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRequest {
    /// Assigned by the catalog.
    pub id: i64,
    /// The principal asking.
    pub requester: String,
    /// The dataset to read (canonical `namespace.dataset`), or `None` for a
    /// need.
    pub dataset: Option<String>,
    /// The data wanted when no dataset meets it, or `None`.
    pub need: Option<String>,
    /// Why the requester needs it.
    pub reason: String,
    /// Pending, approved or rejected.
    pub status: RequestStatus,
    /// When it was made.
    pub created_at: i64,
    /// The admin who decided it, once decided.
    pub decided_by: Option<String>,
    /// When it was decided, once decided.
    pub decided_at: Option<i64>,
    /// The admin's note on the decision, if any.
    pub note: Option<String>,
}

/// A request to store: exactly one of `dataset` and `need`, and a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAccessRequest {
    /// The principal asking (set by the server, never by the client).
    pub requester: String,
    /// `namespace.dataset` to read.
    pub dataset: Option<String>,
    /// A description of data no dataset meets.
    pub need: Option<String>,
    /// Why the requester needs it.
    pub reason: String,
}

/// The columns every request query selects, in the order of the table.
macro_rules! request_columns {
    () => {
        "id, requester, dataset, need, reason, status, created_at, decided_by, decided_at, note"
    };
}

/// A query for requests matching `$condition`, newest first, at most `$limit`.
macro_rules! newest_where {
    ($condition:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            request_columns!(),
            " FROM access_requests WHERE ",
            $condition,
            " ORDER BY id DESC LIMIT ",
            $limit
        )
    };
}

impl Catalog {
    /// Stores a new pending request. Refuses a second pending request by the
    /// same requester for the same dataset (`AlreadyExists`) and more than
    /// [`MAX_PENDING_REQUESTS`] pending ones per requester
    /// (`FailedPrecondition`; on PostgreSQL, requests made at the very same
    /// moment may pass that limit together).
    pub async fn create_access_request(&self, new: &NewAccessRequest) -> Result<AccessRequest> {
        let mut request = checked(new)?;
        let mut tx = self.begin_write().await?;
        if let Some(dataset) = &request.dataset {
            let same: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM access_requests \
                 WHERE requester = $1 AND dataset = $2 AND status = 'pending'",
            )
            .bind(&request.requester)
            .bind(dataset)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if same > 0 {
                return Err(already_pending(dataset));
            }
        }
        let pending: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM access_requests WHERE requester = $1 AND status = 'pending'",
        )
        .bind(&request.requester)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if pending >= MAX_PENDING_REQUESTS {
            return Err(CatalogError::FailedPrecondition(format!(
                "'{}' already has {pending} pending access requests, the most allowed is \
                 {MAX_PENDING_REQUESTS}; wait until some are decided",
                request.requester
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO access_requests (requester, dataset, need, reason, status, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .bind(&request.requester)
        .bind(request.dataset.as_deref())
        .bind(request.need.as_deref())
        .bind(&request.reason)
        .bind(request.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &request.dataset {
            Some(dataset) if is_unique_violation(&e) => already_pending(dataset),
            _ => e.into(),
        })?;
        request.id = inserted.try_get("id")?;
        tx.commit().await?;
        Ok(request)
    }

    /// One request; `NotFound` when there is no such id.
    pub async fn access_request(&self, id: i64) -> Result<AccessRequest> {
        let row = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM access_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| CatalogError::not_found("access request", id.to_string()))?;
        request_from_row(&row)
    }

    /// At most `limit` requests, newest first; only those of `requester`
    /// and in `status` when given.
    pub async fn access_requests(
        &self,
        requester: Option<&str>,
        status: Option<RequestStatus>,
        limit: i64,
    ) -> Result<Vec<AccessRequest>> {
        if limit < 1 {
            return Err(CatalogError::invalid(format!(
                "invalid limit {limit}: list at least 1 access request"
            )));
        }
        let query = match (requester, status) {
            (None, None) => sqlx::query(newest_where!("1 = 1", "$1")),
            (Some(r), None) => sqlx::query(newest_where!("requester = $1", "$2")).bind(r),
            (None, Some(s)) => sqlx::query(newest_where!("status = $1", "$2")).bind(s.as_str()),
            (Some(r), Some(s)) => {
                sqlx::query(newest_where!("requester = $1 AND status = $2", "$3"))
                    .bind(r)
                    .bind(s.as_str())
            }
        };
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }

    /// One page of requests with ids above `after_id`, oldest first (for
    /// reading them all without holding them).
    pub async fn access_request_page(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AccessRequest>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            request_columns!(),
            " FROM access_requests WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Approves or rejects a pending request, once: a decided one is
    /// refused with `FailedPrecondition`, a missing one with `NotFound`.
    pub async fn decide_access_request(
        &self,
        id: i64,
        approve: bool,
        decided_by: &str,
        note: Option<&str>,
    ) -> Result<AccessRequest> {
        if decided_by.trim().is_empty() {
            return Err(CatalogError::invalid(
                "a decision on an access request needs the deciding principal",
            ));
        }
        let note = optional_text("note", note)?;
        let status = if approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Rejected
        };
        let done = sqlx::query(
            "UPDATE access_requests SET status = $1, decided_by = $2, decided_at = $3, note = $4 \
             WHERE id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(decided_by)
        .bind(now_ms())
        .bind(note.as_deref())
        .bind(id)
        .execute(&self.pool)
        .await?;
        let request = self.access_request(id).await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::FailedPrecondition(format!(
                "access request {id} was already {} by '{}'",
                request.status.as_str(),
                request.decided_by.as_deref().unwrap_or_default()
            )));
        }
        Ok(request)
    }

    /// Puts `approved` — a request this server just approved, whose grant
    /// then failed — back to pending, unless it changed since. Returns
    /// whether it did; `AlreadyExists` when the requester has asked for the
    /// same dataset again meanwhile (that newer request stays pending).
    pub async fn reopen_access_request(&self, approved: &AccessRequest) -> Result<bool> {
        let (Some(decided_by), Some(decided_at)) =
            (approved.decided_by.as_deref(), approved.decided_at)
        else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE access_requests \
             SET status = 'pending', decided_by = NULL, decided_at = NULL, note = NULL \
             WHERE id = $1 AND status = 'approved' AND decided_by = $2 AND decided_at = $3",
        )
        .bind(approved.id)
        .bind(decided_by)
        .bind(decided_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match &approved.dataset {
            Some(dataset) if is_unique_violation(&e) => already_pending(dataset),
            _ => e.into(),
        })?;
        Ok(done.rows_affected() > 0)
    }
}

/// The record `new` describes, checked and normalised (id still 0).
fn checked(new: &NewAccessRequest) -> Result<AccessRequest> {
    if new.requester.trim().is_empty() {
        return Err(CatalogError::invalid("an access request needs a requester"));
    }
    let dataset = new
        .dataset
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let need = optional_text("need", new.need.as_deref())?;
    let dataset = match (dataset, &need) {
        (Some(_), Some(_)) => {
            return Err(CatalogError::invalid(
                "an access request names either a 'dataset' or a 'need', not both",
            ));
        }
        (None, None) => {
            return Err(CatalogError::invalid(
                "an access request names either a 'dataset' to read or a 'need' \
                 (the data wanted when no dataset meets it)",
            ));
        }
        (dataset, _) => dataset
            .map(|d| DatasetName::parse(d).map(|name| name.to_string()))
            .transpose()?,
    };
    let reason = optional_text("reason", Some(new.reason.as_str()))?
        .ok_or_else(|| CatalogError::invalid("an access request needs a 'reason'"))?;
    Ok(AccessRequest {
        id: 0,
        requester: new.requester.clone(),
        dataset,
        need,
        reason,
        status: RequestStatus::Pending,
        created_at: now_ms(),
        decided_by: None,
        decided_at: None,
        note: None,
    })
}

/// Free text the client gave as `field`: trimmed, `None` when empty, at
/// most [`MAX_REQUEST_TEXT`] characters and without NUL characters.
fn optional_text(field: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let chars = value.chars().count();
    if chars > MAX_REQUEST_TEXT {
        return Err(CatalogError::invalid(format!(
            "'{field}' is too long: {chars} characters, at most {MAX_REQUEST_TEXT}"
        )));
    }
    if value.contains('\0') {
        return Err(CatalogError::invalid(format!(
            "'{field}' must not contain NUL characters"
        )));
    }
    Ok(Some(value.to_string()))
}

fn already_pending(dataset: &str) -> CatalogError {
    CatalogError::AlreadyExists {
        kind: "pending access request for dataset",
        name: dataset.to_string(),
    }
}

fn request_from_row(row: &AnyRow) -> Result<AccessRequest> {
    let id: i64 = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    Ok(AccessRequest {
        id,
        requester: row.try_get("requester")?,
        dataset: row.try_get("dataset")?,
        need: row.try_get("need")?,
        reason: row.try_get("reason")?,
        status: RequestStatus::parse(&status)
            .map_err(|e| CatalogError::Corrupt(format!("access request {id}: status: {e}")))?,
        created_at: row.try_get("created_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        note: row.try_get("note")?,
    })
}
