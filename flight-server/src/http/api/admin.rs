//! Administration over HTTP: every DoAction, by name, with the same body,
//! checks and result (`POST /api/v1/admin/actions/{action}`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};

use super::audited::{Asked, audited};
use super::caller::Caller;
use super::context::Api;
use super::params::Params;
use super::path::PathParams;
use super::problem::Problem;
use crate::actions::{self, ACTIONS, MAX_BODY_BYTES};

/// `GET /api/v1/admin/actions`: the actions and their bodies.
pub async fn list(
    _caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    Params::parse(query.as_deref(), &[])?;
    let actions: Vec<_> = ACTIONS
        .iter()
        .map(|(name, description)| serde_json::json!({"name": name, "description": description}))
        .collect();
    Ok(Json(serde_json::json!({ "actions": actions })))
}

/// `POST /api/v1/admin/actions/{action}`: runs the action for the caller.
pub async fn run(
    State(api): State<Api>,
    caller: Caller,
    PathParams(action): PathParams<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::invalid(format!(
            "{action}: body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    let operation = format!("admin:{}", action.chars().take(64).collect::<String>());
    let dataset = actions::dataset_of(&body);
    let detail = crate::audit::redact(&body);
    let asked = Asked {
        operation: &operation,
        dataset: &dataset,
        detail: &detail,
    };
    let request = arrow_flight::Action::new(action.clone(), body);
    let result = audited(&api, &caller, asked, async {
        actions::do_action(&api.state, &caller.principal, request).await
    })
    .await?;
    Ok(Json(result))
}
