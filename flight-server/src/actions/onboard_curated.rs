//! The `curated` part of onboard: the client's curated datasets, Delta
//! datasets `<client>.<name>` made under the upload store and fed by a
//! transform of its landing dataset, as `register_dataset` declares one
//! (`options.transform`: `landing` and `sql`). The transform runs as the
//! client's service account, so it reads what the client may read.
//!
//! Each query is planned before anything is made, against the landing
//! dataset's columns — its table's or, before it has one, those the files
//! of the ingest job that feeds it give ([`laker_ingest::jobs::preview`]) —
//! with the datasets the client will be able to read. With neither a table
//! nor files, the query is planned at the first landing commit. Onboarding
//! again keeps a curated dataset fed by the same query, run as the client,
//! as it is. A new one's location may overlap no other dataset's: the
//! client reads and writes it.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use laker_auth::Principal;
use laker_auth::authorize::DatasetAccess;
use laker_catalog::rules::Transform;
use laker_catalog::{
    CatalogError, DatasetFormat, DatasetName, DatasetOptions, GrantPolicy, NewDataset,
};
use laker_ingest::jobs::job::JobSpec;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::state::AppState;

/// Most curated datasets one onboarding makes.
const MAX_CURATED: usize = 100;
/// Longest description.
const MAX_DESCRIPTION_CHARS: usize = 4096;

/// One entry of onboard's `curated`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnboardCurated {
    /// The dataset, in the client's namespace.
    name: String,
    /// A query over the table `landing` (a transform's `sql`).
    sql: String,
    /// The dataset it is fed from [default: the ingest job's target, else
    /// `<client>.landing`].
    #[serde(default)]
    landing: Option<String>,
    #[serde(default)]
    description: String,
}

/// A curated dataset, checked.
#[derive(Debug)]
pub(crate) struct Curated {
    name: DatasetName,
    landing: DatasetName,
    /// What to register; `None` when it exists, fed by the same query.
    new: Option<NewDataset>,
    /// Whether its query was planned against the landing columns.
    checked: bool,
}

/// What the client will be: its name, and the patterns it will read.
pub(crate) struct Client<'a> {
    /// The client (its namespace and service account).
    pub name: &'a str,
    /// Grant patterns (`*`, `ns.*`, `ns.dataset`) it will hold `read` on.
    pub reads: Vec<String>,
}

/// Checks `wanted` for `client`, whose ingest job (if any) is `job`,
/// changing nothing.
pub(crate) async fn check(
    state: &Arc<AppState>,
    principal: &Principal,
    client: &Client<'_>,
    wanted: &[OnboardCurated],
    job: Option<&JobSpec>,
) -> Result<Vec<Curated>> {
    if wanted.len() > MAX_CURATED {
        return Err(Error::InvalidArgument(format!(
            "onboard makes at most {MAX_CURATED} curated datasets at once"
        )));
    }
    let default_landing = match job {
        Some(spec) => spec.target_name()?,
        None => DatasetName::new(client.name, "landing")?,
    };
    let mut names = Vec::with_capacity(wanted.len());
    for c in wanted {
        let name = DatasetName::new(client.name, &c.name)?;
        if names.contains(&name) {
            return Err(Error::InvalidArgument(format!(
                "curated dataset '{name}' is named twice"
            )));
        }
        names.push(name);
    }
    let mut preview = None;
    let mut checked = Vec::with_capacity(wanted.len());
    for (c, name) in wanted.iter().zip(names.iter()) {
        let landing = match &c.landing {
            Some(l) => DatasetName::parse(l)?,
            None => default_landing.clone(),
        };
        if landing.namespace != client.name || names.contains(&landing) {
            return Err(Error::InvalidArgument(format!(
                "curated dataset '{name}': its landing dataset must be one of the client's \
                 own, not a curated one ('{landing}')"
            )));
        }
        if c.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(Error::InvalidArgument(format!(
                "curated dataset '{name}': description: at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let options = DatasetOptions {
            transform: Some(Transform {
                landing: landing.to_string(),
                sql: c.sql.clone(),
                run_as: client.name.to_string(),
            }),
            ..DatasetOptions::default()
        };
        options.validate(DatasetFormat::Delta)?;
        match state.catalog.dataset(name).await {
            Ok(existing) => {
                let same = existing.options.transform.as_ref().is_some_and(|t| {
                    t.landing == landing.to_string() && t.sql == c.sql && t.run_as == client.name
                });
                if !same {
                    return Err(Error::FailedPrecondition(format!(
                        "dataset '{name}' exists and is not fed by this query from \
                         '{landing}' run as '{}'; change it with update_dataset",
                        client.name
                    )));
                }
                checked.push(Curated {
                    name: name.clone(),
                    landing,
                    new: None,
                    checked: false,
                });
                continue;
            }
            Err(CatalogError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let location = location(state, name)?;
        state.locations.check(&location)?;
        // The client reads and writes it: checking what the admin may read
        // would let it reach any dataset whose data lies there.
        state
            .claim_location_alone(principal, name, &location)
            .await?;
        let columns = landing_columns(state, &landing, job, &mut preview).await?;
        if let Some(schema) = &columns {
            plan(state, principal, client, &c.sql, &landing, schema).await?;
        }
        checked.push(Curated {
            name: name.clone(),
            landing,
            new: Some(NewDataset {
                name: name.clone(),
                description: c.description.clone(),
                tags: Vec::new(),
                format: DatasetFormat::Delta,
                location,
                options,
                owner: client.name.to_string(),
            }),
            checked: columns.is_some(),
        });
    }
    Ok(checked)
}

/// Registers the curated datasets of `checked` not there yet; returns how
/// many it registered. Their tables are made by their first transform.
pub(crate) async fn apply(state: &AppState, checked: &[Curated]) -> Result<usize> {
    let mut made = 0;
    for c in checked {
        let Some(new) = &c.new else {
            continue;
        };
        match state.catalog.register_dataset(new.clone()).await {
            Ok(dataset) => {
                tracing::info!(
                    dataset = %dataset.name,
                    landing = %c.landing,
                    "curated dataset registered"
                );
                made += 1;
            }
            // Made meanwhile by someone else.
            Err(CatalogError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(made)
}

/// Brings the curated datasets registered now up to date with their
/// landing datasets, where these exist (in the background; a landing
/// commit does it too).
pub(crate) async fn start(state: &AppState, checked: &[Curated]) {
    for c in checked.iter().filter(|c| c.new.is_some()) {
        if state.catalog.dataset(&c.landing).await.is_ok() {
            laker_ingest::curate::declared(&state.curator, &c.name);
        }
    }
}

/// The answer's `curated`.
pub(crate) fn answer(checked: &[Curated]) -> serde_json::Value {
    checked
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name.to_string(),
                "landing": c.landing.to_string(),
                "created": c.new.is_some(),
                "query_checked": c.checked,
            })
        })
        .collect()
}

/// Where curated dataset `name` is made: `<namespace>/<dataset>/` under
/// the upload store, as a dataset an upload creates.
fn location(state: &AppState, name: &DatasetName) -> Result<String> {
    let lake = state
        .uploads
        .locations
        .prefix(&state.uploads.store)
        .ok_or_else(|| {
            Error::FailedPrecondition(
                "curated datasets are made under the upload store, and none is configured".into(),
            )
        })?;
    lake.join(&format!("{}/{}/", name.namespace, name.dataset))
        .map(|url| url.to_string())
        .map_err(|e| Error::Internal(format!("a curated dataset's location: {e}")))
}

/// The columns of `landing`: its table's, or when it has none yet and
/// `job` lands in it, those the job's next run would give it (looked up
/// once, in `preview`).
async fn landing_columns(
    state: &AppState,
    landing: &DatasetName,
    job: Option<&JobSpec>,
    preview: &mut Option<Option<SchemaRef>>,
) -> Result<Option<SchemaRef>> {
    match state.catalog.dataset(landing).await {
        Ok(d) if d.format != DatasetFormat::Delta => {
            return Err(Error::FailedPrecondition(format!(
                "dataset '{landing}' is {}; curated datasets are fed from Delta datasets",
                d.format.as_str()
            )));
        }
        Ok(d) => {
            let table = laker_ingest::delta::table_schema(&state.engine, &d.location).await?;
            if table.is_some() {
                return Ok(table);
            }
        }
        Err(CatalogError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(spec) = job else {
        return Ok(None);
    };
    if spec.target_name()? != *landing {
        return Ok(None);
    }
    if preview.is_none() {
        let columns = laker_ingest::jobs::preview::columns(&state.ingest_jobs, spec).await?;
        *preview = Some(columns);
    }
    Ok(preview.clone().flatten())
}

/// Plans `sql` over an empty `landing` of columns `schema`, with the
/// datasets `principal` may read that `client` will be able to read; a
/// mistake in it is the caller's (`INVALID_ARGUMENT`, `NOT_FOUND`).
async fn plan(
    state: &AppState,
    principal: &Principal,
    client: &Client<'_>,
    sql: &str,
    landing: &DatasetName,
    schema: &SchemaRef,
) -> Result<()> {
    // The client reads its own landing dataset without filters or masks.
    let own = DatasetAccess {
        discover: true,
        read: vec![GrantPolicy::default()],
        write: true,
        admin: false,
    };
    let access = state.read_access(&Principal::new(client.name), own);
    laker_ingest::curate::landed::check_columns(
        &state.curator,
        principal,
        sql,
        (landing, Arc::clone(schema)),
        &access,
        |d| client.reads.iter().any(|p| covers(p, d)),
    )
    .await
    .map_err(crate::error::in_transform_sql)
}

/// Whether grant pattern `pattern` (`*`, `ns.*` or `ns.dataset`) covers
/// `name`.
fn covers(pattern: &str, name: &DatasetName) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('.') {
        Some((ns, "*")) => ns == name.namespace,
        Some((ns, ds)) => ns == name.namespace && ds == name.dataset,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_what_grants_cover() {
        let name = DatasetName::parse("ref.zones").unwrap();
        for pattern in ["*", "ref.*", "ref.zones", "Ref.Zones"] {
            assert!(covers(pattern, &name), "{pattern}");
        }
        for pattern in ["other.*", "ref.trips", "ref", "zones"] {
            assert!(!covers(pattern, &name), "{pattern}");
        }
    }
}
