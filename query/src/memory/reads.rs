//! Lake reads counted against the server's memory. The Parquet reader
//! holds a row group's column chunks while it decodes them, and DataFusion
//! does not account for them. A ranged read (footers, column chunks) is
//! reserved before it is made and charged until the last reference to its
//! buffer is dropped; a whole object streamed from a remote store is
//! charged chunk by chunk while its reader holds the chunks (a reader that
//! concatenates them, such as the Delta log's, holds its copy uncharged);
//! local files are read from the file. When the pool is full, a read waits
//! for memory to be freed (a slow download slows the others, none exceeds
//! the limit), and fails naming the limit if none is freed in time. A read
//! dropped midway (a cancelled download) frees its reservation.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Name under which a refused read reports its error (mapped to
/// RESOURCE_EXHAUSTED by the server).
pub const STORE_NAME: &str = "laker-memory";

/// How long a read waits for memory before it fails.
const WAIT: Duration = Duration::from_secs(30);

/// An object store whose reads are charged to a memory pool.
#[derive(Debug)]
pub struct AccountedStore {
    inner: Arc<dyn ObjectStore>,
    reads: Arc<Reads>,
}

impl AccountedStore {
    /// Wraps `inner`, charging its reads to `pool` (of `limit` bytes).
    pub fn new(inner: Arc<dyn ObjectStore>, pool: &Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            inner,
            reads: Arc::new(Reads {
                template: MemoryConsumer::new("lake reads").register(pool),
                limit,
            }),
        }
    }
}

/// The charges of the buffers read through one store: each read has a
/// reservation of its own, so a read dropped midway (a cancelled download)
/// frees what it held.
#[derive(Debug)]
struct Reads {
    /// An empty reservation of the store's consumer, cloned per read.
    template: MemoryReservation,
    limit: usize,
}

impl Reads {
    /// A reservation of `bytes`, waiting while the pool is full.
    async fn reserve(&self, bytes: usize) -> Result<MemoryReservation> {
        if bytes > self.limit {
            return Err(refused(format!(
                "a read of {bytes} bytes is larger than the server's memory limit ({} MiB, \
                 --memory-limit-mb)",
                self.limit >> 20
            )));
        }
        let charge = self.template.new_empty();
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        while charge.try_grow(bytes).is_err() {
            if started.elapsed() > WAIT {
                return Err(refused(format!(
                    "the server's memory limit ({} MiB, --memory-limit-mb) stayed in use by \
                     other downloads for {} s; retry later",
                    self.limit >> 20,
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(charge)
    }

    /// Reserves and charges `bytes`.
    async fn charge(&self, bytes: Bytes) -> Result<Bytes> {
        let charge = self.reserve(bytes.len()).await?;
        Ok(charged(bytes, charge))
    }
}

/// `bytes`, holding `charge` (its size) until its last reference drops.
fn charged(bytes: Bytes, charge: MemoryReservation) -> Bytes {
    if bytes.is_empty() {
        return bytes;
    }
    Bytes::from_owner(Charged {
        bytes,
        _charge: charge,
    })
}

fn refused(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE_NAME,
        source: message.into(),
    }
}

/// A buffer's bytes and the charge released when it is dropped.
struct Charged {
    bytes: Bytes,
    _charge: MemoryReservation,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for AccountedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for AccountedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if options.head {
            return self.inner.get_opts(location, options).await;
        }
        let ranged = options.range.is_some();
        let result = self.inner.get_opts(location, options).await?;
        if matches!(result.payload, GetResultPayload::File(..)) {
            // A local file is read by its caller from the file (the page
            // cache is not the process's memory).
            return Ok(result);
        }
        let (meta, range, attributes) = (
            result.meta.clone(),
            result.range.clone(),
            result.attributes.clone(),
        );
        let payload = if ranged {
            // A range (a footer, column chunks) is read whole by its caller
            // anyway: reserved first, then read, charged.
            let declared =
                usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
            let charge = self.reads.reserve(declared).await?;
            let bytes = result.bytes().await?;
            charge
                .try_resize(bytes.len())
                .map_err(|e| refused(e.to_string()))?;
            let bytes = charged(bytes, charge);
            GetResultPayload::Stream(futures::stream::once(async { Ok(bytes) }).boxed())
        } else {
            // A whole object is streamed; each chunk is charged while its
            // caller holds it.
            let reads = Arc::clone(&self.reads);
            let chunks = result.into_stream().then(move |chunk| {
                let reads = Arc::clone(&reads);
                async move { reads.charge(chunk?).await }
            });
            GetResultPayload::Stream(chunks.boxed())
        };
        Ok(GetResult {
            payload,
            meta,
            range,
            attributes,
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        // Reserved before reading, so a full pool makes the read wait; a
        // read dropped while waiting on the store frees it with `charge`.
        let charge = self.reads.reserve(total).await?;
        let parts = self.inner.get_ranges(location, ranges).await?;
        let read: usize = parts.iter().map(Bytes::len).sum();
        charge
            .try_resize(read)
            .map_err(|e| refused(e.to_string()))?;
        // Each part carries its own share of the charge from here on.
        Ok(parts
            .into_iter()
            .map(|b| {
                let share = charge.split(b.len());
                charged(b, share)
            })
            .collect())
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
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    /// A store whose ranged reads never finish.
    #[derive(Debug)]
    struct Stalled(InMemory);

    impl fmt::Display for Stalled {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Stalled")
        }
    }

    #[async_trait]
    impl ObjectStore for Stalled {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.0.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.0.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
            self.0.get_opts(l, o).await
        }
        async fn get_ranges(&self, _: &Path, _: &[Range<u64>]) -> Result<Vec<Bytes>> {
            futures::future::pending().await
        }
        fn delete_stream(
            &self,
            l: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.0.delete_stream(l)
        }
        fn list(&self, p: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.0.list(p)
        }
        async fn list_with_delimiter(&self, p: Option<&Path>) -> Result<ListResult> {
            self.0.list_with_delimiter(p).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.0.copy_opts(f, t, o).await
        }
    }

    fn pool() -> Arc<dyn MemoryPool> {
        Arc::new(GreedyMemoryPool::new(1 << 20))
    }

    #[tokio::test]
    async fn a_read_dropped_midway_frees_its_reservation() {
        let pool = pool();
        let store = AccountedStore::new(Arc::new(Stalled(InMemory::new())), &pool, 1 << 20);
        let path = Path::from("a");
        let read = store.get_ranges(&path, &[0..1000, 2000..3000]);
        let timed_out = tokio::time::timeout(Duration::from_millis(50), read).await;
        assert!(timed_out.is_err(), "the stalled read never finishes");
        assert_eq!(pool.reserved(), 0, "the cancelled read's charge is freed");
    }

    #[tokio::test]
    async fn parts_are_charged_until_each_is_dropped() {
        let pool = pool();
        let inner = InMemory::new();
        let path = Path::from("a");
        inner.put(&path, vec![7u8; 4000].into()).await.unwrap();
        let store = AccountedStore::new(Arc::new(inner), &pool, 1 << 20);
        let mut parts = store
            .get_ranges(&path, &[0..1000, 1000..3000])
            .await
            .unwrap();
        assert_eq!(pool.reserved(), 3000);
        let second = parts.pop().unwrap();
        drop(parts);
        assert_eq!(pool.reserved(), 2000, "the first part's share is freed");
        let copy = second.clone();
        drop(second);
        assert_eq!(pool.reserved(), 2000, "a clone keeps the charge");
        assert_eq!(copy.len(), 2000);
        drop(copy);
        assert_eq!(pool.reserved(), 0);

        let ranged = store
            .get_opts(
                &path,
                GetOptions {
                    range: Some((100..600).into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(ranged.len(), 500);
        assert_eq!(pool.reserved(), 500);
        drop(ranged);
        assert_eq!(pool.reserved(), 0);
    }

    #[tokio::test]
    async fn a_read_larger_than_the_server_is_refused_naming_the_limit() {
        let pool = pool();
        let store = AccountedStore::new(Arc::new(InMemory::new()), &pool, 1 << 20);
        let err = store
            .get_ranges(&Path::from("a"), &[0..(1 << 20), (1 << 20)..(2 << 20)])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("--memory-limit-mb"), "{err}");
        assert_eq!(pool.reserved(), 0);
    }
}
