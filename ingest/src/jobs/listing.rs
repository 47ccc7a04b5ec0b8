//! Finding the files a run takes: the source folder is listed page by
//! page, each page's wanted files looked up in the job's manifest, and the
//! versions not taken yet kept, up to the run's cap (the rest wait for the
//! next run). A file's version is its ETag, else its object version, else
//! its size and modification time.

use std::collections::HashSet;

use futures::StreamExt;
use laker_catalog::Catalog;
use laker_query::StorageError;
use object_store::ObjectMeta;

use super::OUTCOME_IMPORTED;
use super::source::SourceAt;
use crate::error::Result;

/// Listed files looked up in the manifest at once.
const PAGE: usize = 1000;

/// A file the job has not taken in this version.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// As listed.
    pub meta: ObjectMeta,
    /// Its version, the manifest's key with its path.
    pub version: String,
    /// Another version of the path was imported before.
    pub reimport: bool,
}

/// The version of `meta` the manifest records.
pub fn version_of(meta: &ObjectMeta) -> String {
    meta.e_tag
        .as_deref()
        .map(bare_etag)
        .map(str::to_string)
        .or_else(|| meta.version.clone())
        .unwrap_or_else(|| format!("{}-{}", meta.size, meta.last_modified.timestamp_millis()))
}

/// `etag` without its quotes or weak marker: stores give the same ETag
/// quoted in one answer and bare in another (Azure: bare in listings,
/// quoted in HEAD).
pub fn bare_etag(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

/// Up to `max` files under `source` that job `job` has not taken, by path.
pub async fn new_files(
    catalog: &Catalog,
    job: &str,
    source: &SourceAt,
    max: usize,
) -> Result<Vec<Candidate>> {
    let mut listing = source.store.list(Some(&source.prefix));
    let mut found = Vec::new();
    let mut page = Vec::with_capacity(PAGE);
    while let Some(meta) = listing.next().await {
        let meta =
            meta.map_err(|e| StorageError::object_store("listing an ingest job's source", &e))?;
        if !source.wants(&meta.location) {
            continue;
        }
        page.push(meta);
        if page.len() == PAGE {
            keep_new(catalog, job, std::mem::take(&mut page), &mut found).await?;
            if found.len() >= max {
                break;
            }
        }
    }
    if found.len() < max && !page.is_empty() {
        keep_new(catalog, job, page, &mut found).await?;
    }
    found.truncate(max);
    found.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(found)
}

/// Adds the files of `page` whose version `job` has not taken to `found`.
async fn keep_new(
    catalog: &Catalog,
    job: &str,
    page: Vec<ObjectMeta>,
    found: &mut Vec<Candidate>,
) -> Result<()> {
    let paths: Vec<String> = page.iter().map(|m| m.location.to_string()).collect();
    let taken = catalog.taken_versions(job, &paths).await?;
    let versions: HashSet<(&str, &str)> = taken
        .iter()
        .map(|t| (t.path.as_str(), t.object_version.as_str()))
        .collect();
    let imported: HashSet<&str> = taken
        .iter()
        .filter(|t| t.outcome == OUTCOME_IMPORTED)
        .map(|t| t.path.as_str())
        .collect();
    for (meta, path) in page.into_iter().zip(&paths) {
        let version = version_of(&meta);
        if versions.contains(&(path.as_str(), version.as_str())) {
            continue;
        }
        found.push(Candidate {
            reimport: imported.contains(path.as_str()),
            meta,
            version,
        });
    }
    Ok(())
}
