//! Access requests: request_access, list_access_requests,
//! approve_access_request and reject_access_request. A principal asks to
//! read a dataset it may discover, or describes data it cannot find;
//! admins (admin on `*`) approve (the read grant is made by the `grant`
//! action's code, with its checks) or reject. The HTTP API's
//! `/api/v1/access-requests` routes run the same functions.

use std::sync::Arc;

use laker_auth::{Action, Principal};
use laker_catalog::{AccessRequest, DatasetName, NewAccessRequest, RequestStatus};
use serde::Deserialize;

use super::access::{GrantRequest, grant};
use super::principals::require_admin;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Most requests one listing returns.
const MAX_LISTED: i64 = 500;

/// Body of request_access (and of `POST /api/v1/access-requests`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestAccess {
    /// `ns.dataset` to read.
    #[serde(default)]
    pub(crate) dataset: Option<String>,
    /// The data wanted when no dataset meets it.
    #[serde(default)]
    pub(crate) need: Option<String>,
    /// Why the requester needs it.
    pub(crate) reason: String,
}

/// Body of list_access_requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRequests {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    status: Option<String>,
}

/// Body of approve_access_request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approve {
    id: i64,
    #[serde(default)]
    row_filter: Option<String>,
    #[serde(default)]
    column_masks: Option<serde_json::Value>,
    #[serde(default)]
    note: Option<String>,
}

/// Body of reject_access_request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    id: i64,
    #[serde(default)]
    note: Option<String>,
}

/// What an approval adds to the read grant: a row filter, column masks.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    pub(crate) row_filter: Option<String>,
    pub(crate) column_masks: Option<serde_json::Value>,
}

/// Stores `principal`'s request. A dataset the caller may not discover is
/// missing to it; one it reads already needs no request.
pub(crate) async fn create(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RequestAccess,
) -> Result<AccessRequest> {
    let dataset = match req.dataset.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => {
            let name = DatasetName::parse(name)?;
            let access = state
                .authorizer
                .require(principal, Action::Discover, &name)
                .await?;
            state.catalog.dataset(&name).await?;
            if access.allows(Action::Read) {
                // Approving would replace the grant it reads through.
                return Err(Error::FailedPrecondition(format!(
                    "you already read dataset '{name}'; ask an admin to change your \
                     grant if you need more of it"
                )));
            }
            Some(name.to_string())
        }
        _ => None,
    };
    let new = NewAccessRequest {
        requester: principal.name.clone(),
        dataset,
        need: req.need,
        reason: req.reason,
    };
    Ok(state.catalog.create_access_request(&new).await?)
}

/// The caller's own requests, or (`all`, admins only) everyone's; only
/// those in `status` when given. Newest first.
pub(crate) async fn list(
    state: &Arc<AppState>,
    principal: &Principal,
    all: bool,
    status: Option<RequestStatus>,
) -> Result<Vec<AccessRequest>> {
    let requester = if all {
        require_admin(state, principal).await?;
        None
    } else {
        Some(principal.name.as_str())
    };
    Ok(state
        .catalog
        .access_requests(requester, status, MAX_LISTED)
        .await?)
}

/// Approves (granting read on the request's dataset with `policy`) or
/// rejects request `id`, once (admin on `*`). The request leaves pending
/// first, in one conditional update, so of concurrent decisions exactly one
/// wins; an approval then makes the grant, and puts the request back to
/// pending when that fails.
pub(crate) async fn decide(
    state: &Arc<AppState>,
    principal: &Principal,
    (id, approve): (i64, bool),
    policy: Policy,
    note: Option<String>,
) -> Result<AccessRequest> {
    require_admin(state, principal).await?;
    let request = state.catalog.access_request(id).await?;
    if request.status != RequestStatus::Pending {
        // As the catalog refuses it (a request being approved counts too).
        return Err(Error::FailedPrecondition(format!(
            "access request {id} was already {} by '{}'",
            request.status.as_str(),
            request.decided_by.as_deref().unwrap_or_default()
        )));
    }
    let restricted = policy.row_filter.is_some() || policy.column_masks.is_some();
    let wanted = match (&request.dataset, approve) {
        (None, true) if restricted => {
            return Err(Error::InvalidArgument(format!(
                "access request {id} describes a need, not a dataset: approving it grants \
                 nothing, so it takes no row_filter or column_masks; grant them on the \
                 dataset that meets it"
            )));
        }
        (Some(dataset), true) => Some(grant_for(state, &request, dataset, policy).await?),
        _ => None,
    };
    let decided = state
        .catalog
        .decide_access_request(id, approve, &principal.name, note.as_deref())
        .await?;
    let Some(wanted) = wanted else {
        return Ok(decided);
    };
    if let Err(e) = grant(state, principal, wanted).await {
        // Pending again, to be decided anew; unless the requester asked
        // again meanwhile, and that newer request is pending instead.
        if let Err(reopen) = state.catalog.reopen_access_request(&decided).await {
            tracing::warn!(
                request = id,
                error = %reopen,
                "an access request whose grant failed stays approved"
            );
        }
        return Err(e);
    }
    Ok(decided)
}

/// The read grant approving `request` for `dataset` makes, with `policy`;
/// refused when the requester reads the dataset already.
async fn grant_for(
    state: &AppState,
    request: &AccessRequest,
    dataset: &str,
    policy: Policy,
) -> Result<GrantRequest> {
    let requester = Principal::new(request.requester.clone());
    let name = DatasetName::parse(dataset)?;
    if state
        .authorizer
        .allows(&requester, Action::Read, &name)
        .await?
    {
        // A grant made now would replace (or add to) the one it reads
        // through, which may filter rows or mask columns.
        return Err(Error::FailedPrecondition(format!(
            "'{}' already reads dataset '{name}' (perhaps through a role, with row \
             filters or masks): change that grant instead, then reject this request",
            request.requester
        )));
    }
    let mut body = serde_json::json!({
        "user": request.requester, "pattern": dataset, "action": "read",
    });
    if let Some(filter) = policy.row_filter {
        body["row_filter"] = filter.into();
    }
    if let Some(masks) = policy.column_masks {
        body["column_masks"] = masks;
    }
    serde_json::from_value(body)
        .map_err(|e| Error::InvalidArgument(format!("approving: invalid grant: {e}")))
}

/// request_access.
pub(crate) async fn request_access(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RequestAccess,
) -> Result<serde_json::Value> {
    json(&create(state, principal, req).await?)
}

/// list_access_requests: `{"requests": [...]}`.
pub(crate) async fn list_requests(
    state: &Arc<AppState>,
    principal: &Principal,
    req: ListRequests,
) -> Result<serde_json::Value> {
    let status = req
        .status
        .as_deref()
        .map(RequestStatus::parse)
        .transpose()?;
    let requests = list(state, principal, req.all, status).await?;
    Ok(serde_json::json!({ "requests": json(&requests)? }))
}

/// approve_access_request.
pub(crate) async fn approve(
    state: &Arc<AppState>,
    principal: &Principal,
    req: Approve,
) -> Result<serde_json::Value> {
    let policy = Policy {
        row_filter: req.row_filter,
        column_masks: req.column_masks,
    };
    json(&decide(state, principal, (req.id, true), policy, req.note).await?)
}

/// reject_access_request.
pub(crate) async fn reject(
    state: &Arc<AppState>,
    principal: &Principal,
    req: Reject,
) -> Result<serde_json::Value> {
    json(
        &decide(
            state,
            principal,
            (req.id, false),
            Policy::default(),
            req.note,
        )
        .await?,
    )
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))
}
