//! `laker-server catalog seed`: the sample datasets on any configured store.
//!
//! Generates the demo files locally (as `--demo` does), uploads them under
//! `<store prefix>/<folder>/` unless an object of the same size is there
//! already, and registers `demo.trips` and `demo.zones` at that location.

use bytes::Bytes;
use laker_catalog::Catalog;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::config::{SeedArgs, ServerConfig};
use crate::demo;
use crate::error::{Error, Result};
use crate::server::DATA_DIR_STORE;

/// What `seed` did.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Where the datasets are registered (a directory URL).
    pub location: String,
    /// Files uploaded.
    pub uploaded: usize,
    /// Files already present with the same size.
    pub skipped: usize,
}

/// Runs the seed.
pub async fn seed(config: &ServerConfig, args: &SeedArgs) -> Result<SeedReport> {
    config
        .validate()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Internal(format!("cannot create the data directory: {e}")))?;
    let lake_dir = config
        .data_dir
        .canonicalize()
        .map_err(|e| Error::Internal(format!("cannot resolve the data directory: {e}")))?
        .join("lake");
    // Check the target before generating anything.
    let target = match args.store.as_str() {
        DATA_DIR_STORE => None,
        name => Some(remote_target(config, name, &args.prefix)?),
    };
    let catalog = Catalog::connect(&config.catalog_url).await?;
    demo::generate(&lake_dir, config.demo_rows).await?;
    let mut report = SeedReport::default();
    let base = match target {
        None => Url::from_directory_path(lake_dir.join("demo"))
            .map_err(|()| Error::Internal("data directory is not absolute".into()))?,
        Some((object_store, base)) => {
            for (rel, path) in demo::files(&lake_dir)? {
                let target = ObjectPath::from_url_path(format!("{}{rel}", base.path()))
                    .map_err(|e| Error::Internal(format!("object path: {e}")))?;
                if upload(object_store.as_ref(), &target, &path).await? {
                    report.uploaded += 1;
                } else {
                    report.skipped += 1;
                }
            }
            base
        }
    };
    demo::register_all(&catalog, &base).await?;
    if args.with_demo_user {
        demo::ensure_demo_user(&catalog).await?;
    }
    report.location = base.to_string();
    Ok(report)
}

/// The configured store `name` and the folder URL under its prefix to seed.
fn remote_target(
    config: &ServerConfig,
    name: &str,
    prefix: &str,
) -> Result<(std::sync::Arc<dyn ObjectStore>, Url)> {
    let store = config.stores.get(name).ok_or_else(|| {
        let names: Vec<&str> = config.stores.keys().map(String::as_str).collect();
        Error::InvalidArgument(format!(
            "no store named '{name}'; configured stores: {DATA_DIR_STORE}{}{}",
            if names.is_empty() { "" } else { ", " },
            names.join(", ")
        ))
    })?;
    let folder = prefix.trim_matches('/');
    if folder.is_empty()
        || folder
            .split('/')
            .any(|s| s == ".." || s == "." || s.is_empty())
    {
        return Err(Error::InvalidArgument(format!(
            "--prefix '{prefix}' must be a relative folder without '.' or '..'"
        )));
    }
    let (_, object_store) = store
        .build(name)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let base = store
        .prefix(name)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?
        .join(&format!("{folder}/"))
        .map_err(|e| Error::InvalidArgument(format!("--prefix: {e}")))?;
    Ok((object_store, base))
}

/// Puts `local` at `target` unless an object of the same size is there.
async fn upload(
    store: &dyn ObjectStore,
    target: &ObjectPath,
    local: &std::path::Path,
) -> Result<bool> {
    let data = tokio::fs::read(local)
        .await
        .map_err(|e| Error::Internal(format!("cannot read {}: {e}", local.display())))?;
    if let Ok(meta) = store.head(target).await
        && meta.size == data.len() as u64
    {
        return Ok(false);
    }
    store
        .put(target, Bytes::from(data).into())
        .await
        .map_err(|e| Error::Internal(format!("upload to {target} failed: {e}")))?;
    Ok(true)
}
