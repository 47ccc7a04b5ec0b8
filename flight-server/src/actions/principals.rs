//! create_service_account, create_api_key, revoke_api_key and list_api_keys
//! (admin on `*`). A new key's text is returned once and never stored.

use std::sync::Arc;

use laker_auth::{Action, Principal, apikey};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Longest key lifetime accepted, in seconds (10 years).
const MAX_KEY_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// Body of create_service_account and list_api_keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalRequest {
    name: String,
}

/// Body of create_api_key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyRequest {
    principal: String,
    #[serde(default)]
    description: String,
    /// Lifetime in seconds; absent: no expiry.
    expires_in_secs: Option<u64>,
}

/// Body of revoke_api_key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyRequest {
    key_id: String,
}

/// Creates a service account.
pub(crate) async fn create_service_account(
    state: &Arc<AppState>,
    principal: &Principal,
    req: PrincipalRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let account = state.catalog.create_service_account(&req.name).await?;
    tracing::info!(account = %account.name, by = %principal, "service account created");
    Ok(
        serde_json::json!({"name": account.name, "kind": "service", "created_at": account.created_at}),
    )
}

/// Creates an API key for a user or service account; the key is in the
/// result and nowhere else.
pub(crate) async fn create_api_key(
    state: &Arc<AppState>,
    principal: &Principal,
    req: CreateKeyRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let expires_at = match req.expires_in_secs {
        None => 0,
        Some(0) => {
            return Err(Error::InvalidArgument(
                "expires_in_secs must be at least 1 (omit it for a key without expiry)".into(),
            ));
        }
        Some(s) if s > MAX_KEY_TTL_SECS => {
            return Err(Error::InvalidArgument(format!(
                "expires_in_secs must be at most {MAX_KEY_TTL_SECS}"
            )));
        }
        Some(s) => chrono::Utc::now().timestamp_millis() + (s as i64) * 1000,
    };
    let owner = req.principal.trim().to_ascii_lowercase();
    let description = req.description;
    let (record, text) =
        tokio::task::spawn_blocking(move || apikey::generate(&owner, &description, expires_at))
            .await
            .map_err(|e| Error::Internal(format!("key generation failed: {e}")))??;
    state.catalog.insert_api_key(&record).await?;
    tracing::info!(key = %record.id, owner = %record.principal, by = %principal, "api key created");
    Ok(serde_json::json!({
        "key_id": record.id,
        "principal": record.principal,
        "api_key": text,
        "expires_at": record.expires_at,
        "note": "the api_key is shown only now; store it as a secret",
    }))
}

/// Revokes a key.
pub(crate) async fn revoke_api_key(
    state: &Arc<AppState>,
    principal: &Principal,
    req: KeyRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let key = state.catalog.revoke_api_key(&req.key_id).await?;
    tracing::info!(key = %key.id, owner = %key.principal, by = %principal, "api key revoked");
    Ok(
        serde_json::json!({"key_id": key.id, "principal": key.principal, "revoked_at": key.revoked_at}),
    )
}

/// Lists a principal's keys (ids, descriptions, times; never secrets).
pub(crate) async fn list_api_keys(
    state: &Arc<AppState>,
    principal: &Principal,
    req: PrincipalRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let keys = state
        .catalog
        .api_keys_of(&req.name.trim().to_ascii_lowercase())
        .await?;
    serde_json::to_value(keys).map_err(|e| Error::Internal(e.to_string()))
}

/// Fails unless `principal` holds `admin` on `*`.
pub(crate) async fn require_admin(state: &AppState, principal: &Principal) -> Result<()> {
    Ok(state
        .authorizer
        .require_global(principal, Action::Admin)
        .await?)
}
