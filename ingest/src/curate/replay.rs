//! The `replay` action: rebuilds a curated dataset by running its
//! transform again over a range of landing versions (each version's rows
//! on their own, as when they landed) and replacing the curated table with
//! the result in one commit. The feed then continues after the range's
//! last version.

use std::sync::Arc;

use deltalake_core::protocol::SaveMode;
use laker_auth::{Action, Principal};
use laker_catalog::DatasetName;
use serde::Deserialize;

use super::curator::Curator;
use super::landed::Batch;
use super::prepare::prepare;
use super::{Run, progress_id, run};
use crate::delta;
use crate::error::{IngestError, Result};

/// Body of `replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The curated dataset, `namespace.dataset`.
    pub name: String,
    /// First landing version (default 0).
    #[serde(default)]
    pub from_version: i64,
    /// Last landing version (default: the latest).
    pub to_version: Option<i64>,
}

/// Runs a replay for `caller`, who needs `admin` on the curated dataset.
pub async fn replay(
    curator: &Arc<Curator>,
    caller: &Principal,
    req: ReplayRequest,
) -> Result<serde_json::Value> {
    let name = DatasetName::parse(&req.name)?;
    curator
        .ctx
        .authorizer
        .require_grant(caller, Action::Admin, &name)
        .await?;
    let curated = curator.ctx.catalog.dataset(&name).await?;
    let lock = curator.lock(&curated.name);
    let _guard = lock.lock().await;
    let prepared = prepare(&curator.ctx, &curated).await?;
    let (transform, landing) = (&prepared.transform, &prepared.landing);
    let (_, landing_table) = delta::table_at(&curator.ctx.engine, &landing.location).await?;
    let landing_table = landing_table.ok_or_else(|| {
        IngestError::FailedPrecondition(format!(
            "landing dataset '{}' has no data yet",
            landing.name
        ))
    })?;
    let latest = landing_table
        .version()
        .map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let to = req.to_version.unwrap_or(latest);
    if req.from_version < 0 || req.from_version > to || to > latest {
        return Err(IngestError::InvalidArgument(format!(
            "replay needs 0 <= from_version <= to_version <= {latest} (the latest version of '{}'); got {}..{}",
            landing.name, req.from_version, to
        )));
    }
    let mut batches = Vec::new();
    for version in req.from_version..=to {
        if let Some(batch) = Batch::of_version(landing, &landing_table, version).await? {
            batches.push(batch);
        }
    }
    if batches.is_empty() {
        return Err(IngestError::InvalidArgument(format!(
            "landing versions {}..{to} of '{}' added no rows",
            req.from_version, landing.name
        )));
    }
    let rows = run(
        curator,
        &curated,
        &prepared,
        batches,
        Run {
            mode: SaveMode::Overwrite,
            transaction: (progress_id(&transform.landing), to),
        },
    )
    .await?;
    tracing::info!(dataset = %curated.name, from = req.from_version, to, rows, by = %caller, "curated dataset replayed");
    Ok(serde_json::json!({
        "dataset": curated.name.to_string(),
        "landing": landing.name.to_string(),
        "from_version": req.from_version,
        "to_version": to,
        "rows": rows,
    }))
}
