//! Token lifecycle: refresh_token swaps a valid bearer token for a new one
//! (so long-running clients need not keep credentials around); logout and
//! revoke_tokens end every token issued so far (a directory user's logout,
//! on this server); revoke_token ends one token, named by its id, which
//! whoami shows.

use std::sync::Arc;

use laker_auth::Principal;
use serde::Deserialize;

use super::principals::require_admin;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Body of refresh_token and logout: nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// Body of revoke_tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeTokens {
    name: String,
}

/// Body of revoke_token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeToken {
    token_id: String,
}

/// Refuses principals whose tokens this server did not issue (those of an
/// external identity provider); catalog and directory users pass.
fn issued_here(principal: &Principal, what: &str) -> Result<()> {
    if principal.is_local() || principal.is_directory() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} applies to tokens this server issued; tokens of the identity provider are managed there"
        )))
    }
}

/// Issues a new token to the caller.
pub(crate) async fn refresh_token(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: Empty,
) -> Result<serde_json::Value> {
    issued_here(principal, "refresh_token")?;
    let token = state.authenticator.refresh(principal).await?;
    tracing::info!(principal = %principal, expires_at = token.expires_at, "token refreshed");
    Ok(serde_json::json!({
        "token": token.token,
        "token_id": token.token_id,
        "expires_at": token.expires_at,
    }))
}

/// Who the caller is, and the id of the bearer token it called with
/// (`null` for credentials other than a token of this server).
pub(crate) async fn whoami(
    _state: &Arc<AppState>,
    principal: &Principal,
    _req: Empty,
) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "name": principal.name,
        "token_id": principal.token_id,
        "issuer": principal.issuer,
        "key_id": principal.key_id,
    }))
}

/// Ends one bearer token, named by its id: the caller's own, or (admin on
/// `*`) anyone's.
pub(crate) async fn revoke_token(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RevokeToken,
) -> Result<serde_json::Value> {
    let id = req.token_id.trim();
    if principal.token_id.as_deref() != Some(id) {
        require_admin(state, principal).await?;
    }
    let newly = state
        .authenticator
        .revoke_token(id, &principal.name)
        .await?;
    tracing::info!(token_id = %id, by = %principal, "token revoked");
    Ok(serde_json::json!({"token_id": id, "revoked": true, "already_revoked": !newly}))
}

/// Ends every token the caller holds (this one included).
pub(crate) async fn logout(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: Empty,
) -> Result<serde_json::Value> {
    issued_here(principal, "logout")?;
    // A directory user is not in the catalog: their sessions end on this
    // server (other replicas accept the tokens until they expire).
    if !state.authenticator.end_directory_sessions(principal) {
        revoke(state, &principal.name).await?;
    }
    Ok(serde_json::json!({"name": principal.name, "tokens_revoked": true}))
}

/// Ends every token a principal holds (admin on `*`).
pub(crate) async fn revoke_tokens(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RevokeTokens,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let name = req.name.trim().to_ascii_lowercase();
    revoke(state, &name).await?;
    tracing::info!(principal = %name, by = %principal, "tokens revoked");
    Ok(serde_json::json!({"name": name, "tokens_revoked": true}))
}

async fn revoke(state: &AppState, name: &str) -> Result<()> {
    // +1 ms: a token issued in this very millisecond is revoked too.
    let now_ms = chrono::Utc::now().timestamp_millis() + 1;
    Ok(state.catalog.revoke_tokens_before(name, now_ms).await?)
}
