//! onboard (admin on `*`): everything a new client needs, in one call — a
//! namespace for its uploads, a service account, an API key, grants
//! (write and read on its namespace, read on the named datasets) and,
//! when asked, its project: curated datasets fed from its landing dataset
//! ([`super::onboard_curated`]) and an ingest job for the files it drops,
//! with a backfill of those already there ([`super::onboard_job`]), which
//! then flows into the curated datasets. Everything is checked before
//! anything is changed. Running it again changes nothing and creates no
//! second key.

use std::sync::Arc;

use laker_auth::{Principal, apikey};
use laker_catalog::{CatalogError, DatasetName, GrantPolicy, Grantee};
use serde::Deserialize;

use super::onboard_curated::{self, Client, OnboardCurated};
use super::onboard_job::OnboardJob;
use super::principals::require_admin;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Most datasets one onboarding may grant.
const MAX_READ: usize = 1000;

/// Body of onboard.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Onboard {
    /// Client name: becomes the namespace and the service account.
    client: String,
    /// Datasets (`ns.dataset` or `ns.*`) the client may read.
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    description: String,
    /// An ingest job for the files the client drops.
    #[serde(default)]
    ingest_job: Option<OnboardJob>,
    /// Curated datasets fed from the client's landing dataset.
    #[serde(default)]
    curated: Vec<OnboardCurated>,
}

/// Onboards a client; returns its credentials (a new key only the first
/// time) and a Python snippet to connect.
pub(crate) async fn onboard(
    state: &Arc<AppState>,
    principal: &Principal,
    req: Onboard,
) -> Result<serde_json::Value> {
    require_admin(state, principal).await?;
    let client = laker_catalog::names::validate_ident("client", &req.client)?;
    if req.read.len() > MAX_READ {
        return Err(Error::InvalidArgument(format!(
            "onboard grants at most {MAX_READ} datasets at once"
        )));
    }
    // Check everything before changing anything.
    for pattern in &req.read {
        if let Some((_, ds)) = pattern.split_once('.')
            && ds != "*"
        {
            state.catalog.dataset(&DatasetName::parse(pattern)?).await?;
        }
    }
    let job = req
        .ingest_job
        .as_ref()
        .map(|j| j.spec(state, &client))
        .transpose()?;
    let account = state.catalog.user(&client).await?;
    if account.as_ref().is_some_and(|u| u.kind != "service") {
        return Err(Error::InvalidArgument(format!(
            "'{client}' is an existing user account, not a service account; choose another client name"
        )));
    }
    let held = state.catalog.grants_of(&client).await?;
    let own = format!("{client}.*");
    let mut reads = vec![own.clone()];
    reads.extend(req.read.iter().cloned());
    // What it reads already: its own grants and its roles' (the transform
    // runs as it, through all of them).
    let effective = state
        .authorizer
        .grants(&Principal::new(client.as_str()))
        .await?;
    reads.extend(
        effective
            .into_iter()
            .filter(|g| g.action == "read")
            .map(|g| g.pattern),
    );
    let project = Client {
        name: &client,
        reads,
    };
    let curated =
        onboard_curated::check(state, principal, &project, &req.curated, job.as_ref()).await?;
    let mut created = Vec::new();
    match state
        .catalog
        .create_namespace(&client, &req.description)
        .await
    {
        Ok(_) => created.push("namespace"),
        Err(CatalogError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if account.is_none() {
        state.catalog.create_service_account(&client).await?;
        created.push("service_account");
    }
    let mut grants = vec![(own.clone(), "write"), (own, "read")];
    grants.extend(req.read.iter().map(|p| (p.clone(), "read")));
    for (pattern, action) in &grants {
        let grant = state
            .catalog
            .put_grant(
                Grantee::User(client.clone()),
                pattern,
                action,
                GrantPolicy::default(),
            )
            .await?;
        if !held
            .iter()
            .any(|g| g.pattern == grant.pattern && g.action == grant.action)
        {
            created.push("grant");
        }
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let existing = state
        .catalog
        .api_keys_of(&client)
        .await?
        .into_iter()
        .find(|k| k.is_usable(now_ms));
    let (key_id, api_key) = match existing {
        Some(key) => (key.id, None),
        None => {
            let owner = client.clone();
            let description = format!("onboarding key for {client}");
            let (record, text) =
                tokio::task::spawn_blocking(move || apikey::generate(&owner, &description, 0))
                    .await
                    .map_err(|e| Error::Internal(format!("key generation failed: {e}")))??;
            state.catalog.insert_api_key(&record).await?;
            created.push("api_key");
            (record.id, Some(text))
        }
    };
    let made = onboard_curated::apply(state, &curated).await?;
    created.extend(std::iter::repeat_n("curated_dataset", made));
    let ingest_job = match (&req.ingest_job, job) {
        (Some(wanted), Some(spec)) => {
            let (made, answer) = wanted.apply(state, principal, spec).await?;
            if made {
                created.push("ingest_job");
            }
            Some(answer)
        }
        _ => None,
    };
    onboard_curated::start(state, &curated).await;
    tracing::info!(client = %client, by = %principal, created = ?created, "client onboarded");
    let key_for_snippet = api_key
        .clone()
        .unwrap_or_else(|| "<the key you were given>".into());
    let snippet = format!(
        "import pyarrow.flight as flight\n\
         client = flight.FlightClient(\"grpc://<laker-host>:50051\")\n\
         token = client.authenticate_basic_token(\"key\", \"{key_for_snippet}\")\n\
         options = flight.FlightCallOptions(headers=[token])\n\
         for info in client.list_flights(options=options):\n    print(info.descriptor.path)\n"
    );
    Ok(serde_json::json!({
        "client": client,
        "namespace": client,
        "service_account": client,
        "key_id": key_id,
        "api_key": api_key,
        "grants": grants.iter().map(|(p, a)| serde_json::json!({"pattern": p, "action": a})).collect::<Vec<_>>(),
        "created": created,
        "ingest_job": ingest_job,
        "curated": onboard_curated::answer(&curated),
        "note": if api_key.is_some() {
            "the api_key is shown only now; store it as a secret"
        } else {
            "the client already has a usable API key (key_id); create another with create_api_key if it was lost"
        },
        "python": snippet,
    }))
}
