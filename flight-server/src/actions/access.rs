//! Roles and grants (admin on `*`): create/delete roles, membership,
//! grant/revoke with row filters and column masks, listing.
//!
//! A grant's policy is checked before it is stored: on a single dataset it
//! is compiled against the dataset's schema; on a pattern its SQL is parsed.

use std::sync::Arc;

use laker_auth::Principal;
use laker_catalog::{DatasetName, GrantPolicy, Grantee};
use laker_query::{PrincipalContext, ReadAccess};
use serde::Deserialize;

use super::principals::require_admin;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Body of create_role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRole {
    name: String,
    #[serde(default)]
    description: String,
}

/// Body of delete_role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleName {
    name: String,
}

/// Body of add_role_member and remove_role_member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Membership {
    role: String,
    principal: String,
}

/// Who a grant is for: exactly one of `user` or `role`.
fn grantee(user: Option<String>, role: Option<String>) -> Result<Option<Grantee>> {
    match (user, role) {
        (None, None) => Ok(None),
        (Some(u), None) => Ok(Some(Grantee::User(u))),
        (None, Some(r)) => Ok(Some(Grantee::Role(r))),
        _ => Err(Error::InvalidArgument(
            "name one grantee: \"user\" or \"role\", not both".into(),
        )),
    }
}

fn required(grantee: Option<Grantee>) -> Result<Grantee> {
    grantee.ok_or_else(|| Error::InvalidArgument("name the grantee: \"user\" or \"role\"".into()))
}

/// Body of grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    user: Option<String>,
    role: Option<String>,
    pattern: String,
    action: String,
    row_filter: Option<String>,
    #[serde(default)]
    column_masks: std::collections::BTreeMap<String, laker_catalog::ColumnMask>,
}

/// Body of revoke.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    user: Option<String>,
    role: Option<String>,
    pattern: String,
    action: String,
}

/// Body of list_grants: optionally one grantee.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListGrants {
    user: Option<String>,
    role: Option<String>,
}

/// Creates a role.
pub(crate) async fn create_role(
    state: &Arc<AppState>,
    principal: &Principal,
    req: CreateRole,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let role = state
        .catalog
        .create_role(&req.name, &req.description)
        .await?;
    json(&role)
}

/// Deletes a role with its grants and memberships.
pub(crate) async fn delete_role(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RoleName,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    state.catalog.delete_role(&req.name).await?;
    Ok(serde_json::json!({"name": req.name.trim().to_ascii_lowercase(), "deleted": true}))
}

/// Every role with its members and grants.
pub(crate) async fn list_roles(
    state: &Arc<AppState>,
    principal: &Principal,
    _req: super::users::NoBody,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let mut roles = Vec::new();
    for role in state.catalog.roles().await? {
        let grants = state
            .catalog
            .list_grants(Some(Grantee::Role(role.name.clone())))
            .await?;
        let mut value = json(&role)?;
        value["grants"] = json(&grants)?;
        roles.push(value);
    }
    Ok(roles.into())
}

/// Gives a principal a role (`add`), or takes it away.
pub(crate) async fn role_member(
    state: &Arc<AppState>,
    principal: &Principal,
    req: Membership,
    add: bool,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let catalog = &state.catalog;
    if add {
        catalog.add_role_member(&req.role, &req.principal).await?;
    } else {
        catalog
            .remove_role_member(&req.role, &req.principal)
            .await?;
    }
    role_json(state, &req.role).await
}

/// Creates or replaces a grant, after checking its policy compiles.
pub(crate) async fn grant(
    state: &Arc<AppState>,
    principal: &Principal,
    req: GrantRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let grantee = required(grantee(req.user, req.role)?)?;
    let policy = GrantPolicy {
        row_filter: req.row_filter,
        column_masks: req.column_masks,
    };
    check_policy(state, &req.pattern, &policy).await?;
    let grant = state
        .catalog
        .put_grant(grantee, &req.pattern, &req.action, policy)
        .await?;
    tracing::info!(grantee = %grant.grantee, pattern = %grant.pattern, action = %grant.action, by = %principal, "grant stored");
    json(&grant)
}

/// Removes a grant.
pub(crate) async fn revoke(
    state: &Arc<AppState>,
    principal: &Principal,
    req: RevokeRequest,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let grantee = required(grantee(req.user, req.role)?)?;
    state
        .catalog
        .revoke_grant(grantee.clone(), &req.pattern, &req.action)
        .await?;
    tracing::info!(grantee = %grantee, pattern = %req.pattern, action = %req.action, by = %principal, "grant revoked");
    Ok(serde_json::json!({"revoked": true}))
}

/// Every grant, or one grantee's.
pub(crate) async fn list_grants(
    state: &Arc<AppState>,
    principal: &Principal,
    req: ListGrants,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let grants = state
        .catalog
        .list_grants(grantee(req.user, req.role)?)
        .await?;
    json(&grants)
}

/// Compiles `policy` against the dataset a single-dataset pattern names
/// (when it exists), else parses its SQL, so broken policies are refused
/// when they are written rather than when someone reads.
async fn check_policy(state: &AppState, pattern: &str, policy: &GrantPolicy) -> Result<()> {
    if policy.is_unrestricted() {
        return Ok(());
    }
    let dataset = match pattern.split_once('.') {
        Some((_, ds)) if ds != "*" => match DatasetName::parse(pattern) {
            Ok(name) => state.catalog.dataset(&name).await.ok(),
            Err(_) => None,
        },
        _ => None,
    };
    match dataset {
        Some(dataset) => {
            let access = ReadAccess {
                policies: vec![policy.clone()],
                principal: PrincipalContext::new("policy-check"),
            };
            state
                .engine
                .view_schema(&dataset, &access)
                .await
                .map_err(|e| match e {
                    laker_query::QueryError::Policy(m) => {
                        Error::InvalidArgument(format!("invalid grant policy: {m}"))
                    }
                    other => other.into(),
                })?;
            Ok(())
        }
        None => Ok(state.engine.check_policy_syntax(policy)?),
    }
}

async fn role_json(state: &AppState, name: &str) -> Result<serde_json::Value> {
    let role = state
        .catalog
        .role(name)
        .await?
        .ok_or_else(|| laker_catalog::CatalogError::not_found("role", name))?;
    json(&role)
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))
}
