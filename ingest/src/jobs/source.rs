//! An ingest job's source resolved against the server: the object store
//! of its configured store, the folder files are taken from and the folder
//! rejected files are copied to, as paths in that store.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use laker_query::QueryEngine;
use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;

use super::job::{JobSpec, SourceFormat};
use super::pattern::Pattern;
use crate::error::{IngestError, Result};
use crate::locations::LocationPolicy;

/// Where one job's files are.
#[derive(Debug, Clone)]
pub struct SourceAt {
    /// The store's object store (as the server registered it).
    pub store: Arc<dyn ObjectStore>,
    /// The URL DataFusion finds that store under.
    pub store_url: ObjectStoreUrl,
    /// The folder files are taken from.
    pub prefix: Path,
    /// The folder rejected files are copied to (never taken from).
    pub quarantine: Path,
    /// The names taken.
    pub pattern: Pattern,
    /// The files' format.
    pub format: SourceFormat,
}

impl SourceAt {
    /// Resolves `spec`'s source on `engine`'s stores.
    pub fn of(engine: &QueryEngine, locations: &LocationPolicy, spec: &JobSpec) -> Result<Self> {
        let folder = spec.source_url(locations)?;
        let quarantine = spec.quarantine_url(locations)?;
        let store_url = ObjectStoreUrl::parse(root_of(&folder))?;
        let store = engine
            .state()
            .runtime_env()
            .object_store(&store_url)
            .map_err(|_| {
                IngestError::FailedPrecondition(format!(
                    "the store '{}' of ingest job '{}' is not configured on this server",
                    spec.source.store, spec.name
                ))
            })?;
        Ok(Self {
            store,
            store_url,
            prefix: path_of(&folder)?,
            quarantine: path_of(&quarantine)?,
            pattern: spec.pattern()?,
            format: spec.source.format,
        })
    }

    /// Whether `path` (listed under the prefix) is a file the job takes:
    /// its name matches, it is not hidden (`.` or `_` first, as temporary
    /// and marker files are), and it is not in the quarantine folder.
    pub fn wants(&self, path: &Path) -> bool {
        let Some(name) = path.filename() else {
            return false;
        };
        !name.starts_with(['.', '_'])
            && self.pattern.matches(name)
            && !path.prefix_matches(&self.quarantine)
    }

    /// `path` relative to the source folder (for quarantine copies).
    pub fn relative<'a>(&self, path: &'a Path) -> &'a str {
        let full: &str = path.as_ref();
        let prefix: &str = self.prefix.as_ref();
        full.strip_prefix(prefix)
            .map(|rest| rest.trim_start_matches('/'))
            .filter(|rest| !rest.is_empty())
            .unwrap_or(full)
    }
}

/// `scheme://authority` of a folder URL (`file://` for local folders).
fn root_of(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

/// A folder URL's path as an object store path.
fn path_of(url: &Url) -> Result<Path> {
    Path::from_url_path(url.path())
        .map_err(|e| IngestError::InvalidArgument(format!("an ingest job folder is invalid: {e}")))
}
