//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use laker_auth::authorize::DatasetAccess;
use laker_auth::{Action, Authenticator, Authorizer, Principal};
use laker_catalog::{Catalog, Dataset};
use laker_query::{DownloadPlan, DownloadSpec, PrincipalContext, QueryEngine, ReadAccess};

use crate::audit::AuditLog;
use crate::error::Result;
use crate::locations::LocationPolicy;
use crate::metrics::Metrics;
use crate::sql::cancel::Cancellations;
use crate::sql::limits::QueryLimiter;
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
    /// The audit writer.
    pub audit: AuditLog,
    /// Runs the transforms of curated datasets.
    pub curator: crate::curate::Curator,
    /// Memory, time and concurrency limits of SQL queries.
    pub sql_limits: QueryLimiter,
    /// Cancellation of running SQL statements.
    pub cancellations: Arc<Cancellations>,
    /// Limits on one upload.
    pub upload_limits: crate::upload::UploadLimits,
    /// Whether endpoints are spread over advertised replicas.
    pub fan_out: bool,
    /// The store uploads create new datasets in (a [`LocationPolicy`] name).
    pub upload_store: String,
    /// Announces upload commits.
    pub notifier: crate::notify::Notifier,
}

impl AppState {
    /// Authorises `principal` to read the spec's dataset, then compiles the
    /// spec through the principal's row filters and column masks.
    /// Authorisation comes first: nothing is looked up or planned for a
    /// caller who may not read the dataset, and a dataset the caller may not
    /// discover is reported missing.
    pub async fn plan_download(
        &self,
        principal: &Principal,
        spec: &DownloadSpec,
    ) -> Result<(Dataset, DownloadPlan, ReadAccess)> {
        spec.validate()?;
        let name = spec.dataset_name()?;
        let access = self
            .authorizer
            .require(principal, Action::Read, &name)
            .await?;
        tracing::Span::current().record("dataset", tracing::field::display(&name));
        if laker_catalog::system::is_system(&name) {
            // Readers of the audit see every record of calls made before theirs.
            self.audit.flush().await;
        }
        let dataset = self.catalog.dataset(&name).await?;
        let access = self.read_access(principal, access);
        let plan = self.engine.plan(&dataset, spec, &access).await?;
        Ok((dataset, plan, access))
    }

    /// The read policies of `access` for `principal`, ready to plan with.
    pub fn read_access(&self, principal: &Principal, access: DatasetAccess) -> ReadAccess {
        ReadAccess {
            policies: access.read,
            principal: PrincipalContext {
                user: principal.name.clone(),
                attributes: principal.attributes.clone(),
            },
        }
    }
}
