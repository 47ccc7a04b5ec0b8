//! The catalog records of the built-in datasets of the `system` namespace:
//! `system.audit` (the audit log), `system.usage` (downloads and bytes per
//! principal, dataset and day), `system.access_requests` (every access
//! request and its decision), `system.ingest_runs` (every run of an ingest
//! job) and `system.ingest_files` (every file ingest jobs took). Their
//! tables are built by `laker-query`.

use crate::error::{CatalogError, Result};
use crate::model::{Dataset, DatasetFormat, DatasetOptions};
use crate::names::DatasetName;

/// The namespace of the built-in datasets; it cannot be created or changed.
pub const SYSTEM_NAMESPACE: &str = "system";

/// Whether `name` is in the reserved `system` namespace.
pub fn is_system(name: &DatasetName) -> bool {
    name.namespace == SYSTEM_NAMESPACE
}

/// The catalog records of the built-in datasets.
pub fn system_datasets() -> Vec<Dataset> {
    let dataset = |name: &str, description: &str| Dataset {
        name: DatasetName {
            namespace: SYSTEM_NAMESPACE.into(),
            dataset: name.into(),
        },
        description: description.into(),
        tags: vec!["system".into()],
        format: DatasetFormat::System,
        location: format!("system:{name}"),
        options: DatasetOptions::default(),
        owner: "laker".into(),
        created_at: 0,
        updated_at: 0,
        refreshed_at: 0,
        revision: 1,
    };
    vec![
        dataset(
            "audit",
            "Audit log: every handshake, download, upload and admin action, with principal, source, rows, bytes and outcome",
        ),
        dataset(
            "usage",
            "Usage summary: successful downloads, rows and bytes per principal, dataset and day",
        ),
        dataset(
            "access_requests",
            "Access requests: who asked for which dataset or data, why, and the decision",
        ),
        dataset(
            "ingest_runs",
            "Ingest job runs: what started each, files, rows and bytes imported, files rejected and re-imported, the Delta version, duration and outcome",
        ),
        dataset(
            "ingest_files",
            "Files ingest jobs took: path, size and version, the run, imported or rejected and why",
        ),
    ]
}

/// The built-in dataset `name`, or NotFound.
pub fn system_dataset(name: &DatasetName) -> Result<Dataset> {
    system_datasets()
        .into_iter()
        .find(|d| &d.name == name)
        .ok_or_else(|| CatalogError::not_found("dataset", name.to_string()))
}
