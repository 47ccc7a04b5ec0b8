//! What uploads run with: built once by the server that hosts them.

use std::sync::Arc;

use laker_auth::Authorizer;
use laker_catalog::Catalog;
use laker_query::QueryEngine;
use laker_query::admission::Admission;

use super::limits::UploadLimits;
use crate::curate::curator::Curator;
use crate::locations::LocationPolicy;
use crate::notify::Notifier;

/// Everything an upload reads, checks and writes with.
#[derive(Debug)]
pub struct UploadCtx {
    /// Datasets are looked up and registered here.
    pub catalog: Catalog,
    /// Its runtime holds the lake's object stores; its session plans the
    /// datasets' rules.
    pub engine: Arc<QueryEngine>,
    /// Checks write grants, and read grants where locations overlap.
    pub authorizer: Authorizer,
    /// Streams per principal and the server's memory budget.
    pub admission: Arc<Admission>,
    /// Limits on one upload.
    pub limits: UploadLimits,
    /// Where datasets may live.
    pub locations: LocationPolicy,
    /// The store new datasets are created in (a [`LocationPolicy`] name).
    pub store: String,
    /// Announces commits.
    pub notifier: Notifier,
    /// Transforms what landed.
    pub curator: Arc<Curator>,
}
