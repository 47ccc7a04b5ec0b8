//! The data files one upload writes. Uploads write through this wrapper of
//! the dataset's object store, which remembers every data file created (the
//! Delta log itself is not recorded); when the upload does not commit, its
//! files are deleted again, so a failed upload leaves nothing behind.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Directory of a Delta table's transaction log.
pub const DELTA_LOG: &str = "_delta_log";

/// An object store that records the data files written through it.
#[derive(Debug)]
pub struct Staged {
    inner: Arc<dyn ObjectStore>,
    written: Mutex<Vec<Path>>,
}

impl Staged {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            written: Mutex::new(Vec::new()),
        })
    }

    /// The data files written so far (full paths in the store).
    pub fn written(&self) -> Vec<Path> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Deletes the written files that `keep` does not name; returns how
    /// many were deleted. Missing files are not an error.
    pub async fn discard(&self, keep: impl Fn(&Path) -> bool) -> usize {
        let doomed: Vec<Path> = self.written().into_iter().filter(|p| !keep(p)).collect();
        let count = doomed.len();
        if count == 0 {
            return 0;
        }
        let paths = futures::stream::iter(doomed.into_iter().map(Ok)).boxed();
        let failures: Vec<_> = self
            .inner
            .delete_stream(paths)
            .filter_map(|r| async move {
                match r {
                    Err(object_store::Error::NotFound { .. }) | Ok(_) => None,
                    Err(e) => Some(e),
                }
            })
            .collect()
            .await;
        for e in &failures {
            tracing::warn!(error = %e, "deleting a staged upload file failed; start-up cleanup will retry");
        }
        count - failures.len()
    }

    fn record(&self, location: &Path) {
        if location.parts().any(|p| p.as_ref() == DELTA_LOG) {
            return;
        }
        if let Ok(mut w) = self.written.lock() {
            w.push(location.clone());
        }
    }
}

impl fmt::Display for Staged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Staged({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Staged {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.record(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.record(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    // Forwarded, not left to the trait's default (a whole listing filtered
    // afterwards): loading a table lists its log from the newest
    // checkpoint, and on the local disk the default would `stat` every
    // file of a log that grows by one per commit.
    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Every data file path a Delta table's log mentions (added or removed, in
/// any commit still in the log, or active in the latest snapshot), relative
/// to the table root.
pub async fn referenced(
    table: &deltalake_core::DeltaTable,
) -> crate::error::Result<std::collections::HashSet<Path>> {
    use laker_query::StorageError;
    let mut paths = std::collections::HashSet::new();
    if let Ok(snapshot) = table.snapshot() {
        for add in snapshot.log_data() {
            paths.insert(add.object_store_path());
        }
    }
    let store = table.log_store().object_store(None);
    let log_dir = Path::from(DELTA_LOG);
    let commits: Vec<ObjectMeta> = store
        .list(Some(&log_dir))
        .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".json")))
        .try_collect()
        .await
        .map_err(|e| StorageError::object_store("listing the Delta log", &e))?;
    for commit in commits {
        let actions = crate::delta::commit_actions(store.as_ref(), &commit.location)
            .await
            .map_err(|e| StorageError::object_store("reading the Delta log", &e))?;
        for action in actions {
            for kind in ["add", "remove", "cdc"] {
                if let Some(p) = action
                    .get(kind)
                    .and_then(|a| a.get("path"))
                    .and_then(|p| p.as_str())
                    && let Ok(path) = Path::from_url_path(p)
                {
                    paths.insert(path);
                }
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use object_store::memory::InMemory;

    use super::*;

    /// An in-memory store counting whole listings.
    #[derive(Debug, Default)]
    struct Listings {
        inner: InMemory,
        whole: AtomicUsize,
    }

    impl fmt::Display for Listings {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Listings")
        }
    }

    #[async_trait]
    impl ObjectStore for Listings {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
            self.inner.get_opts(l, o).await
        }
        fn delete_stream(
            &self,
            l: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.inner.delete_stream(l)
        }
        fn list(&self, p: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.whole.fetch_add(1, Ordering::SeqCst);
            self.inner.list(p)
        }
        fn list_with_offset(
            &self,
            p: Option<&Path>,
            o: &Path,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list_with_offset(p, o)
        }
        async fn list_with_delimiter(&self, p: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(p).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.inner.copy_opts(f, t, o).await
        }
    }

    #[tokio::test]
    async fn a_listing_from_an_offset_is_not_a_whole_listing() {
        use object_store::ObjectStoreExt as _;
        let inner = Arc::new(Listings::default());
        for v in 0..5 {
            let path = Path::from(format!("{DELTA_LOG}/{v:020}.json"));
            inner.put(&path, "{}".into()).await.unwrap();
        }
        let staged = Staged::new(inner.clone());
        let offset = Path::from(format!("{DELTA_LOG}/{:020}.json", 2));
        let found: Vec<ObjectMeta> = staged
            .list_with_offset(Some(&Path::from(DELTA_LOG)), &offset)
            .try_collect()
            .await
            .unwrap();
        let mut names: Vec<String> = found.iter().map(|m| m.location.to_string()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{DELTA_LOG}/{:020}.json", 3),
                format!("{DELTA_LOG}/{:020}.json", 4)
            ]
        );
        assert_eq!(
            inner.whole.load(Ordering::SeqCst),
            0,
            "listed the whole log"
        );
    }
}
