//! Access requests: a user asks to read a dataset it may discover, or
//! describes data it cannot find; admins approve (the read grant is created
//! through the `grant` action, with its checks) or reject; the requester
//! sees the outcome. Every step is audited.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use laker_auth::Action;
use laker_catalog::{NewAccessRequest, RequestStatus};
use serde::Deserialize;

use super::audited::{Asked, audited};
use super::caller::Caller;
use super::context::{Api, json_body};
use super::params::Params;
use super::problem::Problem;
use crate::error::{Error, Result};

/// Most requests one listing returns.
const MAX_LISTED: i64 = 500;

/// Body of `POST /api/v1/access-requests`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    need: Option<String>,
    reason: String,
}

/// Body of the approve and reject calls.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Decide {
    #[serde(default)]
    row_filter: Option<String>,
    #[serde(default)]
    column_masks: Option<serde_json::Value>,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/access-requests`.
pub async fn create(
    State(api): State<Api>,
    caller: Caller,
    body: Bytes,
) -> std::result::Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let body: Create = json_body("access request", &body)?;
    let dataset = body.dataset.clone().unwrap_or_default();
    let detail = serde_json::json!({"need": body.need, "reason": body.reason}).to_string();
    let asked = Asked {
        operation: "access_request",
        dataset: &dataset,
        detail: &detail,
    };
    let created = audited(&api, &caller, asked, async {
        let dataset = match body.dataset.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => {
                let name = laker_catalog::DatasetName::parse(name)?;
                // A dataset the caller may not discover is missing to it.
                let access = api
                    .state
                    .authorizer
                    .require(&caller.principal, Action::Discover, &name)
                    .await?;
                api.state.catalog.dataset(&name).await?;
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
            requester: caller.principal.name.clone(),
            dataset,
            need: body.need,
            reason: body.reason,
        };
        Ok(api.state.catalog.create_access_request(&new).await?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(created).unwrap_or_default()),
    ))
}

/// `GET /api/v1/access-requests[?all=true&status=…]`.
pub async fn list(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), &["all", "status"])?;
    let all = params.flag("all")?;
    let status = params.text("status").map(parse_status).transpose()?;
    let asked = Asked {
        operation: "access_requests",
        ..Asked::default()
    };
    let requests = audited(&api, &caller, asked, async {
        let requester = if all {
            require_admin(&api, &caller).await?;
            None
        } else {
            Some(caller.principal.name.as_str())
        };
        Ok(api
            .state
            .catalog
            .access_requests(requester, status, MAX_LISTED)
            .await?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "requests": requests })))
}

/// `POST /api/v1/access-requests/{id}/approve` (admins).
pub async fn approve(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    decide(api, caller, id, &body, true).await
}

/// `POST /api/v1/access-requests/{id}/reject` (admins).
pub async fn reject(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    decide(api, caller, id, &body, false).await
}

async fn decide(
    api: Api,
    caller: Caller,
    id: i64,
    body: &[u8],
    approve: bool,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    let body: Decide = if body.iter().all(u8::is_ascii_whitespace) {
        Decide::default()
    } else {
        json_body("decision", body)?
    };
    if !approve && (body.row_filter.is_some() || body.column_masks.is_some()) {
        return Err(Problem::invalid(
            "a rejection takes only a note: row_filter and column_masks belong to approvals",
        ));
    }
    let detail = serde_json::json!({
        "id": id, "approve": approve, "row_filter": body.row_filter,
        "column_masks": body.column_masks, "note": body.note,
    })
    .to_string();
    let asked = Asked {
        operation: if approve {
            "approve_access"
        } else {
            "reject_access"
        },
        detail: &detail,
        ..Asked::default()
    };
    let decided = audited(&api, &caller, asked, async {
        require_admin(&api, &caller).await?;
        let request = api.state.catalog.access_request(id).await?;
        if request.status != RequestStatus::Pending {
            return Ok(api
                .state
                .catalog
                .decide_access_request(id, approve, &caller.principal.name, body.note.as_deref())
                .await?);
        }
        if approve && let Some(dataset) = &request.dataset {
            let requester = laker_auth::Principal::new(request.requester.clone());
            let name = laker_catalog::DatasetName::parse(dataset)?;
            if api
                .state
                .authorizer
                .allows(&requester, Action::Read, &name)
                .await?
            {
                // A grant made now would replace (or add to) the one it
                // reads through, which may filter rows or mask columns.
                return Err(Error::FailedPrecondition(format!(
                    "'{}' already reads dataset '{name}' (perhaps through a role, with row \
                     filters or masks): change that grant instead, then reject this request",
                    request.requester
                )));
            }
            let mut grant = serde_json::json!({
                "user": request.requester, "pattern": dataset, "action": "read",
            });
            if let Some(filter) = &body.row_filter {
                grant["row_filter"] = filter.clone().into();
            }
            if let Some(masks) = &body.column_masks {
                grant["column_masks"] = masks.clone();
            }
            let action = arrow_flight::Action::new("grant", grant.to_string());
            crate::actions::do_action(&api.state, &caller.principal, action).await?;
        }
        Ok(api
            .state
            .catalog
            .decide_access_request(id, approve, &caller.principal.name, body.note.as_deref())
            .await?)
    })
    .await?;
    Ok(Json(serde_json::to_value(decided).unwrap_or_default()))
}

async fn require_admin(api: &Api, caller: &Caller) -> Result<()> {
    Ok(api
        .state
        .authorizer
        .require_global(&caller.principal, Action::Admin)
        .await?)
}

fn parse_status(text: &str) -> std::result::Result<RequestStatus, Problem> {
    match text {
        "pending" => Ok(RequestStatus::Pending),
        "approved" => Ok(RequestStatus::Approved),
        "rejected" => Ok(RequestStatus::Rejected),
        _ => Err(Problem::invalid(
            "parameter 'status' must be pending, approved or rejected",
        )),
    }
}
