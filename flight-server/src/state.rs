//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use laker_auth::{Action, Authenticator, Authorizer, Principal};
use laker_catalog::{Catalog, Dataset};
use laker_query::{DownloadPlan, DownloadSpec, QueryEngine};

use crate::error::Result;
use crate::locations::LocationPolicy;
use crate::metrics::Metrics;
use crate::ticket::TicketCodec;

/// Shared server state.
#[derive(Debug)]
pub struct AppState {
    /// The catalog.
    pub catalog: Catalog,
    /// Compiles and runs downloads.
    pub engine: QueryEngine,
    /// Checks credentials, issues tokens.
    pub authenticator: Authenticator,
    /// Checks grants.
    pub authorizer: Authorizer,
    /// Signs and verifies tickets.
    pub tickets: TicketCodec,
    /// Lifetime of issued tickets.
    pub ticket_ttl: Duration,
    /// Live counters.
    pub metrics: Arc<Metrics>,
    /// Where datasets may be registered.
    pub locations: LocationPolicy,
}

impl AppState {
    /// Authorises `principal` to read the spec's dataset, then compiles the spec.
    /// Authorisation comes first: nothing is looked up or planned for a
    /// caller who may not read the dataset.
    pub async fn plan_download(
        &self,
        principal: &Principal,
        spec: &DownloadSpec,
    ) -> Result<(Dataset, DownloadPlan)> {
        spec.validate()?;
        let name = spec.dataset_name()?;
        self.authorizer
            .require(principal, Action::Read, &name)
            .await?;
        tracing::Span::current().record("dataset", tracing::field::display(&name));
        let dataset = self.catalog.dataset(&name).await?;
        let plan = self.engine.plan(&dataset, spec).await?;
        Ok((dataset, plan))
    }
}
