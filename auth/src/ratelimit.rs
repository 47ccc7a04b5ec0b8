//! Brute-force protection for Handshake: failed logins are counted per user
//! name (as the caller normalised it, see [`crate::authenticate::login_name`])
//! and per source address in fixed windows; once a key reaches its
//! limit, further attempts are refused — before any password is hashed —
//! until the window ends. Attempts still being checked count too, so a
//! burst of simultaneous logins cannot slip past the limit.

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
                }
                Some(false) if matches!(key, Key::User(_)) => w.failures = 0,
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

    /// Admits an attempt by `user` from `address`, unless either has
    /// reached its limit with failures and attempts still in progress.
    pub fn begin(
        &self,
        user: &str,
        address: Option<IpAddr>,
        now: Instant,
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
            if let Some(w) = windows.get(key) {
                let elapsed = now.saturating_duration_since(w.started);
                let failures = if elapsed < window { w.failures } else { 0 };
                if failures.saturating_add(w.pending) >= limit {
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
            let w = windows.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
                pending: 0,
            });
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
