//! Audit and usage for the console's charts: downloads and bytes per day,
//! top datasets and users, failed logins — everyone's for admins, one's own
//! otherwise — and, for admins, the newest audit records.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::DateTime;
use laker_catalog::usage::UsageFilter;

use super::audited::{Asked, audited};
use super::caller::Caller;
use super::context::Api;
use super::params::Params;
use super::problem::Problem;
use super::session::is_admin;
use crate::error::Error;

/// Default period of a usage summary: 30 days.
const DEFAULT_PERIOD_MS: i64 = 30 * 86_400_000;
/// Most audit records one page shows.
const MAX_AUDIT_RECORDS: i64 = 1000;

/// `GET /api/v1/usage?from=&to=&dataset=&user=`.
pub async fn usage(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), &["from", "to", "dataset", "user"])?;
    let to = params
        .number::<i64>("to")?
        .unwrap_or_else(|| laker_auth::token::unix_now_ms() + 1);
    let from = params
        .number::<i64>("from")?
        .unwrap_or(to.saturating_sub(DEFAULT_PERIOD_MS));
    if from >= to {
        return Err(Problem::invalid("parameter 'from' must be before 'to'"));
    }
    let admin = is_admin(&api, &caller.principal).await;
    let user = params.text("user").map(str::to_string);
    let principal = if admin {
        user
    } else {
        match user {
            Some(u) if u != caller.principal.name => {
                return Err(Error::Status(tonic::Status::permission_denied(
                    "only admins see other users' usage",
                ))
                .into());
            }
            _ => Some(caller.principal.name.clone()),
        }
    };
    let filter = UsageFilter {
        from_ms: from,
        to_ms: to,
        principal,
        dataset: params.text("dataset").map(str::to_string),
    };
    let asked = Asked {
        operation: "usage",
        dataset: filter.dataset.as_deref().unwrap_or_default(),
        ..Asked::default()
    };
    let summary = audited(&api, &caller, asked, async {
        api.state.audit.flush().await;
        Ok(api.state.catalog.usage_summary(&filter).await?)
    })
    .await?;
    let per_day: Vec<_> = summary
        .per_day
        .iter()
        .map(|d| {
            serde_json::json!({
                "day": day_text(d.day), "downloads": d.downloads, "rows": d.rows, "bytes": d.bytes,
            })
        })
        .collect();
    let ranked = |key: &str, list: &[laker_catalog::usage::Ranked]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|r| serde_json::json!({key: r.name, "downloads": r.downloads, "bytes": r.bytes}))
            .collect()
    };
    let failed: Vec<_> = summary
        .failed_logins
        .iter()
        .map(|(day, count)| serde_json::json!({"day": day_text(*day), "count": count}))
        .collect();
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "per_day": per_day,
        "top_datasets": ranked("dataset", &summary.top_datasets),
        "top_users": ranked("user", &summary.top_users),
        "failed_logins": failed,
    })))
}

/// `GET /api/v1/audit?limit=&user=&dataset=` (admins): newest first.
pub async fn audit(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref(), &["limit", "user", "dataset"])?;
    let limit = params.number::<i64>("limit")?.unwrap_or(100);
    if !(1..=MAX_AUDIT_RECORDS).contains(&limit) {
        return Err(Problem::invalid(format!(
            "parameter 'limit' must be between 1 and {MAX_AUDIT_RECORDS}"
        )));
    }
    let asked = Asked {
        operation: "audit",
        ..Asked::default()
    };
    let records = audited(&api, &caller, asked, async {
        api.state
            .authorizer
            .require_global(&caller.principal, laker_auth::Action::Admin)
            .await?;
        api.state.audit.flush().await;
        let records = api
            .state
            .catalog
            .recent_audit(limit, params.text("user"), params.text("dataset"))
            .await?;
        Ok(records)
    })
    .await?;
    let records: Vec<_> = records
        .into_iter()
        .map(|(id, r)| {
            serde_json::json!({
                "id": id, "time": r.time, "principal": r.principal, "source": r.source,
                "action": r.action, "dataset": r.dataset, "rows": r.rows, "bytes": r.bytes,
                "duration_ms": r.duration_ms, "outcome": r.outcome, "message": r.message,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "records": records })))
}

/// A day number (days since the epoch) as `YYYY-MM-DD`.
fn day_text(day: i64) -> String {
    DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
