//! refresh_token: swap a valid bearer token for a new one, so long-running
//! clients need not keep credentials around.

use std::sync::Arc;

use laker_auth::Principal;

use crate::error::Result;
use crate::state::AppState;

/// Body of refresh_token: nothing.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// Issues a new token to the caller.
pub(crate) async fn refresh_token(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: Empty,
) -> Result<serde_json::Value> {
    let token = state.authenticator.refresh(principal).await?;
    tracing::info!(principal = %principal, expires_at = token.expires_at, "token refreshed");
    Ok(serde_json::json!({"token": token.token, "expires_at": token.expires_at}))
}
