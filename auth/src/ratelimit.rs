//! Brute-force protection for Handshake: failed logins are counted per user
//! name (as the caller normalised it, see [`crate::authenticate::login_name`])
//! and per source address in fixed windows; once a key reaches its
//! limit, further attempts are refused — before any password is hashed —
//! until the window ends. Attempts still being checked count too, so a
//! burst of simultaneous logins cannot slip past the limit.
//!
//! Failures counted elsewhere (by every replica, in the catalog: see
//! [`crate::shared_limits`]) can be handed to [`LoginLimiter::begin_with`]:
//! they replace this process's count of a key's window unless that count
//! changed after they were read (a stale read never lowers it), and the
//! attempts in progress here still count on top.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys tracked; beyond this, expired windows are dropped first and
/// then the oldest.
const MAX_TRACKED: usize = 100_000;

/// Limits on failed logins.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures allowed per user name in one window.
    pub per_user: u32,
    /// Failures allowed per source address in one window.
    pub per_address: u32,
    /// Length of a window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 20,
            window: Duration::from_secs(300),
        }
    }
}

/// What is being limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
    /// Attempts admitted and not yet settled.
    pending: u32,
    /// When `failures` last changed here (a failure counted, a success);
    /// `None`: never.
    changed: Option<Instant>,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            failures: 0,
            pending: 0,
            changed: None,
        }
    }
}

/// Why an attempt is refused: what reached its limit, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// `user 'alice'` or `address 10.0.0.1`.
    pub what: String,
    /// Seconds until the window ends.
    pub retry_after_secs: u64,
    /// Not refused yet: as many attempts are in progress as failures may
    /// still be counted; try again once one of them settles.
    pub busy: bool,
}

/// Failures of one key counted elsewhere: how many, in a window that
/// began `age` ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Failures in the window.
    pub failures: u32,
    /// How long ago the window began.
    pub age: Duration,
}

impl Tally {
    /// No failures (in no window).
    pub const NONE: Self = Self {
        failures: 0,
        age: Duration::ZERO,
    };
}

/// What is known elsewhere of an attempt's keys, as read at `read_at`;
/// `None`: nothing, this process's own count applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The user name's failures.
    pub user: Option<Tally>,
    /// The source address's failures.
    pub address: Option<Tally>,
    /// When the read began: it shows every failure this process counted
    /// before then (they are recorded elsewhere before they are counted
    /// here), and perhaps not those after.
    pub read_at: Instant,
}

impl Recorded {
    /// Nothing known elsewhere.
    pub fn nothing(now: Instant) -> Self {
        Self {
            user: None,
            address: None,
            read_at: now,
        }
    }

    /// The tally of `key`, if it is at least as recent as this process's
    /// count of it.
    fn of(&self, key: &Key, local: Option<&Window>) -> Option<Tally> {
        let tally = match key {
            Key::User(_) => self.user,
            Key::Address(_) => self.address,
        }?;
        match local {
            Some(w) if w.changed.is_some_and(|at| at > self.read_at) => None,
            _ => Some(tally),
        }
    }
}

/// Counts failed logins; see the module documentation.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

/// One login attempt admitted by [`LoginLimiter::begin`]; it counts
/// against the limits until settled as failed or succeeded (dropped
/// unsettled: it counts no more, as a failure or otherwise).
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: Vec<Key>,
    now: Instant,
    settled: bool,
}

impl Attempt<'_> {
    /// The credentials were wrong.
    pub fn failed(mut self) {
        self.settle(Some(true));
    }

    /// The credentials were right: the user's failures are forgotten.
    pub fn succeeded(mut self) {
        self.settle(Some(false));
    }

    fn settle(&mut self, failed: Option<bool>) {
        self.settled = true;
        let Ok(mut windows) = self.limiter.windows.lock() else {
            return;
        };
        for key in &self.keys {
            let Some(w) = windows.get_mut(key) else {
                continue;
            };
            w.pending = w.pending.saturating_sub(1);
            match failed {
                Some(true) => {
                    if self.now.saturating_duration_since(w.started) >= self.limiter.limits.window {
                        w.started = self.now;
                        w.failures = 0;
                    }
                    w.failures = w.failures.saturating_add(1);
                    w.changed = Some(Instant::now());
                }
                Some(false) if matches!(key, Key::User(_)) => {
                    w.failures = 0;
                    w.changed = Some(Instant::now());
                }
                _ => {}
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(None);
        }
    }
}

impl LoginLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The limits applied.
    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Admits an attempt by `user` from `address`, unless either has
    /// reached its limit with failures and attempts still in progress.
    pub fn begin(
        &self,
        user: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Limited> {
        self.begin_with(user, address, now, &Recorded::nothing(now))
    }

    /// [`Self::begin`], with the failures `recorded` elsewhere replacing
    /// this process's count of the keys they are given for (unless it
    /// changed since they were read).
    pub fn begin_with(
        &self,
        user: &str,
        address: Option<IpAddr>,
        now: Instant,
        recorded: &Recorded,
    ) -> Result<Attempt<'_>, Limited> {
        let keys: Vec<Key> = std::iter::once(Key::User(user.to_string()))
            .chain(address.map(Key::Address))
            .collect();
        let attempt = |keys| Attempt {
            limiter: self,
            keys,
            now,
            settled: true,
        };
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(attempt(Vec::new()));
        };
        let window = self.limits.window;
        if windows.len() >= MAX_TRACKED {
            windows
                .retain(|_, w| w.pending > 0 || now.saturating_duration_since(w.started) < window);
        }
        for key in &keys {
            let limit = match key {
                Key::User(_) => self.limits.per_user,
                Key::Address(_) => self.limits.per_address,
            };
            let local = windows.get(key).copied();
            let pending = local.map_or(0, |w| w.pending);
            let counted = match (recorded.of(key, local.as_ref()), local) {
                (Some(tally), _) => Some((tally.failures, tally.age)),
                (None, Some(w)) => Some((w.failures, now.saturating_duration_since(w.started))),
                (None, None) => None,
            };
            if let Some((failures, elapsed)) = counted {
                let failures = if elapsed < window { failures } else { 0 };
                if failures.saturating_add(pending) >= limit {
                    let busy = failures < limit;
                    let retry = if elapsed < window {
                        (window - elapsed).as_secs_f64().ceil().max(1.0) as u64
                    } else {
                        1
                    };
                    return Err(Limited {
                        what: match key {
                            Key::User(u) => format!("user '{u}'"),
                            Key::Address(a) => format!("address {a}"),
                        },
                        retry_after_secs: retry,
                        busy,
                    });
                }
            }
        }
        if windows.len() >= MAX_TRACKED {
            // Still full of live windows: admit without tracking.
            return Ok(attempt(Vec::new()));
        }
        for key in &keys {
            let tally = recorded.of(key, windows.get(key));
            let w = windows
                .entry(key.clone())
                .or_insert_with(|| Window::new(now));
            if let Some(tally) = tally {
                w.started = now.checked_sub(tally.age).unwrap_or(now);
                w.failures = tally.failures;
            }
            if now.saturating_duration_since(w.started) >= window {
                w.started = now;
                w.failures = 0;
            }
            w.pending = w.pending.saturating_add(1);
        }
        let mut admitted = attempt(keys);
        admitted.settled = false;
        Ok(admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_user: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn user_limit_then_window_end() {
        let l = limiter();
        let t0 = Instant::now();
        let addr: Option<IpAddr> = Some([10, 0, 0, 1].into());
        for _ in 0..3 {
            l.begin("alice", addr, t0).unwrap().failed();
        }
        let refused = l
            .begin("alice", None, t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(refused.what, "user 'alice'");
        assert!(!refused.busy);
        assert_eq!(refused.retry_after_secs, 40);
        assert!(l.begin("bob", addr, t0).is_ok(), "other users unaffected");
        assert!(l.begin("alice", addr, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn address_limit_spans_users_and_success_resets_only_the_user() {
        let l = limiter();
        let t0 = Instant::now();
        let addr: Option<IpAddr> = Some([10, 0, 0, 2].into());
        for user in ["a", "b", "c", "d", "e"] {
            l.begin(user, addr, t0).unwrap().failed();
        }
        let refused = l.begin("f", addr, t0).unwrap_err();
        assert_eq!(refused.what, "address 10.0.0.2");
        assert!(l.begin("f", Some([10, 0, 0, 3].into()), t0).is_ok());
        for _ in 0..3 {
            l.begin("g", None, t0).unwrap().failed();
        }
        assert!(l.begin("g", None, t0).is_err());
        let l = limiter();
        l.begin("g", None, t0).unwrap().failed();
        l.begin("g", None, t0).unwrap().succeeded();
        l.begin("g", None, t0).unwrap().failed();
        l.begin("g", None, t0).unwrap().failed();
        assert!(
            l.begin("g", None, t0).is_ok(),
            "the success forgot the first failure"
        );
    }

    #[test]
    fn failures_recorded_elsewhere_replace_the_local_count_unless_stale() {
        let l = limiter();
        let t0 = Instant::now();
        let addr: Option<IpAddr> = Some([10, 0, 0, 9].into());
        // Read now: `failures` in a window begun `secs` before t0.
        let read = |failures, secs| Recorded {
            user: Some(Tally {
                failures,
                age: Duration::from_secs(secs),
            }),
            address: None,
            read_at: Instant::now(),
        };
        // Three failures on other replicas, in a window begun 20 s ago.
        let refused = l.begin_with("alice", addr, t0, &read(3, 20)).unwrap_err();
        assert_eq!(refused.what, "user 'alice'");
        assert!(!refused.busy);
        assert_eq!(refused.retry_after_secs, 40);
        // Two elsewhere and one in progress here reach the limit.
        let held = l.begin_with("alice", addr, t0, &read(2, 1)).unwrap();
        assert!(
            l.begin_with("alice", addr, t0, &read(2, 1))
                .unwrap_err()
                .busy
        );
        let stale = read(0, 0);
        held.failed();
        // The local count went on from the two recorded; a read begun
        // before that failure was counted does not lower it.
        assert!(!l.begin("alice", addr, t0).unwrap_err().busy);
        assert!(!l.begin_with("alice", addr, t0, &stale).unwrap_err().busy);
        // Cleared elsewhere since (a login succeeded on another replica).
        assert!(l.begin_with("alice", addr, t0, &read(0, 0)).is_ok());
    }

    #[test]
    fn attempts_in_progress_count_against_the_limit() {
        // Found attacking the HTTP API: 600 simultaneous wrong passwords all
        // passed the check before the first failure was counted.
        let l = limiter();
        let t0 = Instant::now();
        let held: Vec<_> = (0..3)
            .map(|_| l.begin("alice", None, t0).unwrap())
            .collect();
        let busy = l.begin("alice", None, t0).unwrap_err();
        assert!(busy.busy, "{busy:?}");
        drop(held);
        let a = l.begin("alice", None, t0).unwrap();
        drop(a);
        assert!(
            l.begin("alice", None, t0).is_ok(),
            "an attempt dropped unsettled counts no more"
        );
    }
}
