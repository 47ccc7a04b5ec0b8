//! Remote object stores with the transport failures object_store leaves to
//! its caller retried, safely. object_store retries a request that failed
//! with a 5xx or before it was sent, but not a conditional create
//! (`PutMode::Create`, the Delta commit) whose connection was reset or
//! timed out, and no request at all on an error it cannot classify.
//!
//! A create retried after the service stored the first attempt (its answer
//! lost, or a 5xx sent after storing it) finds the object present. Left as
//! it is, that reads as a lost race, and the Delta writer would commit the
//! same actions again at the next version. So every create refused because
//! the object exists reads the object back: when it holds exactly the bytes
//! being written, the create is the one that stored it and succeeds. (Delta
//! commits name data files with random UUIDs, so two writers never write
//! the same commit bytes unless they make the same change.)

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Attempts after the first one.
const RETRIES: u32 = 3;
/// Wait before the first retry (doubled for each next one).
const FIRST_WAIT: Duration = Duration::from_millis(100);

/// A remote store whose creates, puts and reads are retried on transport
/// failures object_store does not retry, and whose creates recognise
/// their own objects.
#[derive(Debug)]
pub struct RetriedStore {
    inner: Arc<dyn ObjectStore>,
}

impl RetriedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }

    /// A create: retried on a reset connection, a timeout or an
    /// unclassified transport failure; a refusal because the object exists
    /// is checked against the object.
    async fn create(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let retried = |kind: HttpErrorKind| {
            matches!(
                kind,
                HttpErrorKind::Interrupted | HttpErrorKind::Timeout | HttpErrorKind::Unknown
            )
        };
        let (inner, body, options) = (self.inner.as_ref(), &payload, &opts);
        let written = retrying(retried, move || {
            inner.put_opts(location, body.clone(), options.clone())
        })
        .await;
        match written {
            Err(e @ object_store::Error::AlreadyExists { .. }) => {
                match own(self.inner.as_ref(), location, &payload).await? {
                    Some(put) => {
                        tracing::info!(
                            path = %location,
                            "a create whose answer was lost had stored the object; taken as done"
                        );
                        Ok(put)
                    }
                    None => Err(e),
                }
            }
            other => other,
        }
    }
}

/// Whether the object at `location` holds exactly `payload`, as a put's
/// result when it does. The read is retried on any transport failure (it
/// is idempotent): left failed, the create would fail though it stored its
/// object, and the Delta writer would take the version as lost.
async fn own(
    store: &dyn ObjectStore,
    location: &Path,
    payload: &PutPayload,
) -> Result<Option<PutResult>> {
    let size = payload.content_length() as u64;
    let found = retrying(read_back, move || stored(store, location, size)).await?;
    let Some((put, stored)) = found else {
        return Ok(None);
    };
    let written = Bytes::from(payload.clone());
    Ok((stored == written).then_some(put))
}

/// The object at `location` with its result as a put's, when it is `size`
/// bytes long.
async fn stored(
    store: &dyn ObjectStore,
    location: &Path,
    size: u64,
) -> Result<Option<(PutResult, Bytes)>> {
    let found = match store.get_opts(location, GetOptions::default()).await {
        Ok(found) => found,
        // Deleted since: whatever was there, it is not this create's now.
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if found.meta.size != size {
        return Ok(None);
    }
    let put = PutResult {
        e_tag: found.meta.e_tag.clone(),
        version: found.meta.version.clone(),
    };
    Ok(Some((put, found.bytes().await?)))
}

/// The transport failures a read-back is retried on: all but a response
/// that could not be decoded.
fn read_back(kind: HttpErrorKind) -> bool {
    matches!(
        kind,
        HttpErrorKind::Interrupted
            | HttpErrorKind::Timeout
            | HttpErrorKind::Unknown
            | HttpErrorKind::Connect
            | HttpErrorKind::Request
    )
}

/// The kind of the transport failure behind `e`, if it is one (no HTTP
/// status was received).
fn transport_failure(e: &object_store::Error) -> Option<HttpErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            return Some(http.kind());
        }
        source = error.source();
    }
    None
}

/// Runs `attempt` until it succeeds, fails otherwise than with a transport
/// failure `retried` picks, or [`RETRIES`] retries have failed.
async fn retrying<T, F, Fut>(retried: impl Fn(HttpErrorKind) -> bool, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut wait = FIRST_WAIT;
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(e) if tries < RETRIES && transport_failure(&e).is_some_and(&retried) => {
                tries += 1;
                tracing::debug!(error = %e, retry = tries, "object store request retried");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            done => return done,
        }
    }
}

/// object_store retries idempotent requests on every transport failure
/// but those it cannot classify.
fn unclassified(kind: HttpErrorKind) -> bool {
    kind == HttpErrorKind::Unknown
}

impl fmt::Display for RetriedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetriedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for RetriedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        match opts.mode {
            PutMode::Create => self.create(location, payload, opts).await,
            PutMode::Overwrite => {
                let (inner, body, options) = (self.inner.as_ref(), &payload, &opts);
                retrying(unclassified, move || {
                    inner.put_opts(location, body.clone(), options.clone())
                })
                .await
            }
            // A retried update could find its own change: not retried.
            PutMode::Update(_) => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let (inner, options) = (self.inner.as_ref(), &options);
        retrying(unclassified, move || {
            inner.get_opts(location, options.clone())
        })
        .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let inner = self.inner.as_ref();
        retrying(unclassified, move || inner.get_ranges(location, ranges)).await
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

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    /// A store whose first `lost` puts are stored but answered with a
    /// reset connection, as when the answer of a stored create is lost, and
    /// whose first `lost_reads` gets fail with a reset connection.
    #[derive(Debug)]
    struct LostAnswers {
        inner: InMemory,
        lost: AtomicU32,
        lost_reads: AtomicU32,
    }

    /// Takes one from `counter` when it is above zero; whether it was.
    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    impl fmt::Display for LostAnswers {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "LostAnswers")
        }
    }

    fn reset() -> object_store::Error {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        object_store::Error::Generic {
            store: "test",
            source: Box::new(HttpError::new(HttpErrorKind::Interrupted, io)),
        }
    }

    #[async_trait]
    impl ObjectStore for LostAnswers {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> Result<PutResult> {
            let put = self.inner.put_opts(location, payload, opts).await?;
            let lost = self.lost.load(Ordering::SeqCst);
            if lost > 0 {
                self.lost.store(lost - 1, Ordering::SeqCst);
                return Err(reset());
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
            if take(&self.lost_reads) {
                return Err(reset());
            }
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

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    fn store(lost: u32) -> RetriedStore {
        store_losing_reads(lost, 0)
    }

    fn store_losing_reads(lost: u32, lost_reads: u32) -> RetriedStore {
        RetriedStore::new(Arc::new(LostAnswers {
            inner: InMemory::new(),
            lost: AtomicU32::new(lost),
            lost_reads: AtomicU32::new(lost_reads),
        }))
    }

    fn create() -> PutOptions {
        PutMode::Create.into()
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_its_own() {
        let store = store(1);
        let commit = Path::from("_delta_log/00000000000000000007.json");
        let body = PutPayload::from_static(b"{\"add\":{\"path\":\"part-1.parquet\"}}\n");
        store.put_opts(&commit, body, create()).await.unwrap();
        let stored = store.get(&commit).await.unwrap().bytes().await.unwrap();
        assert_eq!(&stored[..], b"{\"add\":{\"path\":\"part-1.parquet\"}}\n");
    }

    #[tokio::test]
    async fn a_create_reads_its_object_back_through_reset_connections() {
        let store = store_losing_reads(1, 2);
        let commit = Path::from("_delta_log/00000000000000000008.json");
        let body = PutPayload::from_static(b"{\"add\":{\"path\":\"part-2.parquet\"}}\n");
        store.put_opts(&commit, body, create()).await.unwrap();
        let stored = store.get(&commit).await.unwrap().bytes().await.unwrap();
        assert_eq!(&stored[..], b"{\"add\":{\"path\":\"part-2.parquet\"}}\n");
    }

    #[tokio::test]
    async fn a_create_of_another_writers_object_is_refused() {
        let store = store(0);
        let commit = Path::from("_delta_log/00000000000000000007.json");
        store
            .put_opts(&commit, PutPayload::from_static(b"theirs\n"), create())
            .await
            .unwrap();
        let mine = store
            .put_opts(&commit, PutPayload::from_static(b"mine!!\n"), create())
            .await;
        assert!(
            matches!(mine, Err(object_store::Error::AlreadyExists { .. })),
            "{mine:?}"
        );
        let stored = store.get(&commit).await.unwrap().bytes().await.unwrap();
        assert_eq!(&stored[..], b"theirs\n");
    }

    #[tokio::test]
    async fn a_reset_overwrite_is_left_to_object_store() {
        // object_store retries idempotent puts on a reset connection itself.
        let store = store(1);
        let data = Path::from("part-1.parquet");
        let put = store
            .put_opts(&data, PutPayload::from_static(b"x"), PutOptions::default())
            .await;
        assert!(
            matches!(put, Err(object_store::Error::Generic { .. })),
            "{put:?}"
        );
        assert_eq!(
            transport_failure(&put.unwrap_err()),
            Some(HttpErrorKind::Interrupted)
        );
    }
}
