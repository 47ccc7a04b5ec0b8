//! create_namespace and delete_namespace.

use std::sync::Arc;

use laker_auth::{Action, Principal};
use serde::Deserialize;

use crate::error::Result;
use crate::state::AppState;

/// Body of create_namespace / delete_namespace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamespaceRequest {
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a namespace (admin on `name.*`).
pub(crate) async fn create(
    state: &Arc<AppState>,
    principal: &Principal,
    req: NamespaceRequest,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    let ns = state
        .catalog
        .create_namespace(&name, &req.description)
        .await?;
    tracing::info!(namespace = %ns.name, by = %principal, "namespace created");
    Ok(serde_json::json!({
        "name": ns.name,
        "description": ns.description,
        "created_at": ns.created_at,
    }))
}

/// Deletes an empty namespace (admin on `name.*`).
pub(crate) async fn delete(
    state: &Arc<AppState>,
    principal: &Principal,
    req: NamespaceRequest,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    state.catalog.delete_namespace(&name).await?;
    tracing::info!(namespace = %name, by = %principal, "namespace deleted");
    Ok(serde_json::json!({ "deleted": name }))
}

/// The namespace `name` (normalised), once `principal` is known to hold
/// `admin` on all of it.
async fn admin_of(state: &AppState, principal: &Principal, name: &str) -> Result<String> {
    let name = name.trim().to_ascii_lowercase();
    state
        .authorizer
        .require_namespace(principal, Action::Admin, &name)
        .await?;
    Ok(name)
}
