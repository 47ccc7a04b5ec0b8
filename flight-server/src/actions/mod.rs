//! Catalog administration and description, shared by Flight's DoAction and
//! the HTTP API (`/api/v1/admin/actions/{name}`). Each action takes a JSON
//! body and answers with one JSON result; ListActions describes them.
//!
//! Administration needs the `admin` grant on the dataset (or, for
//! namespaces, on `namespace.*`); `describe_dataset` needs `read`.

mod access;
mod datasets;
mod delta_stats;
mod describe;
mod ingest_jobs;
mod namespaces;
mod onboard;
mod onboard_curated;
mod onboard_job;
mod principals;
mod record;
pub(crate) mod requests;
mod tokens;
mod users;

use std::sync::Arc;

use arrow_flight::{Action, ActionType};
use laker_auth::Principal;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Largest accepted action body.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

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
        "replay",
        "Admin. Rebuild a curated dataset: run its transform again over landing versions from_version..to_version (each version's rows on their own) and replace the curated table with the result in one commit; the feed continues after to_version. Body: {\"name\": \"ns.curated\", \"from_version\"?: 0, \"to_version\"?: latest}.",
    ),
    (
        "create_ingest_job",
        "Admin on *. Create an ingest job: files dropped under a folder of a configured store are imported into a Delta dataset, each file version once, on a schedule or when asked. Body: {\"name\": \"acme_drop\", \"source\": {\"store\": \"drop\", \"prefix\"?: \"acme/\", \"pattern\"?: \"*.csv\", \"format\": \"csv|json|parquet\", \"csv\"?: {\"has_header\": true, \"delimiter\": \",\"}}, \"target\": \"acme.landing\", \"schedule\"?: \"every 5m\" or a 5-field cron (UTC), \"mode\"?: \"per_file|all_or_nothing\", \"max_files_per_run\"?: 10000, \"quarantine_prefix\"?: \"_quarantine/acme_drop/\"}.",
    ),
    (
        "list_ingest_jobs",
        "Admin on *. Every ingest job with its specification, next scheduled run and latest run. Body: {}.",
    ),
    (
        "run_ingest_job",
        "Admin on *. Run an ingest job now (refused while it runs, here or on another replica); answers files, rows and bytes imported, rejected files with reasons, the Delta version. Body: {\"name\": \"acme_drop\"}.",
    ),
    (
        "delete_ingest_job",
        "Admin on *. Delete an ingest job (its runs stay in system.ingest_runs); with forget_files also which files it took. Body: {\"name\": \"acme_drop\", \"forget_files\"?: false}.",
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
        "Anyone. Swap the caller's valid bearer token for a new one with a full lifetime (the account must still be enabled). Body: {}. Result: {\"token\": \"…\", \"token_id\": \"…\", \"expires_at\": unix seconds}.",
    ),
    (
        "onboard",
        "Admin on *. Onboard a client in one call: a namespace and a service account named after it, write and read on its namespace, read on the named datasets, and an API key (returned once; running onboard again creates nothing new). Body: {\"client\": \"acme\", \"read\"?: [\"demo.trips\", \"ref.*\"], \"description\"?: \"\", \"ingest_job\"?: {\"source\": {...as in create_ingest_job}, \"target\"?: \"acme.landing\", \"schedule\"?: \"every 15m\", \"mode\"?: \"per_file\", \"backfill\"?: true}, \"curated\"?: [{\"name\": \"orders\", \"sql\": \"SELECT ... FROM landing\", \"landing\"?: \"acme.landing\", \"description\"?: \"\"}]}. Curated datasets are Delta datasets under the upload store fed by a transform of the landing dataset, run as the client; their queries are planned before anything changes. Result: credentials and a Python connection snippet; with ingest_job, the job acme_ingest and the backfill run's report; with curated, each dataset, whether it was created and whether its query was checked.",
    ),
    (
        "create_user",
        "Admin on *. Create a user who logs in with a password (at least 12 characters). Body: {\"name\": \"alice\", \"password\": \"…\", \"attributes\"?: {\"region\": \"EU\"}, \"roles\"?: [\"analyst\"]}.",
    ),
    (
        "set_password",
        "Admin on *. Replace a user's password. Body: {\"name\": \"alice\", \"password\": \"…\"}.",
    ),
    (
        "set_user_disabled",
        "Admin on *. Disable (or enable) a user or service account; a disabled one is refused at its next call, tokens and tickets included. Body: {\"name\": \"alice\", \"disabled\": true}.",
    ),
    (
        "set_user_attributes",
        "Admin on *. Replace a principal's attributes, which row filters read with principal_attribute('name'). Body: {\"name\": \"alice\", \"attributes\": {\"region\": \"EU\"}}.",
    ),
    (
        "delete_user",
        "Admin on *. Delete a user or service account with its keys, role memberships and grants. Body: {\"name\": \"alice\"}.",
    ),
    (
        "list_users",
        "Admin on *. Every principal with kind, disabled flag, roles and attributes. Body: {}.",
    ),
    (
        "create_role",
        "Admin on *. Create a role. Body: {\"name\": \"analyst\", \"description\"?: \"\"}.",
    ),
    (
        "delete_role",
        "Admin on *. Delete a role with its grants and memberships. Body: {\"name\": \"analyst\"}.",
    ),
    (
        "list_roles",
        "Admin on *. Every role with its members and grants. Body: {}.",
    ),
    (
        "add_role_member",
        "Admin on *. Give a principal a role. Body: {\"role\": \"analyst\", \"principal\": \"alice\"}.",
    ),
    (
        "remove_role_member",
        "Admin on *. Take a role from a principal. Body: {\"role\": \"analyst\", \"principal\": \"alice\"}.",
    ),
    (
        "grant",
        "Admin on *. Create or replace a grant of discover|read|write|admin on '*', 'ns.*' or 'ns.dataset' to a user or role. Read grants may carry a row filter (SQL; may call current_user() and principal_attribute('name')) and column masks (hide, null, hash, or {\"expr\": \"SQL\"}). Body: {\"role\"|\"user\": \"analyst\", \"pattern\": \"sales.*\", \"action\": \"read\", \"row_filter\"?: \"region = principal_attribute('region')\", \"column_masks\"?: {\"email\": \"hash\", \"ssn\": \"hide\"}}.",
    ),
    (
        "revoke",
        "Admin on *. Remove a grant. Body: {\"role\"|\"user\": \"analyst\", \"pattern\": \"sales.*\", \"action\": \"read\"}.",
    ),
    (
        "list_grants",
        "Admin on *. Every grant, or one grantee's. Body: {} or {\"user\"|\"role\": \"name\"}.",
    ),
    (
        "logout",
        "Anyone. End every bearer token the caller holds, this one included (tickets cut with them stop working too). Body: {}.",
    ),
    (
        "revoke_tokens",
        "Admin on *. End every bearer token a user or service account holds; it must authenticate again. Body: {\"name\": \"alice\"}.",
    ),
    (
        "revoke_token",
        "Anyone for the token it calls with; admin on * for any. End one bearer token of this server, named by its id (whoami, the login and refresh_token results show it); the holder's other tokens keep working. Body: {\"token_id\": \"…\"}.",
    ),
    (
        "whoami",
        "Anyone. The caller's name and the id of the bearer token it calls with (null for other credentials). Body: {}. Result: {\"name\": \"alice\", \"token_id\": \"…\", \"issuer\": null, \"key_id\": null}.",
    ),
    (
        "list_api_keys",
        "Admin on *. A principal's API keys (ids, descriptions, expiry, revocation; never secrets). Body: {\"name\": \"etl\"}.",
    ),
    (
        "request_access",
        "Anyone. Ask for read access to a dataset you may discover, or describe data no dataset meets; an admin approves or rejects it. Body: {\"dataset\"?: \"ns.dataset\", \"need\"?: \"…\", \"reason\": \"…\"} (dataset or need). Result: the request {id, requester, dataset, need, reason, status, created_at, decided_by, decided_at, note}.",
    ),
    (
        "list_access_requests",
        "Anyone: your own access requests, newest first (at most 500); admin on * with all. Body: {\"all\"?: false, \"status\"?: \"pending|approved|rejected\"}. Result: {\"requests\": [...]}.",
    ),
    (
        "approve_access_request",
        "Admin on *. Approve a pending access request: its requester gets the read grant on its dataset, with an optional row filter and column masks (as in grant). Body: {\"id\": 7, \"row_filter\"?: \"…\", \"column_masks\"?: {...}, \"note\"?: \"…\"}.",
    ),
    (
        "reject_access_request",
        "Admin on *. Reject a pending access request, with an optional note its requester sees. Body: {\"id\": 7, \"note\"?: \"…\"}.",
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
        "replay" => Ok(laker_ingest::curate::replay::replay(
            &state.curator,
            principal,
            parse(&action.r#type, body)?,
        )
        .await?),
        "describe_dataset" => {
            describe::describe(state, principal, parse(&action.r#type, body)?).await
        }
        "create_ingest_job" => {
            ingest_jobs::create(state, principal, parse(&action.r#type, body)?).await
        }
        "list_ingest_jobs" => {
            ingest_jobs::list(state, principal, parse(&action.r#type, body)?).await
        }
        "run_ingest_job" => {
            ingest_jobs::run_now(state, principal, parse(&action.r#type, body)?).await
        }
        "delete_ingest_job" => {
            ingest_jobs::delete(state, principal, parse(&action.r#type, body)?).await
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
        "logout" => tokens::logout(state, principal, parse(&action.r#type, body)?).await,
        "revoke_tokens" => {
            tokens::revoke_tokens(state, principal, parse(&action.r#type, body)?).await
        }
        "revoke_token" => {
            tokens::revoke_token(state, principal, parse(&action.r#type, body)?).await
        }
        "whoami" => tokens::whoami(state, principal, parse(&action.r#type, body)?).await,
        "onboard" => onboard::onboard(state, principal, parse(&action.r#type, body)?).await,
        "create_user" => users::create_user(state, principal, parse(&action.r#type, body)?).await,
        "set_password" => users::set_password(state, principal, parse(&action.r#type, body)?).await,
        "set_user_disabled" => {
            users::set_user_disabled(state, principal, parse(&action.r#type, body)?).await
        }
        "set_user_attributes" => {
            users::set_user_attributes(state, principal, parse(&action.r#type, body)?).await
        }
        "delete_user" => users::delete_user(state, principal, parse(&action.r#type, body)?).await,
        "list_users" => users::list_users(state, principal, parse(&action.r#type, body)?).await,
        "create_role" => access::create_role(state, principal, parse(&action.r#type, body)?).await,
        "delete_role" => access::delete_role(state, principal, parse(&action.r#type, body)?).await,
        "list_roles" => access::list_roles(state, principal, parse(&action.r#type, body)?).await,
        "add_role_member" => {
            access::role_member(state, principal, parse(&action.r#type, body)?, true).await
        }
        "remove_role_member" => {
            access::role_member(state, principal, parse(&action.r#type, body)?, false).await
        }
        "grant" => access::grant(state, principal, parse(&action.r#type, body)?).await,
        "revoke" => access::revoke(state, principal, parse(&action.r#type, body)?).await,
        "list_grants" => access::list_grants(state, principal, parse(&action.r#type, body)?).await,
        "request_access" => {
            requests::request_access(state, principal, parse(&action.r#type, body)?).await
        }
        "list_access_requests" => {
            requests::list_requests(state, principal, parse(&action.r#type, body)?).await
        }
        "approve_access_request" => {
            requests::approve(state, principal, parse(&action.r#type, body)?).await
        }
        "reject_access_request" => {
            requests::reject(state, principal, parse(&action.r#type, body)?).await
        }
        other => Err(Error::InvalidArgument(format!(
            "unknown action '{}'; ListActions shows the available actions",
            other.chars().take(100).collect::<String>()
        ))),
    }
}

/// The dataset an action body names (`"name": "ns.dataset"` or
/// `"pattern"`), for the audit; empty when there is none.
pub fn dataset_of(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return String::new();
    };
    ["name", "pattern", "dataset"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(|v| v.as_str()))
        .find(|v| v.contains('.') || *v == "*")
        .map(|v| v.chars().take(200).collect())
        .unwrap_or_default()
}

/// Parses an action's JSON body, naming the action on failure.
fn parse<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{action}: body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    // An empty body stands for `{}` (what clients send for "no arguments").
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // Only objects: serde would also take an array of the fields in
    // order, which names no field and so could not be redacted.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::InvalidArgument(format!(
            "{action}: the body must be a JSON object"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidArgument(format!("{action}: invalid body: {e}")))
}
