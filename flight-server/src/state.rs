//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use laker_auth::authorize::DatasetAccess;
use laker_auth::{Authenticator, Authorizer, Principal};
use laker_catalog::Catalog;
use laker_ingest::locations::LocationPolicy;
use laker_ingest::{Curator, IngestJobs, UploadCtx};
use laker_query::admission::Admission;
use laker_query::sql::cancel::Cancellations;
use laker_query::sql::limits::QueryLimiter;
use laker_query::{QueryEngine, ReadAccess};

use crate::audit::AuditLog;
use crate::cache::ResultCache;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::signed::Signer;

/// Shared server state.
#[derive(Debug)]
pub struct AppState {
    /// The catalog.
    pub catalog: Catalog,
    /// Compiles and runs downloads; plans SQL.
    pub engine: Arc<QueryEngine>,
    /// Checks credentials, issues tokens.
    pub authenticator: Authenticator,
    /// Checks grants.
    pub authorizer: Authorizer,
    /// Signs and verifies tickets and statement handles.
    pub tickets: Signer,
    /// Lifetime of issued tickets.
    pub ticket_ttl: Duration,
    /// Live counters.
    pub metrics: Arc<Metrics>,
    /// Where datasets may be registered.
    pub locations: LocationPolicy,
    /// The audit writer.
    pub audit: AuditLog,
    /// Runs the transforms of curated datasets.
    pub curator: Arc<Curator>,
    /// What uploads run with (their limits, store, notifications).
    pub uploads: Arc<UploadCtx>,
    /// Runs ingest jobs (imports of dropped files).
    pub ingest_jobs: Arc<IngestJobs>,
    /// Memory, time and concurrency limits of SQL queries.
    pub sql_limits: QueryLimiter,
    /// Cancellation of running SQL statements.
    pub cancellations: Arc<Cancellations>,
    /// Whether endpoints are spread over advertised replicas.
    pub fan_out: bool,
    /// Streams per principal and the server's memory budget.
    pub admission: Arc<Admission>,
    /// Encoded results of popular downloads (`--result-cache-mb`).
    pub results: Arc<ResultCache>,
}

impl AppState {
    /// Refuses to put dataset `name` at `location` when that overlaps the
    /// data of a dataset `principal` may not read in full (see
    /// [`laker_ingest::locations::claim`]).
    pub async fn claim_location(
        &self,
        principal: &Principal,
        name: &laker_catalog::DatasetName,
        location: &str,
    ) -> Result<()> {
        Ok(laker_ingest::locations::claim(
            &self.catalog,
            &self.authorizer,
            principal,
            name,
            location,
        )
        .await?)
    }

    /// Refuses to put dataset `name`, made for another principal, at
    /// `location` when that overlaps any other dataset's location (see
    /// [`laker_ingest::locations::claim_alone`]).
    pub async fn claim_location_alone(
        &self,
        principal: &Principal,
        name: &laker_catalog::DatasetName,
        location: &str,
    ) -> Result<()> {
        Ok(laker_ingest::locations::claim_alone(
            &self.catalog,
            &self.authorizer,
            principal,
            name,
            location,
        )
        .await?)
    }

    /// The read policies of `access` for `principal`, ready to plan with.
    pub fn read_access(&self, principal: &Principal, access: DatasetAccess) -> ReadAccess {
        laker_query::read_access(principal, access)
    }
}
