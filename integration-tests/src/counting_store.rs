//! An object store wrapper that counts the bytes read through it, to prove
//! that filters and projections are pushed into the scan; and that can
//! lose the answer of a Delta commit it stored, then fail to read Delta
//! logs, as a store that becomes unreachable mid-commit.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Counts bytes fetched by `get_opts` and `get_ranges`.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    bytes: AtomicU64,
    requests: AtomicU64,
    lists: AtomicU64,
    /// The next Delta commit stored is answered with an error.
    lose_commit: AtomicBool,
    /// Delta logs cannot be read.
    logs_down: AtomicBool,
}

impl CountingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            lose_commit: AtomicBool::new(false),
            logs_down: AtomicBool::new(false),
        }
    }

    /// The next Delta commit (a create of `_delta_log/<version>.json`) is
    /// stored but answered with an error, and from then on no Delta log can
    /// be read until [`Self::heal`].
    pub fn lose_next_commit(&self) {
        self.lose_commit.store(true, Ordering::SeqCst);
    }

    /// Undoes [`Self::lose_next_commit`].
    pub fn heal(&self) {
        self.lose_commit.store(false, Ordering::SeqCst);
        self.logs_down.store(false, Ordering::SeqCst);
    }

    /// Fails when `location` is in a Delta log that cannot be read now.
    fn reachable(&self, location: Option<&Path>) -> Result<()> {
        if self.logs_down.load(Ordering::SeqCst) && location.is_some_and(in_delta_log) {
            Err(down())
        } else {
            Ok(())
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Read requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Listing calls so far.
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }

    fn count(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let commit = matches!(opts.mode, PutMode::Create)
            && in_delta_log(location)
            && location.extension() == Some("json");
        let put = self.inner.put_opts(location, payload, opts).await?;
        if commit && self.lose_commit.swap(false, Ordering::SeqCst) {
            self.logs_down.store(true, Ordering::SeqCst);
            return Err(down());
        }
        Ok(put)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.reachable(Some(location))?;
        let head = options.head;
        let result = self.inner.get_opts(location, options).await?;
        if !head {
            self.count(result.range.end - result.range.start);
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.reachable(Some(location))?;
        let result = self.inner.get_ranges(location, ranges).await?;
        self.count(result.iter().map(|b| b.len() as u64).sum());
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.reachable(prefix) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.reachable(prefix)?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Whether `location` is in (or is) a Delta log folder.
fn in_delta_log(location: &Path) -> bool {
    location.parts().any(|p| p.as_ref() == "_delta_log")
}

fn down() -> object_store::Error {
    object_store::Error::Generic {
        store: "CountingStore",
        source: "the store cannot be reached (a test's fault injection)".into(),
    }
}
