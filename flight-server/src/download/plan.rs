//! A checked download spec → the plan that reads it for one caller,
//! through the caller's row filters and column masks.

use laker_auth::{Action, Principal};
use laker_catalog::Dataset;
use laker_query::DownloadPlan;

use super::CheckedSpec;
use crate::error::{Error, Result};
use crate::state::AppState;

/// A download planned for a caller.
#[derive(Debug)]
pub struct Planned {
    /// The dataset read.
    pub dataset: Dataset,
    /// The plan that reads it.
    pub plan: DownloadPlan,
    /// The caller's grants filter rows or mask columns (so the table's
    /// version, which older rows it may not see changed, is not theirs to know).
    pub restricted: bool,
}

/// Authorises `principal` to read the spec's dataset, then compiles the
/// spec through the principal's row filters and column masks.
/// Authorisation comes first: nothing is looked up or planned for a
/// caller who may not read the dataset, and a dataset the caller may not
/// discover is reported missing. `pinned`: the spec's version is the one
/// a signed ticket pinned, not the client's choice.
pub async fn plan(
    state: &AppState,
    principal: &Principal,
    spec: &CheckedSpec,
    pinned: bool,
) -> Result<Planned> {
    let name = spec.name();
    let access = state
        .authorizer
        .require(principal, Action::Read, name)
        .await?;
    tracing::Span::current().record("dataset", tracing::field::display(name));
    if laker_catalog::system::is_system(name) {
        // Readers of the audit see every record of calls made before theirs.
        state.audit.flush().await;
    }
    let dataset = state.catalog.dataset(name).await?;
    let access = state.read_access(principal, access);
    let spec = spec.spec();
    if access.is_restricted() && !pinned && (spec.version.is_some() || spec.as_of.is_some()) {
        // Older versions (and when they were committed) describe rows
        // the caller's grants hide.
        return Err(Error::Status(tonic::Status::permission_denied(
            "reading an older version (version, as_of) needs a read grant without \
             row filters or masks",
        )));
    }
    let plan = state.engine.plan(&dataset, spec, &access).await?;
    Ok(Planned {
        dataset,
        plan,
        restricted: access.is_restricted(),
    })
}
