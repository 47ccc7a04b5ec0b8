//! Bearer tokens revoked one by one (by their id, `jti`), checked on every
//! call. The catalog holds the revoked ids, for every replica; each process
//! remembers what it last heard of a token for [`RECHECK_AFTER`], so a
//! token's calls cost at most one catalog lookup in that time. A token
//! revoked through this process is refused here at once; on other replicas
//! within [`RECHECK_AFTER`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use laker_catalog::Catalog;

use crate::error::Result;

/// How long a token found not revoked is taken as such before the catalog
/// is asked again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(5);

/// Most tokens remembered; beyond, those due for a recheck are forgotten
/// first, then all (the catalog still knows).
const MAX_REMEMBERED: usize = 100_000;

/// What this process last heard of tokens: revoked or not, and when.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    known: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Revocations {
    /// Whether token `token_id` is revoked: remembered, or asked of
    /// `catalog`.
    pub(crate) async fn is_revoked(&self, catalog: &Catalog, token_id: &str) -> Result<bool> {
        if let Some(revoked) = self.remembered(token_id, Instant::now()) {
            return Ok(revoked);
        }
        let asked_at = Instant::now();
        let revoked = catalog.token_revoked(token_id).await?;
        self.remember(token_id, revoked, asked_at);
        Ok(revoked)
    }

    /// What was heard of `token_id`: a revocation for good, "not revoked"
    /// for [`RECHECK_AFTER`].
    fn remembered(&self, token_id: &str, now: Instant) -> Option<bool> {
        let known = self.known.lock().ok()?;
        let (revoked, at) = known.get(token_id)?;
        (*revoked || now.saturating_duration_since(*at) < RECHECK_AFTER).then_some(*revoked)
    }

    /// Remembers that `token_id` is (or is not) revoked, as of `at`. A
    /// revocation is never overwritten by an older "not revoked".
    pub(crate) fn remember(&self, token_id: &str, revoked: bool, at: Instant) {
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        if known.len() >= MAX_REMEMBERED && !known.contains_key(token_id) {
            known.retain(|_, (gone, heard)| {
                *gone || at.saturating_duration_since(*heard) < RECHECK_AFTER
            });
            if known.len() >= MAX_REMEMBERED {
                known.clear();
            }
        }
        let entry = known.entry(token_id.to_string()).or_insert((revoked, at));
        if !entry.0 {
            *entry = (revoked, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_stick_and_clean_answers_expire() {
        let r = Revocations::default();
        let t0 = Instant::now();
        assert_eq!(r.remembered("a", t0), None);
        r.remember("a", false, t0);
        assert_eq!(r.remembered("a", t0 + Duration::from_secs(4)), Some(false));
        assert_eq!(r.remembered("a", t0 + RECHECK_AFTER), None, "asked again");
        r.remember("b", true, t0);
        r.remember("b", false, t0 + Duration::from_secs(1));
        assert_eq!(
            r.remembered("b", t0 + Duration::from_secs(3600)),
            Some(true),
            "a revocation is not undone"
        );
    }
}
