//! The keys seen recently: a bounded set of key digests, the oldest
//! forgotten first, so a result is cached only when it is asked for again.

use std::collections::{HashSet, VecDeque};

/// Digests of recently seen keys, at most `capacity` of them.
#[derive(Debug, Default)]
pub(super) struct Seen {
    digests: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Seen {
    /// An empty set remembering at most `capacity` digests.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            digests: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Notes `digest`; true when it was seen before (and not forgotten).
    pub(super) fn sight(&mut self, digest: u64) -> bool {
        if self.digests.contains(&digest) {
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        while self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.digests.remove(&oldest);
            }
        }
        self.order.push_back(digest);
        self.digests.insert(digest);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_sighting_is_known_until_forgotten() {
        let mut seen = Seen::new(3);
        assert!(!seen.sight(1));
        assert!(seen.sight(1));
        for d in [2, 3, 4] {
            assert!(!seen.sight(d));
        }
        // 1 was the oldest of four: forgotten.
        assert!(!seen.sight(1));
        assert!(seen.sight(4));
        assert_eq!(seen.digests.len(), 3);
        assert_eq!(seen.order.len(), 3);
    }
}
