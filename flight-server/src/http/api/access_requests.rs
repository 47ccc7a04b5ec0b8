//! Access requests: a user asks to read a dataset it may discover, or
//! describes data it cannot find; admins approve (the read grant is created
//! through the `grant` action, with its checks) or reject; the requester
//! sees the outcome. Every step is audited. The work is the access-request
//! actions' ([`crate::actions::requests`]), which Flight clients call.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use laker_catalog::RequestStatus;
use serde::Deserialize;

use super::audited::{Asked, audited};
use super::caller::Caller;
use super::context::{Api, json_body};
use super::params::Params;
use super::path::PathParams;
use super::problem::Problem;
use crate::actions::requests::{self, Policy, RequestAccess};

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
    let body: RequestAccess = json_body("access request", &body)?;
    let dataset = body.dataset.clone().unwrap_or_default();
    let detail = serde_json::json!({"need": body.need, "reason": body.reason}).to_string();
    let asked = Asked {
        operation: "access_request",
        dataset: &dataset,
        detail: &detail,
    };
    let created = audited(&api, &caller, asked, async {
        requests::create(&api.state, &caller.principal, body).await
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
    let listed = audited(&api, &caller, asked, async {
        requests::list(&api.state, &caller.principal, all, status).await
    })
    .await?;
    Ok(Json(serde_json::json!({ "requests": listed })))
}

/// `POST /api/v1/access-requests/{id}/approve` (admins).
pub async fn approve(
    State(api): State<Api>,
    caller: Caller,
    PathParams(id): PathParams<i64>,
    body: Bytes,
) -> std::result::Result<Json<serde_json::Value>, Problem> {
    decide(api, caller, id, &body, true).await
}

/// `POST /api/v1/access-requests/{id}/reject` (admins).
pub async fn reject(
    State(api): State<Api>,
    caller: Caller,
    PathParams(id): PathParams<i64>,
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
    let policy = Policy {
        row_filter: body.row_filter,
        column_masks: body.column_masks,
    };
    let note = body.note;
    let decided = audited(&api, &caller, asked, async {
        requests::decide(&api.state, &caller.principal, (id, approve), policy, note).await
    })
    .await?;
    Ok(Json(serde_json::to_value(decided).unwrap_or_default()))
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
