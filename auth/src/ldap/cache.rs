//! What this process last heard from the directory about each user (used
//! for a bounded time), and when each user last signed out here (tokens
//! issued before are refused). Both are per process and bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::identity::Identity;

/// Most users remembered in each map.
const MAX_USERS: usize = 100_000;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    identities: Mutex<HashMap<String, (Identity, Instant)>>,
    signed_out: Mutex<HashMap<String, i64>>,
}

impl SessionCache {
    /// `user`'s identity if it was looked up less than `ttl` before `now`.
    pub(crate) fn fresh(&self, user: &str, ttl: Duration, now: Instant) -> Option<Identity> {
        let identities = self.identities.lock().ok()?;
        let (identity, at) = identities.get(user)?;
        (now.saturating_duration_since(*at) < ttl).then(|| identity.clone())
    }

    /// Remembers `user`'s identity as looked up at `now`; when full, stale
    /// entries (older than `ttl`) are dropped first, then all.
    pub(crate) fn put(&self, user: &str, identity: Identity, ttl: Duration, now: Instant) {
        let Ok(mut identities) = self.identities.lock() else {
            return;
        };
        if identities.len() >= MAX_USERS && !identities.contains_key(user) {
            identities.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            if identities.len() >= MAX_USERS {
                identities.clear();
            }
        }
        identities.insert(user.to_string(), (identity, now));
    }

    /// Ends `user`'s sessions: tokens issued before `not_before_ms` (Unix
    /// epoch ms) are refused, and the identity is looked up afresh. When
    /// full, the oldest sign-out is forgotten.
    pub(crate) fn sign_out(&self, user: &str, not_before_ms: i64) {
        if let Ok(mut identities) = self.identities.lock() {
            identities.remove(user);
        }
        let Ok(mut signed_out) = self.signed_out.lock() else {
            return;
        };
        if signed_out.len() >= MAX_USERS && !signed_out.contains_key(user) {
            let oldest = signed_out
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                signed_out.remove(&oldest);
            }
        }
        signed_out.insert(user.to_string(), not_before_ms);
    }

    /// Whether a token of `user` issued at `issued_ms` was issued before
    /// the user last signed out here.
    pub(crate) fn signed_out_since(&self, user: &str, issued_ms: i64) -> bool {
        self.signed_out
            .lock()
            .ok()
            .and_then(|signed_out| signed_out.get(user).copied())
            .is_some_and(|not_before| issued_ms < not_before)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn analyst() -> Identity {
        Identity {
            roles: vec!["analyst".into()],
            attributes: BTreeMap::from([("department".into(), "sales".into())]),
        }
    }

    #[test]
    fn identities_are_used_for_the_ttl_only() {
        let cache = SessionCache::default();
        let ttl = Duration::from_secs(60);
        let t0 = Instant::now();
        assert_eq!(cache.fresh("alice", ttl, t0), None);
        cache.put("alice", analyst(), ttl, t0);
        assert_eq!(
            cache.fresh("alice", ttl, t0 + Duration::from_secs(59)),
            Some(analyst())
        );
        assert_eq!(cache.fresh("alice", ttl, t0 + ttl), None, "stale");
        assert_eq!(cache.fresh("bob", ttl, t0), None);
    }

    #[test]
    fn signing_out_ends_earlier_tokens_only() {
        let cache = SessionCache::default();
        let ttl = Duration::from_secs(60);
        let t0 = Instant::now();
        cache.put("alice", analyst(), ttl, t0);
        assert!(!cache.signed_out_since("alice", 1_000));
        cache.sign_out("alice", 2_000);
        assert!(cache.signed_out_since("alice", 1_999));
        assert!(!cache.signed_out_since("alice", 2_000), "a later login");
        assert!(!cache.signed_out_since("bob", 0));
        assert_eq!(cache.fresh("alice", ttl, t0), None, "looked up afresh");
    }
}
