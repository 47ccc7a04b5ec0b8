//! Recording a download's messages as they are sent, and sending a cached
//! result again.
//!
//! A recording copies each message's body into one buffer of its own: the
//! messages being sent share the scan's Arrow buffers (whole Parquet pages,
//! view arrays' shared data), which a cached entry must not keep alive
//! unaccounted. It stops (and keeps nothing) once the entry would outgrow
//! the cache's entry limit, and is offered to the cache only when the
//! stream ended without an error; a cancelled or failed download keeps
//! nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tonic::Status;

use super::{CachedResult, ResultCache, ResultKey, frame_bytes};
use crate::wire::Frame;
use crate::wire::body::FrameStream;

/// The recording of one result, for the cache once complete.
pub(crate) struct Recorder {
    cache: Arc<ResultCache>,
    key: ResultKey,
    frames: Vec<(Frame, u64)>,
    /// Bytes recorded (and reserved in the cache).
    bytes: usize,
    /// Nothing went over the limits yet.
    open: bool,
}

impl Recorder {
    /// Records `key`'s result for `cache` (which registered the recording).
    pub(super) fn new(cache: Arc<ResultCache>, key: ResultKey) -> Self {
        Self {
            cache,
            key,
            frames: Vec::new(),
            bytes: 0,
            open: true,
        }
    }

    /// Records `frame`, sent with `rows` rows sent so far in all.
    pub(super) fn record(&mut self, frame: &Frame, rows: u64) {
        if !self.open {
            return;
        }
        let n = frame_bytes(frame);
        if self.bytes + n > self.cache.entry_limit() || !self.cache.reserve(n) {
            self.abandon();
            return;
        }
        self.bytes += n;
        self.frames.push((own_copy(frame), rows));
    }

    /// Gives up: the result will not be cached.
    fn abandon(&mut self) {
        self.open = false;
        self.frames = Vec::new();
        self.cache.release(std::mem::take(&mut self.bytes));
    }

    /// Offers the complete result to the cache.
    pub(super) fn finish(mut self) {
        if self.open {
            let frames = std::mem::take(&mut self.frames);
            self.cache.insert(self.key, CachedResult::new(frames));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.cache.release(std::mem::take(&mut self.bytes));
        self.cache.recorded(&self.key);
    }
}

/// `frame` with its body copied into one buffer of its own.
fn own_copy(frame: &Frame) -> Frame {
    let body = if frame.body.is_empty() {
        Vec::new()
    } else {
        let mut joined = BytesMut::with_capacity(frame.body_len());
        for piece in &frame.body {
            joined.extend_from_slice(piece);
        }
        vec![joined.freeze()]
    };
    Frame {
        header: Bytes::copy_from_slice(&frame.header),
        body,
    }
}

/// `frames` as they are, recorded by `recorder` as they pass; `rows` is
/// the count of rows sent that the frames' producer keeps.
pub(crate) fn recording(
    frames: FrameStream,
    rows: Arc<AtomicU64>,
    recorder: Recorder,
) -> FrameStream {
    Box::pin(Tee {
        frames,
        rows,
        recorder: Some(recorder),
    })
}

struct Tee {
    frames: FrameStream,
    rows: Arc<AtomicU64>,
    recorder: Option<Recorder>,
}

impl Stream for Tee {
    type Item = Result<Frame, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.frames.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let rows = self.rows.load(Ordering::Relaxed);
                if let Some(recorder) = self.recorder.as_mut() {
                    recorder.record(frame, rows);
                }
            }
            // A failed stream is not a result.
            Poll::Ready(Some(Err(_))) => self.recorder = None,
            Poll::Ready(None) => {
                if let Some(recorder) = self.recorder.take() {
                    recorder.finish();
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

/// The messages of a cached result, setting `rows` to the rows sent with
/// each, as the stream that was recorded counted them.
pub(crate) fn replay(result: Arc<CachedResult>, rows: Arc<AtomicU64>) -> FrameStream {
    let messages = result.frames().len();
    let frames = (0..messages).map(move |i| {
        let (frame, sent) = &result.frames()[i];
        rows.store(*sent, Ordering::Relaxed);
        Ok::<_, Status>(frame.clone())
    });
    Box::pin(futures::stream::iter(frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Lookup;
    use crate::metrics::ResultCacheMetrics;
    use futures::TryStreamExt;

    fn frame(body: &[&str]) -> Frame {
        Frame {
            header: Bytes::from_static(b"head"),
            body: body
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
        }
    }

    /// A stream of `frames`, counting `rows` up as each passes, ending
    /// with `end` (an error, or nothing).
    fn source(frames: Vec<(Frame, u64)>, rows: Arc<AtomicU64>, end: Option<Status>) -> FrameStream {
        let sent = frames.into_iter().map(move |(frame, n)| {
            rows.store(n, Ordering::Relaxed);
            Ok(frame)
        });
        Box::pin(futures::stream::iter(sent.chain(end.map(Err))))
    }

    fn key() -> ResultKey {
        ResultKey([7u8; 32])
    }

    #[tokio::test]
    async fn a_complete_stream_is_cached_and_replayed_with_its_row_counts() {
        let cache = Arc::new(ResultCache::new(1 << 20, ResultCacheMetrics::default()));
        let frames = vec![
            (frame(&[]), 0),
            (frame(&["abc", "defg"]), 5),
            (frame(&["hi"]), 7),
        ];
        assert!(matches!(cache.lookup(key()), Lookup::Pass));
        let Lookup::Record(recorder) = cache.lookup(key()) else {
            panic!("records")
        };
        let rows = Arc::new(AtomicU64::new(0));
        let sent: Vec<Frame> = recording(
            source(frames.clone(), Arc::clone(&rows), None),
            Arc::clone(&rows),
            recorder,
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(sent.len(), 3);
        let Lookup::Hit(hit) = cache.lookup(key()) else {
            panic!("cached")
        };
        assert_eq!(hit.rows(), 7);
        // Bodies joined into one piece each, the same bytes.
        assert_eq!(hit.frames()[1].0.body, vec![Bytes::from_static(b"abcdefg")]);
        let replayed = Arc::new(AtomicU64::new(0));
        let mut stream = replay(hit, Arc::clone(&replayed));
        let mut counts = Vec::new();
        while let Some(frame) = stream.next().await {
            let frame = frame.unwrap();
            counts.push((frame.body.concat(), replayed.load(Ordering::Relaxed)));
        }
        let expected: Vec<(Vec<u8>, u64)> =
            frames.iter().map(|(f, n)| (f.body.concat(), *n)).collect();
        assert_eq!(counts, expected);
    }

    #[tokio::test]
    async fn a_failed_or_dropped_stream_is_not_cached() {
        let cache = Arc::new(ResultCache::new(1 << 20, ResultCacheMetrics::default()));
        cache.lookup(key());
        for failed in [true, false] {
            let Lookup::Record(recorder) = cache.lookup(key()) else {
                panic!("records")
            };
            let rows = Arc::new(AtomicU64::new(0));
            let end = failed.then(|| Status::internal("storage failed"));
            let frames = vec![(frame(&["abc"]), 1), (frame(&["def"]), 2)];
            let mut stream = recording(
                source(frames, Arc::clone(&rows), end),
                Arc::clone(&rows),
                recorder,
            );
            assert!(stream.next().await.unwrap().is_ok());
            if failed {
                assert!(stream.next().await.unwrap().is_ok());
                assert!(stream.next().await.unwrap().is_err());
            }
            // Dropped: the client went away, or after the error.
            drop(stream);
            assert_eq!(cache.bytes(), 0);
        }
        assert_eq!(cache.metrics.insertions(), 0);
    }
}
