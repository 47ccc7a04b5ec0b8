//! Start-up cleanup of data files that uploads wrote but never committed
//! (the server was killed midway). A Parquet file in a Delta dataset of the
//! server's own lake that no commit in the log mentions and that is older
//! than the grace period is deleted; the grace period spares uploads still
//! running on other replicas. Datasets elsewhere are left to their owners'
//! `VACUUM`.

use std::time::Duration;

use futures::TryStreamExt;
use laker_catalog::model::DatasetFormat;
use laker_query::{QueryEngine, StorageError};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use url::Url;

use super::ctx::UploadCtx;
use super::staged::{DELTA_LOG, referenced};
use crate::error::{IngestError, Result};

/// What a cleanup found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    /// Delta datasets looked at.
    pub datasets: usize,
    /// Orphan files deleted.
    pub files: usize,
}

/// Deletes orphan upload files older than `grace` in the Delta datasets
/// under the upload store (where uploads create datasets). Replicas sharing
/// that store must use a grace longer than their longest upload.
pub async fn clean(ctx: &UploadCtx, grace: Duration) -> Result<Cleaned> {
    let Some(lake) = ctx.locations.prefix(&ctx.store).map(Url::to_string) else {
        return Ok(Cleaned::default());
    };
    let mut cleaned = Cleaned::default();
    for dataset in ctx.catalog.datasets().await? {
        if dataset.format != DatasetFormat::Delta || !dataset.location.starts_with(&lake) {
            continue;
        }
        cleaned.datasets += 1;
        match clean_table(&ctx.engine, &dataset.location, grace).await {
            Ok(n) => cleaned.files += n,
            Err(e) => {
                tracing::warn!(dataset = %dataset.name, error = %e, "orphan cleanup skipped a dataset")
            }
        }
    }
    Ok(cleaned)
}

async fn clean_table(engine: &QueryEngine, location: &str, grace: Duration) -> Result<usize> {
    let url = url::Url::parse(location)
        .map_err(|_| IngestError::Internal("a dataset has an invalid location".into()))?;
    let (logs, table) = crate::delta::table_at(engine, location).await?;
    let Some(table) = table else {
        return Ok(0);
    };
    let known = referenced(&table).await?;
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let store = logs.object_store(None);
    let orphans: Vec<ObjectMeta> = store
        .list(None)
        .try_filter(|m| {
            let in_log = m
                .location
                .parts()
                .next()
                .is_some_and(|p| p.as_ref() == DELTA_LOG);
            // Only Parquet data files: what uploads write (deletion vectors
            // and other files of external writers are never touched).
            let data = m.location.extension() == Some("parquet");
            futures::future::ready(
                data && !in_log && !known.contains(&m.location) && m.last_modified <= cutoff,
            )
        })
        .try_collect()
        .await
        .map_err(|e| StorageError::object_store("listing the table", &e))?;
    let mut deleted = 0;
    for orphan in &orphans {
        match store.delete(&orphan.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
            Err(e) => tracing::warn!(error = %e, "deleting an orphan upload file failed"),
        }
    }
    if url.scheme() == "file" {
        deleted += clean_local_staging(&url, cutoff);
    }
    Ok(deleted)
}

/// The local file store hides the temporary files of multipart writes
/// (`name#N`) from listings; a killed server can leave them behind.
fn clean_local_staging(url: &url::Url, cutoff: chrono::DateTime<chrono::Utc>) -> usize {
    let Ok(root) = url.to_file_path() else {
        return 0;
    };
    let mut deleted = 0;
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if entry.file_name() != DELTA_LOG {
                    dirs.push(path);
                }
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let staging = name
                .rsplit_once('#')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let old = meta
                .modified()
                .map(|t| chrono::DateTime::<chrono::Utc>::from(t) <= cutoff)
                .unwrap_or(false);
            if staging && old && std::fs::remove_file(&path).is_ok() {
                deleted += 1;
            }
        }
    }
    deleted
}

/// `relative` (a path inside a table) as a path in the table's store.
pub fn in_store(table_root: &url::Url, relative: &Path) -> Path {
    let root = Path::from_url_path(table_root.path()).unwrap_or_default();
    Path::from_iter(root.parts().chain(relative.parts()))
}
