//! register_dataset, update_dataset, delete_dataset and refresh_dataset.
//!
//! A dataset's location and format are checked against the location policy
//! and read (schema inferred) before the catalog is changed, so a bad
//! request leaves the catalog as it was.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use laker_auth::{Action, Principal};
use laker_catalog::{
    CatalogError, Dataset, DatasetFormat, DatasetName, DatasetOptions, DatasetUpdate, NewDataset,
};
use laker_query::{TableError, TableResolver};
use serde::Deserialize;

use super::record::{NameOnly, dataset_json, schema_json};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Most tags a dataset may carry.
const MAX_TAGS: usize = 32;
/// Longest tag.
const MAX_TAG_CHARS: usize = 64;
/// Longest description or owner.
const MAX_TEXT_CHARS: usize = 4096;

/// Body of register_dataset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    name: String,
    location: String,
    format: String,
    #[serde(default)]
    options: DatasetOptions,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    owner: String,
}

/// Body of update_dataset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRequest {
    name: String,
    location: Option<String>,
    format: Option<String>,
    options: Option<DatasetOptions>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    owner: Option<String>,
}

/// Registers a dataset after reading its schema.
pub(crate) async fn register(
    state: &Arc<AppState>,
    principal: &Principal,
    mut req: RegisterRequest,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    let tags = check_tags(req.tags)?;
    check_text("description", &req.description)?;
    check_text("owner", &req.owner)?;
    let format = DatasetFormat::parse(&req.format)?;
    req.options.validate(format)?;
    declare_transform(state, principal, &name, &mut req.options).await?;
    state.locations.check(&req.location)?;
    state
        .claim_location(principal, &name, &req.location)
        .await?;
    state
        .catalog
        .namespace(&name.namespace)
        .await
        .map_err(|e| match e {
            CatalogError::NotFound { .. } => Error::Catalog(CatalogError::NotFound {
                kind: "namespace",
                name: format!("{} (create it with create_namespace)", name.namespace),
            }),
            other => other.into(),
        })?;
    let new = NewDataset {
        name,
        description: req.description,
        tags,
        format,
        location: req.location,
        options: req.options,
        owner: req.owner,
    };
    if state.catalog.dataset(&new.name).await.is_ok() {
        return Err(CatalogError::AlreadyExists {
            kind: "dataset",
            name: new.name.to_string(),
        }
        .into());
    }
    // A curated dataset's table is created by its first transform run.
    let fed_and_empty = new.options.transform.is_some()
        && laker_ingest::delta::table_at(&state.engine, &new.location)
            .await?
            .1
            .is_none();
    let schema = if fed_and_empty {
        None
    } else {
        Some(probe(state, &candidate(&new)).await?)
    };
    let dataset = state.catalog.register_dataset(new).await?;
    tracing::info!(dataset = %dataset.name, by = %principal, "dataset registered");
    if dataset.options.transform.is_some() {
        laker_ingest::curate::declared(&state.curator, &dataset.name);
    }
    Ok(match schema {
        Some(schema) => with_schema(&dataset, &schema),
        None => dataset_json(&dataset),
    })
}

/// Applies changes to a dataset; a new location, format or options are read
/// first.
pub(crate) async fn update(
    state: &Arc<AppState>,
    principal: &Principal,
    req: UpdateRequest,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    let current = state.catalog.dataset(&name).await?;
    if let Some(d) = &req.description {
        check_text("description", d)?;
    }
    if let Some(o) = &req.owner {
        check_text("owner", o)?;
    }
    let mut req = req;
    if let Some(options) = &mut req.options {
        declare_transform(state, principal, &name, options).await?;
    }
    let reads_change = req.location.is_some() || req.format.is_some() || req.options.is_some();
    let change = DatasetUpdate {
        description: req.description,
        tags: req.tags.map(check_tags).transpose()?,
        format: req
            .format
            .as_deref()
            .map(DatasetFormat::parse)
            .transpose()?,
        location: req.location,
        options: req.options,
        owner: req.owner,
    };
    let updated = change.apply(&current);
    updated.options.validate(updated.format)?;
    if updated.location != current.location {
        state.locations.check(&updated.location)?;
        state
            .claim_location(principal, &name, &updated.location)
            .await?;
    }
    let fed_and_empty = updated.options.transform.is_some()
        && laker_ingest::delta::table_at(&state.engine, &updated.location)
            .await?
            .1
            .is_none();
    let schema = if reads_change && !fed_and_empty {
        Some(probe(state, &updated).await?)
    } else {
        None
    };
    let stored = state.catalog.update_dataset(&updated).await?;
    state.engine.tables().invalidate(&stored.name);
    tracing::info!(dataset = %stored.name, by = %principal, revision = stored.revision, "dataset updated");
    if stored.options.transform.is_some() {
        laker_ingest::curate::declared(&state.curator, &stored.name);
    }
    Ok(match schema {
        Some(schema) => with_schema(&stored, &schema),
        None => dataset_json(&stored),
    })
}

/// Removes a dataset from the catalog.
pub(crate) async fn delete(
    state: &Arc<AppState>,
    principal: &Principal,
    req: NameOnly,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    state.catalog.delete_dataset(&name).await?;
    state.engine.tables().invalidate(&name);
    tracing::info!(dataset = %name, by = %principal, "dataset deleted");
    Ok(serde_json::json!({ "deleted": name.to_string() }))
}

/// Re-reads a dataset's files or log: bumps its revision so every replica
/// drops its cached table, then reads it again here.
pub(crate) async fn refresh(
    state: &Arc<AppState>,
    principal: &Principal,
    req: NameOnly,
) -> Result<serde_json::Value> {
    let name = admin_of(state, principal, &req.name).await?;
    let dataset = state.catalog.touch_dataset(&name).await?;
    state.engine.tables().invalidate(&name);
    let resolved = state.engine.latest(&dataset).await.map_err(|e| match e {
        laker_query::QueryError::Table(e) => unreadable(&dataset)(e),
        other => other.into(),
    })?;
    tracing::info!(dataset = %name, by = %principal, revision = dataset.revision, "dataset refreshed");
    let mut json = with_schema(&dataset, &resolved.provider.schema());
    if let Some(v) = resolved.delta_version {
        json["version"] = v.into();
    }
    Ok(json)
}

/// The dataset `name`, once `principal` is known to hold `admin` on it.
/// A transform runs as the catalog user who declares it, who must be able
/// to read its landing dataset and write the curated one.
async fn declare_transform(
    state: &Arc<AppState>,
    principal: &Principal,
    curated: &DatasetName,
    options: &mut DatasetOptions,
) -> Result<()> {
    let Some(transform) = &mut options.transform else {
        return Ok(());
    };
    if !principal.is_local() {
        return Err(Error::FailedPrecondition(
            "a transform runs as the catalog user who declares it; identities of an external provider cannot declare one".into(),
        ));
    }
    let landing = DatasetName::parse(&transform.landing)?;
    if &landing == curated {
        return Err(Error::InvalidArgument(
            "a dataset cannot be its own landing dataset".into(),
        ));
    }
    let access = state
        .authorizer
        .require(principal, Action::Read, &landing)
        .await?;
    state
        .authorizer
        .require_grant(principal, Action::Write, curated)
        .await?;
    transform.run_as = principal.name.clone();
    let landing = state.catalog.dataset(&landing).await?;
    let access = state.read_access(principal, access);
    laker_ingest::curate::landed::check(
        &state.curator,
        principal,
        &transform.sql,
        &landing,
        &access,
    )
    .await
    .map_err(crate::error::in_transform_sql)
}

async fn admin_of(state: &AppState, principal: &Principal, name: &str) -> Result<DatasetName> {
    let name = DatasetName::parse(name)?;
    state
        .authorizer
        .require_grant(principal, Action::Admin, &name)
        .await?;
    Ok(name)
}

/// What the dataset would look like once stored (for probing).
fn candidate(new: &NewDataset) -> Dataset {
    Dataset {
        name: new.name.clone(),
        description: new.description.clone(),
        tags: new.tags.clone(),
        format: new.format,
        location: new.location.clone(),
        options: new.options.clone(),
        owner: new.owner.clone(),
        created_at: 0,
        updated_at: 0,
        refreshed_at: 0,
        revision: 0,
    }
}

/// Reads the dataset through a fresh resolver (nothing cached) and returns
/// its schema; an unreadable location or an empty one is refused.
async fn probe(state: &AppState, dataset: &Dataset) -> Result<SchemaRef> {
    let table = TableResolver::new()
        .table(state.engine.state(), dataset)
        .await
        .map_err(unreadable(dataset))?;
    let schema = table.schema();
    if schema.fields().is_empty() {
        let files = match dataset.format {
            DatasetFormat::Delta => "Delta table has no columns".to_string(),
            f => format!(
                "no '{}' files found",
                dataset
                    .options
                    .file_extension
                    .as_deref()
                    .unwrap_or(f.default_extension())
            ),
        };
        return Err(Error::FailedPrecondition(format!(
            "cannot infer a schema for dataset '{}' at '{}': {files}",
            dataset.name, dataset.location
        )));
    }
    Ok(schema)
}

/// Errors reading a location being registered are the registrant's.
fn unreadable(dataset: &Dataset) -> impl FnOnce(TableError) -> Error + '_ {
    move |e| match e {
        TableError::Lake(inner) => Error::FailedPrecondition(format!(
            "cannot read dataset '{}' at '{}' as {}: {}",
            dataset.name,
            dataset.location,
            dataset.format.as_str(),
            inner.find_root().strip_backtrace()
        )),
        other => other.into(),
    }
}

fn with_schema(dataset: &Dataset, schema: &SchemaRef) -> serde_json::Value {
    let mut json = dataset_json(dataset);
    json["schema"] = schema_json(schema);
    json
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(format!(
            "tags: at most {MAX_TAGS} tags"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_string();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::InvalidArgument(format!(
                "tags: each tag must have 1 to {MAX_TAG_CHARS} characters"
            )));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::InvalidArgument(format!(
            "{field}: at most {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}
