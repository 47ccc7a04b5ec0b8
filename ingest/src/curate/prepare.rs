//! What a transform run needs, checked afresh for each run: the
//! transform, the catalog user it runs as (still able to log in), and the
//! landing dataset as that user may read it now.

use laker_auth::{Action, Principal};
use laker_catalog::rules::Transform;
use laker_catalog::{Dataset, DatasetName};

use super::curator::CurateCtx;
use crate::error::{IngestError, Result};

/// What a transform run needs, checked afresh for each run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The curated dataset's transform.
    pub transform: Transform,
    /// The catalog user it runs as, still active.
    pub principal: Principal,
    /// The landing dataset.
    pub landing: Dataset,
    /// What that user may read of the landing dataset now: the transform
    /// reads it through exactly these row filters and column masks.
    pub access: laker_query::ReadAccess,
}

/// The transform of `curated`, the principal it runs as and the landing
/// dataset as that principal sees it — its grants checked now.
pub async fn prepare(ctx: &CurateCtx, curated: &Dataset) -> Result<Prepared> {
    let transform = curated.options.transform.clone().ok_or_else(|| {
        IngestError::FailedPrecondition(format!("dataset '{}' declares no transform", curated.name))
    })?;
    let landing_name = DatasetName::parse(&transform.landing)?;
    let principal = ctx
        .authenticator
        .require_active(&Principal::new(transform.run_as.clone()))
        .await
        .map_err(|_| {
            IngestError::FailedPrecondition(format!(
                "the transform of '{}' runs as '{}', who can no longer log in; declare it again",
                curated.name, transform.run_as
            ))
        })?;
    let access = ctx
        .authorizer
        .require(&principal, Action::Read, &landing_name)
        .await?;
    ctx.authorizer
        .require_grant(&principal, Action::Write, &curated.name)
        .await?;
    let landing = ctx.catalog.dataset(&landing_name).await?;
    let access = laker_query::read_access(&principal, access);
    Ok(Prepared {
        transform,
        principal,
        landing,
        access,
    })
}
