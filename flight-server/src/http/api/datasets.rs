//! Discovering datasets over HTTP: the list a search finds, one dataset's
//! description, and a preview of its rows — each exactly what the caller's
//! grants show (a dataset it may not discover is 404, like a missing one).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use laker_auth::Principal;

use super::audited::{Asked, audited};
use super::caller::Caller;
use super::context::Api;
use super::params::{Params, SLICE};
use super::path::PathParams;
use super::problem::Problem;
use crate::download::{self, CheckedSpec, Planned};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Rows a preview shows unless asked otherwise.
const PREVIEW_ROWS: u64 = 50;
/// Most rows a preview shows.
const MAX_PREVIEW_ROWS: u64 = 1000;
/// Most bytes of JSON rows a preview answers with; rows beyond are left out.
const MAX_PREVIEW_BYTES: usize = 8 << 20;

/// `GET /api/v1/datasets?search=…`.
pub async fn list(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), &["search"])?;
    let search = params.text("search").unwrap_or_default().to_string();
    let asked = Asked {
        operation: "datasets",
        detail: &search,
        ..Asked::default()
    };
    let found = audited(&api, &caller, asked, async {
        crate::discover::discover(&api.state, &caller.principal, &search).await
    })
    .await?;
    let datasets: Vec<_> = found
        .into_iter()
        .map(|f| {
            serde_json::json!({
                "name": f.dataset.name.to_string(),
                "description": f.dataset.description,
                "tags": f.dataset.tags,
                "owner": f.dataset.owner,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "datasets": datasets })))
}

/// `GET /api/v1/datasets/{name}`: the `describe_dataset` document.
pub async fn detail(
    State(api): State<Api>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    Params::parse(query.as_deref(), &[])?;
    let body = serde_json::json!({ "name": name }).to_string();
    let action = arrow_flight::Action::new("describe_dataset", body);
    // Audited under the name's one spelling, like every dataset.
    let dataset = laker_catalog::DatasetName::parse(&name).map_or(name, |n| n.to_string());
    let asked = Asked {
        operation: "describe",
        dataset: &dataset,
        ..Asked::default()
    };
    let described = audited(&api, &caller, asked, async {
        crate::actions::do_action(&api.state, &caller.principal, action).await
    })
    .await?;
    Ok(Json(described))
}

/// `GET /api/v1/datasets/{name}/preview`: the first rows as JSON objects,
/// through the caller's row filters and masks.
pub async fn preview(
    State(api): State<Api>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let params = Params::parse(query.as_deref(), SLICE)?;
    let limit = params.number::<u64>("limit")?.unwrap_or(PREVIEW_ROWS);
    if !(1..=MAX_PREVIEW_ROWS).contains(&limit) {
        return Err(Problem::invalid(format!(
            "parameter 'limit' must be between 1 and {MAX_PREVIEW_ROWS}"
        )));
    }
    // Checked once, with the preview's own limit.
    let spec = params.slice_limited(&name, Some(limit))?;
    let detail = spec.spec().to_json();
    let dataset = spec.name().to_string();
    let asked = Asked {
        operation: "preview",
        dataset: &dataset,
        detail: &detail,
    };
    let rows = audited(&api, &caller, asked, async {
        preview_rows(&api.state, &caller.principal, &spec).await
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], rows).into_response())
}

/// Plans and runs a preview, holding a download's admission while it runs.
async fn preview_rows(
    state: &AppState,
    principal: &Principal,
    spec: &CheckedSpec,
) -> Result<String> {
    let Planned { plan, .. } = download::plan(state, principal, spec, false).await?;
    let admitted = state
        .admission
        .download_sized(&principal.name, plan.in_flight_hint())?;
    let schema = plan.schema();
    let task = admitted.memory().task_context(plan.task_context())?;
    let parallel = state.admission.limits().parallel_reads;
    let mut batches = plan.execute(None, task, parallel)?;
    // Every column in every row, nulls included, in the schema's order.
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(Vec::new());
    let mut truncated = false;
    while let Some(batch) = batches.next().await {
        writer
            .write(&batch?)
            .map_err(|e| Error::Internal(format!("encoding preview rows failed: {e}")))?;
        if writer.get_ref().len() > MAX_PREVIEW_BYTES {
            truncated = true;
            break;
        }
    }
    writer
        .finish()
        .map_err(|e| Error::Internal(format!("encoding preview rows failed: {e}")))?;
    let rows = String::from_utf8(writer.into_inner())
        .map_err(|e| Error::Internal(format!("encoding preview rows failed: {e}")))?;
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    // The rows are spliced in as encoded, keeping each object's keys in
    // the columns' order.
    Ok(format!(
        r#"{{"columns":{},"rows":{},"limit":{},"truncated":{truncated}}}"#,
        serde_json::Value::from(columns),
        if rows.is_empty() { "[]" } else { &rows },
        spec.spec().limit.unwrap_or_default(),
    ))
}
