//! Every API call is audited like a Flight call: who, from where, what it
//! asked (action `HTTP:<operation>`), and how it ended.

use std::future::Future;

use tonic::Status;

use super::caller::Caller;
use super::context::Api;
use super::problem::Problem;
use crate::audit::call::AuditedCall;
use crate::error::Result;

/// What an API call asks, for its audit record.
#[derive(Debug, Default)]
pub struct Asked<'a> {
    /// The operation (`datasets`, `preview`, `admin:create_user`, …).
    pub operation: &'a str,
    /// The dataset concerned, if any.
    pub dataset: &'a str,
    /// What was asked (free of secrets).
    pub detail: &'a str,
}

/// The audit record of `asked` by `caller`, begun.
pub fn begin(api: &Api, caller: &Caller, asked: &Asked<'_>) -> AuditedCall {
    AuditedCall::from_source(
        caller.source,
        &caller.principal.name,
        format!("HTTP:{}", asked.operation),
    )
    .with_dataset(asked.dataset)
    .with_detail(asked.detail)
    .begin(&api.state.audit)
}

/// Runs `work` under the audit record of `asked` by `caller`, ended with
/// its outcome; a failure becomes a problem document.
pub async fn audited<T>(
    api: &Api,
    caller: &Caller,
    asked: Asked<'_>,
    work: impl Future<Output = Result<T>>,
) -> std::result::Result<T, Problem> {
    let call = begin(api, caller, &asked);
    let result = work.await.map_err(Status::from);
    call.end(&api.state.audit, &result).await;
    result.map_err(|status| Problem::from(status).audited())
}
