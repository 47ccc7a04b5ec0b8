//! DoAction: catalog administration and description. Each action takes a
//! JSON body and answers with one JSON result; ListActions describes them.
//!
//! Administration needs the `admin` grant on the dataset (or, for
//! namespaces, on `namespace.*`); `describe_dataset` needs `read`.

mod datasets;
mod delta_stats;
mod describe;
mod namespaces;
mod principals;
mod tokens;

use std::sync::Arc;

use arrow_flight::{Action, ActionType};
use laker_auth::Principal;
use laker_catalog::{Dataset, DatasetName};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Largest accepted action body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The actions this server offers: name, and a description with the body's shape.
pub const ACTIONS: &[(&str, &str)] = &[
    (
        "register_dataset",
        "Admin. Register a dataset. Body: {\"name\": \"ns.dataset\", \"location\": \"s3://bucket/path/\", \"format\": \"parquet|csv|json|arrow|delta\", \"options\"?: {...}, \"description\"?: \"\", \"tags\"?: [], \"owner\"?: \"\"}. The location must be under a configured store's prefix and readable; the schema is inferred before anything is stored.",
    ),
    (
        "update_dataset",
        "Admin. Change a dataset. Body: {\"name\": \"ns.dataset\"} plus any of location, format, options, description, tags, owner. A new location or format is read before the change is stored.",
    ),
    (
        "delete_dataset",
        "Admin. Remove a dataset from the catalog (its files stay). Body: {\"name\": \"ns.dataset\"}.",
    ),
    (
        "refresh_dataset",
        "Admin. Re-read a dataset's files or Delta log after the lake changed, on every replica. Body: {\"name\": \"ns.dataset\"}.",
    ),
    (
        "describe_dataset",
        "Read. Schema, owner, row count and size estimates, column statistics (min/max/nulls), partitions, Delta versions and last refresh. Body: {\"name\": \"ns.dataset\"}.",
    ),
    (
        "create_namespace",
        "Admin on ns.*. Create a namespace. Body: {\"name\": \"ns\", \"description\"?: \"\"}.",
    ),
    (
        "delete_namespace",
        "Admin on ns.*. Delete an empty namespace. Body: {\"name\": \"ns\"}.",
    ),
    (
        "create_service_account",
        "Admin on *. Create a service account (a principal without a password that logs in with API keys). Body: {\"name\": \"etl\"}.",
    ),
    (
        "create_api_key",
        "Admin on *. Create an API key for a user or service account; the key is returned once. Log in with Basic user 'key' (or the owner's name) and the key as password. Body: {\"principal\": \"etl\", \"description\"?: \"\", \"expires_in_secs\"?: 86400}.",
    ),
    (
        "revoke_api_key",
        "Admin on *. Revoke an API key; it stops working at the next handshake. Body: {\"key_id\": \"…\"}.",
    ),
    (
        "refresh_token",
        "Anyone. Swap the caller's valid bearer token for a new one with a full lifetime (the account must still be enabled). Body: {}. Result: {\"token\": \"…\", \"expires_at\": unix seconds}.",
    ),
    (
        "list_api_keys",
        "Admin on *. A principal's API keys (ids, descriptions, expiry, revocation; never secrets). Body: {\"name\": \"etl\"}.",
    ),
];

/// The action types for ListActions.
pub fn action_types() -> Vec<ActionType> {
    ACTIONS
        .iter()
        .map(|(name, description)| ActionType {
            r#type: (*name).to_string(),
            description: (*description).to_string(),
        })
        .collect()
}

/// Runs `action` for `principal`; returns the JSON result.
pub async fn do_action(
    state: &Arc<AppState>,
    principal: &Principal,
    action: Action,
) -> Result<serde_json::Value> {
    let body = action.body.as_ref();
    match action.r#type.as_str() {
        "register_dataset" => {
            datasets::register(state, principal, parse(&action.r#type, body)?).await
        }
        "update_dataset" => datasets::update(state, principal, parse(&action.r#type, body)?).await,
        "delete_dataset" => datasets::delete(state, principal, parse(&action.r#type, body)?).await,
        "refresh_dataset" => {
            datasets::refresh(state, principal, parse(&action.r#type, body)?).await
        }
        "describe_dataset" => {
            describe::describe(state, principal, parse(&action.r#type, body)?).await
        }
        "create_namespace" => {
            namespaces::create(state, principal, parse(&action.r#type, body)?).await
        }
        "delete_namespace" => {
            namespaces::delete(state, principal, parse(&action.r#type, body)?).await
        }
        "create_service_account" => {
            principals::create_service_account(state, principal, parse(&action.r#type, body)?).await
        }
        "create_api_key" => {
            principals::create_api_key(state, principal, parse(&action.r#type, body)?).await
        }
        "revoke_api_key" => {
            principals::revoke_api_key(state, principal, parse(&action.r#type, body)?).await
        }
        "refresh_token" => {
            tokens::refresh_token(state, principal, parse(&action.r#type, body)?).await
        }
        "list_api_keys" => {
            principals::list_api_keys(state, principal, parse(&action.r#type, body)?).await
        }
        other => Err(Error::InvalidArgument(format!(
            "unknown action '{}'; ListActions shows the available actions",
            other.chars().take(100).collect::<String>()
        ))),
    }
}

/// Parses an action's JSON body, naming the action on failure.
fn parse<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{action}: body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidArgument(format!("{action}: invalid body: {e}")))
}

/// Body of actions that name one dataset.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameOnly {
    name: String,
}

impl NameOnly {
    fn dataset(&self) -> Result<DatasetName> {
        DatasetName::parse(&self.name).map_err(Error::from)
    }
}

/// The catalog record of a dataset as JSON.
pub(crate) fn dataset_json(d: &Dataset) -> serde_json::Value {
    serde_json::json!({
        "name": d.name.to_string(),
        "description": d.description,
        "tags": d.tags,
        "owner": d.owner,
        "format": d.format.as_str(),
        "location": d.location,
        "options": d.options,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "refreshed_at": d.refreshed_at,
        "revision": d.revision,
    })
}
