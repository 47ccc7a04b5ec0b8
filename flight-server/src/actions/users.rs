//! User administration (admin on `*`): create, disable/enable, delete,
//! passwords, attributes, listing. Passwords are hashed before they reach
//! the catalog and never appear in results, logs or the audit.

use std::collections::BTreeMap;
use std::sync::Arc;

use laker_auth::Principal;
use laker_auth::password::hash_password;
use serde::Deserialize;

use super::principals::require_admin;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Shortest accepted password.
const MIN_PASSWORD_CHARS: usize = 12;

/// Body of create_user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    name: String,
    password: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Body of set_password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPassword {
    name: String,
    password: String,
}

/// Body of set_user_disabled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetDisabled {
    name: String,
    disabled: bool,
}

/// Body of set_user_attributes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAttributes {
    name: String,
    attributes: BTreeMap<String, String>,
}

/// Body of actions naming one principal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserName {
    name: String,
}

/// An empty body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoBody {}

async fn hashed(password: String) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::InvalidArgument(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters long"
        )));
    }
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?
        .map_err(Error::from)
}

/// Creates a user with a password, attributes and roles.
pub(crate) async fn create_user(
    state: &Arc<AppState>,
    principal: &Principal,
    req: CreateUser,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    for role in &req.roles {
        if state.catalog.role(role).await?.is_none() {
            return Err(laker_catalog::CatalogError::not_found("role", role.as_str()).into());
        }
    }
    let hash = hashed(req.password).await?;
    let user = state.catalog.create_user(&req.name, &hash).await?;
    if !req.attributes.is_empty() {
        state
            .catalog
            .set_user_attributes(&user.name, &req.attributes)
            .await?;
    }
    for role in &req.roles {
        state.catalog.add_role_member(role, &user.name).await?;
    }
    tracing::info!(user = %user.name, by = %principal, "user created");
    user_json(state, &user.name).await
}

/// Replaces a user's password.
pub(crate) async fn set_password(
    state: &Arc<AppState>,
    principal: &Principal,
    req: SetPassword,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let hash = hashed(req.password).await?;
    state.catalog.set_password_hash(&req.name, &hash).await?;
    tracing::info!(user = %req.name, by = %principal, "password changed");
    Ok(serde_json::json!({"name": req.name.trim().to_ascii_lowercase(), "password_changed": true}))
}

/// Disables (or re-enables) a principal; a disabled one is refused on its
/// next call, whatever tokens or tickets it holds.
pub(crate) async fn set_user_disabled(
    state: &Arc<AppState>,
    principal: &Principal,
    req: SetDisabled,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    state
        .catalog
        .set_user_disabled(&req.name, req.disabled)
        .await?;
    tracing::info!(user = %req.name, disabled = req.disabled, by = %principal, "user access changed");
    user_json(state, &req.name).await
}

/// Replaces a principal's attributes (read by row filters).
pub(crate) async fn set_user_attributes(
    state: &Arc<AppState>,
    principal: &Principal,
    req: SetAttributes,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    state
        .catalog
        .set_user_attributes(&req.name, &req.attributes)
        .await?;
    user_json(state, &req.name).await
}

/// Deletes a principal with its keys, roles and grants.
pub(crate) async fn delete_user(
    state: &Arc<AppState>,
    principal: &Principal,
    req: UserName,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let name = req.name.trim().to_ascii_lowercase();
    if name == principal.name {
        return Err(Error::InvalidArgument(
            "you cannot delete your own account".into(),
        ));
    }
    state.catalog.delete_user(&name).await?;
    tracing::info!(user = %name, by = %principal, "user deleted");
    Ok(serde_json::json!({"name": name, "deleted": true}))
}

/// Every principal: name, kind, disabled, roles, attributes.
pub(crate) async fn list_users(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: NoBody,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let mut users = Vec::new();
    for user in state.catalog.users().await? {
        users.push(user_json(state, &user.name).await?);
    }
    Ok(users.into())
}

async fn user_json(state: &AppState, name: &str) -> Result<serde_json::Value> {
    let user = state
        .catalog
        .user(name)
        .await?
        .ok_or_else(|| laker_catalog::CatalogError::not_found("principal", name))?;
    let roles = state.catalog.roles_of(&user.name).await?;
    Ok(serde_json::json!({
        "name": user.name,
        "kind": user.kind,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "roles": roles,
        "attributes": user.attributes,
    }))
}
