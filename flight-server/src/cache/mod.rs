//! A cache of encoded download results, so popular DoGet downloads are
//! sent again without reading and encoding them again.
//!
//! An entry is one partition's complete stream of Flight data messages
//! (the schema message first), keyed on everything that decides those bytes
//! ([`key`]: the dataset and its revision, the Delta version, the compiled
//! plan with the caller's row filters and masks, every file it reads, the
//! partition, the compression). A change to any of them is a new key; the
//! old entry is no longer found and ages out.
//!
//! - Bounded in bytes (`--result-cache-mb`): the least recently used entries
//!   are evicted to make room, and an entry larger than a quarter of the
//!   cache is never kept.
//! - Popular results only: a key is remembered (among the last
//!   [`SEEN_KEYS`] seen) the first time, and its result recorded the second
//!   time ([`tee`]), so one-off downloads never evict anything.
//! - The cache's memory is its own, besides the downloads' memory budget
//!   (`--memory-limit-mb`); recordings in flight hold at most as much again.
//!   An entry evicted while a download still streams it is freed when that
//!   download ends.
//!
//! Authorisation and planning always come first (`service/do_get.rs`): the
//! cache only stands in for executing and encoding a plan the caller was
//! just allowed to run.

mod key;
mod seen;
mod tee;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) use key::{KeyParts, ResultKey, result_key};
pub(crate) use tee::{Recorder, recording, replay};

use crate::metrics::ResultCacheMetrics;
use crate::wire::Frame;
use seen::Seen;

/// Distinct keys remembered for admission on the second sighting.
pub const SEEN_KEYS: usize = 4096;

/// Bytes counted for each cached message besides its header and body: its
/// place in the entry and the bookkeeping of its buffers.
const FRAME_OVERHEAD: usize = 96;

/// One partition's complete encoded result.
#[derive(Debug)]
pub(crate) struct CachedResult {
    /// The messages in order, each with the rows sent up to and with it.
    frames: Vec<(Frame, u64)>,
    /// What the entry counts against the cache's bound.
    bytes: usize,
}

impl CachedResult {
    /// A result of `frames`, each with the rows sent up to and with it.
    pub(crate) fn new(frames: Vec<(Frame, u64)>) -> Self {
        let bytes = frames.iter().map(|(frame, _)| frame_bytes(frame)).sum();
        Self { frames, bytes }
    }

    /// The messages, each with the rows sent up to and with it.
    pub(crate) fn frames(&self) -> &[(Frame, u64)] {
        &self.frames
    }

    /// What the entry counts against the cache's bound.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Rows of the result.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> u64 {
        self.frames.last().map_or(0, |(_, rows)| *rows)
    }
}

/// What one message counts against the cache's bound.
pub(crate) fn frame_bytes(frame: &Frame) -> usize {
    frame.header.len() + frame.body_len() + FRAME_OVERHEAD
}

/// The cache's answer for one download.
pub(crate) enum Lookup {
    /// The result, to send as it is.
    Hit(Arc<CachedResult>),
    /// Not cached, but asked for before: record it as it is sent.
    Record(Recorder),
    /// Not cached: send it without recording.
    Pass,
}

/// The cache of encoded results; thread-safe, never locked across an await.
pub struct ResultCache {
    capacity: usize,
    state: Mutex<State>,
    /// Bytes held by recordings in flight (at most `capacity` together).
    recording_bytes: AtomicUsize,
    metrics: ResultCacheMetrics,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("capacity", &self.capacity)
            .field("bytes", &self.bytes())
            .finish_non_exhaustive()
    }
}

/// The entries, their use order and the admission state.
#[derive(Default)]
struct State {
    entries: HashMap<ResultKey, Slot>,
    /// Keys by last use (a tick), oldest first.
    lru: BTreeMap<u64, ResultKey>,
    tick: u64,
    bytes: usize,
    seen: Seen,
    /// Keys being recorded now (one recording per key at a time).
    recording: HashSet<ResultKey>,
}

struct Slot {
    result: Arc<CachedResult>,
    used: u64,
}

impl ResultCache {
    /// A cache of at most `capacity` bytes (0: off), counting into `metrics`.
    pub fn new(capacity: usize, metrics: ResultCacheMetrics) -> Self {
        Self {
            capacity,
            state: Mutex::new(State {
                seen: Seen::new(SEEN_KEYS),
                ..State::default()
            }),
            recording_bytes: AtomicUsize::new(0),
            metrics,
        }
    }

    /// Whether results are cached at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The bound, in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest entry kept: a quarter of the cache.
    pub fn entry_limit(&self) -> usize {
        self.capacity / 4
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached result of `key`; else whether to record it (the second
    /// time it is asked for, if nobody is recording it already).
    pub(crate) fn lookup(self: &Arc<Self>, key: ResultKey) -> Lookup {
        if !self.enabled() {
            return Lookup::Pass;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        state.tick += 1;
        let tick = state.tick;
        if let Some(slot) = state.entries.get_mut(&key) {
            let last = std::mem::replace(&mut slot.used, tick);
            let result = Arc::clone(&slot.result);
            state.lru.remove(&last);
            state.lru.insert(tick, key);
            self.metrics.hits.inc();
            return Lookup::Hit(result);
        }
        self.metrics.misses.inc();
        let again = state.seen.sight(key.digest());
        if !again || !state.recording.insert(key) {
            return Lookup::Pass;
        }
        drop(guard);
        Lookup::Record(Recorder::new(Arc::clone(self), key))
    }

    /// Stores `result` under `key`, evicting the least recently used
    /// entries to make room; refuses one larger than [`Self::entry_limit`].
    fn insert(&self, key: ResultKey, result: CachedResult) -> bool {
        let bytes = result.bytes();
        if !self.enabled() || bytes > self.entry_limit() {
            return false;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.entries.contains_key(&key) {
            return false;
        }
        while state.bytes + bytes > self.capacity {
            let Some((_, oldest)) = state.lru.pop_first() else {
                break;
            };
            if let Some(slot) = state.entries.remove(&oldest) {
                state.bytes -= slot.result.bytes();
                self.metrics.evictions.inc();
            }
        }
        state.tick += 1;
        let used = state.tick;
        state.lru.insert(used, key);
        let result = Arc::new(result);
        state.entries.insert(key, Slot { result, used });
        state.bytes += bytes;
        self.metrics.insertions.inc();
        self.metrics
            .bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
        true
    }

    /// Reserves `n` bytes for a recording in flight, if recordings hold
    /// less than the cache's capacity with them.
    fn reserve(&self, n: usize) -> bool {
        let before = self.recording_bytes.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.capacity {
            self.recording_bytes.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Returns what a recording reserved.
    fn release(&self, n: usize) {
        self.recording_bytes.fetch_sub(n, Ordering::Relaxed);
    }

    /// `key` is no longer being recorded.
    fn recorded(&self, key: &ResultKey) {
        self.lock().recording.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(n: u64) -> ResultKey {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes[8] = 0xa5;
        ResultKey(bytes)
    }

    /// A message whose header and body add up to `n` bytes (at least 8).
    fn frame(n: usize) -> Frame {
        Frame {
            header: Bytes::from(vec![1u8; 8]),
            body: vec![Bytes::from(vec![2u8; n.saturating_sub(8)])],
        }
    }

    /// A result that counts exactly `n` bytes (at least one frame's overhead plus 8).
    fn result(n: usize) -> CachedResult {
        let made = CachedResult::new(vec![(frame(n - FRAME_OVERHEAD), 3)]);
        assert_eq!(made.bytes(), n);
        made
    }

    fn cache(capacity: usize) -> Arc<ResultCache> {
        Arc::new(ResultCache::new(capacity, ResultCacheMetrics::default()))
    }

    fn is_hit(cache: &Arc<ResultCache>, k: u64) -> bool {
        matches!(cache.lookup(key(k)), Lookup::Hit(_))
    }

    #[test]
    fn the_bound_is_never_exceeded() {
        let cache = cache(100_000);
        // Sizes from tiny to over the entry limit, in a fixed pseudo-random order.
        let mut x: u64 = 12345;
        let mut stored = 0;
        for i in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let size = 200 + (x >> 33) as usize % 30_000;
            if cache.insert(key(i), result(size)) {
                stored += 1;
                assert!(size <= cache.entry_limit());
            } else {
                assert!(size > cache.entry_limit(), "{size} refused");
            }
            let held = cache.bytes();
            assert!(held <= cache.capacity(), "{held} bytes held");
            let state = cache.lock();
            let counted: usize = state.entries.values().map(|s| s.result.bytes()).sum();
            assert_eq!(counted, held);
            assert_eq!(state.lru.len(), state.entries.len());
            drop(state);
            assert_eq!(cache.metrics.bytes(), held as u64);
        }
        let m = &cache.metrics;
        assert_eq!(m.insertions(), stored);
        assert!(m.evictions() > 0 && m.evictions() < stored);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_first() {
        let cache = cache(4_000);
        for k in 1..=4 {
            assert!(cache.insert(key(k), result(1_000)));
        }
        // 1 is used again, so 2 is now the oldest.
        assert!(is_hit(&cache, 1));
        assert!(cache.insert(key(5), result(1_000)));
        assert!(!is_hit(&cache, 2));
        for k in [1, 3, 4, 5] {
            assert!(is_hit(&cache, k), "{k} kept");
        }
        // Each new entry evicts the oldest: now 1, then 3.
        assert!(cache.insert(key(6), result(1_000)));
        assert!(cache.insert(key(7), result(1_000)));
        assert_eq!(cache.metrics.evictions(), 3);
        assert!(!is_hit(&cache, 1) && !is_hit(&cache, 3));
        assert_eq!(cache.bytes(), 4_000);
    }

    #[test]
    fn oversized_results_are_refused() {
        let cache = cache(4_000);
        assert!(!cache.insert(key(1), result(1_001)));
        assert!(cache.insert(key(2), result(1_000)));
        assert_eq!(cache.bytes(), 1_000);
        assert_eq!(cache.metrics.insertions(), 1);
        // Off: nothing is kept or recorded.
        let off = self::cache(0);
        assert!(!off.insert(key(1), result(200)));
        for _ in 0..3 {
            assert!(matches!(off.lookup(key(1)), Lookup::Pass));
        }
        assert_eq!(off.metrics.misses(), 0);
    }

    fn record(recorder: &mut Recorder, frames: &[(Frame, u64)]) {
        for (frame, rows) in frames {
            recorder.record(frame, *rows);
        }
    }

    #[test]
    fn a_result_is_kept_on_its_second_sighting() {
        let cache = cache(100_000);
        let frames = vec![(frame(300), 0), (frame(2_000), 10), (frame(1_000), 15)];
        assert!(
            matches!(cache.lookup(key(1)), Lookup::Pass),
            "first sighting"
        );
        let Lookup::Record(mut recorder) = cache.lookup(key(1)) else {
            panic!("second sighting records")
        };
        // Someone else asking meanwhile does not record it too.
        assert!(matches!(cache.lookup(key(1)), Lookup::Pass));
        record(&mut recorder, &frames);
        recorder.finish();
        let Lookup::Hit(hit) = cache.lookup(key(1)) else {
            panic!("third: cached")
        };
        assert_eq!(hit.rows(), 15);
        let sent: Vec<(Bytes, Vec<u8>, u64)> = hit
            .frames()
            .iter()
            .map(|(f, rows)| (f.header.clone(), f.body.concat(), *rows))
            .collect();
        let asked: Vec<(Bytes, Vec<u8>, u64)> = frames
            .iter()
            .map(|(f, rows)| (f.header.clone(), f.body.concat(), *rows))
            .collect();
        assert_eq!(sent, asked);
        let m = &cache.metrics;
        assert_eq!((m.hits(), m.misses(), m.insertions()), (1, 3, 1));
        assert_eq!(cache.recording_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_unfinished_or_oversized_recording_is_not_kept() {
        let cache = cache(8_000);
        cache.lookup(key(1));
        let Lookup::Record(mut recorder) = cache.lookup(key(1)) else {
            panic!("records")
        };
        record(&mut recorder, &[(frame(500), 0)]);
        // The download failed or was cancelled.
        drop(recorder);
        assert!(!is_hit(&cache, 1));
        // Seen before: the next download records it again.
        let Lookup::Record(mut recorder) = cache.lookup(key(1)) else {
            panic!("records again")
        };
        // More than a quarter of the cache: abandoned.
        record(&mut recorder, &[(frame(1_000), 0), (frame(1_500), 4)]);
        recorder.finish();
        assert!(!is_hit(&cache, 1));
        assert_eq!(cache.bytes(), 0);
        assert_eq!(cache.recording_bytes.load(Ordering::Relaxed), 0);
        assert!(cache.lock().recording.is_empty());
    }

    #[test]
    fn recordings_in_flight_hold_at_most_the_capacity() {
        let cache = cache(8_000);
        let mut recorders = Vec::new();
        for k in 0..6 {
            cache.lookup(key(k));
            let Lookup::Record(mut recorder) = cache.lookup(key(k)) else {
                panic!("records")
            };
            record(&mut recorder, &[(frame(1_800), 0)]);
            recorders.push(recorder);
        }
        assert!(cache.recording_bytes.load(Ordering::Relaxed) <= 8_000);
        for recorder in recorders {
            recorder.finish();
        }
        // The first four fit (4 × 1,896 bytes); the others were abandoned.
        assert_eq!(cache.metrics.insertions(), 4);
        assert!(cache.bytes() <= 8_000);
        assert_eq!(cache.recording_bytes.load(Ordering::Relaxed), 0);
    }
}
