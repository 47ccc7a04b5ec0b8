//! Brute-force protection for Handshake: failed logins are counted per user
//! name (as the caller normalised it, see [`crate::authenticate::login_name`])
//! and per source address in fixed windows; once a key reaches its
//! limit, further attempts are refused — before any password is hashed —
//! until the window ends.

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
}

/// A refusal: which limit was hit and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// `user 'name'` or `address 1.2.3.4`.
    pub what: String,
    /// Seconds until the window ends (at least 1).
    pub retry_after_secs: u64,
}

/// Counts failed logins.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses the attempt if the user or the address is over its limit.
    pub fn check(&self, user: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        let over = |key: &Key, limit: u32| {
            windows.get(key).and_then(|w| {
                let elapsed = now.saturating_duration_since(w.started);
                (w.failures >= limit && elapsed < self.limits.window)
                    .then(|| (self.limits.window - elapsed).as_secs_f64().ceil().max(1.0) as u64)
            })
        };
        let user_key = Key::User(user.to_string());
        if let Some(retry) = over(&user_key, self.limits.per_user) {
            return Err(Limited {
                what: format!("user '{user}'"),
                retry_after_secs: retry,
            });
        }
        if let Some(addr) = address
            && let Some(retry) = over(&Key::Address(addr), self.limits.per_address)
        {
            return Err(Limited {
                what: format!("address {addr}"),
                retry_after_secs: retry,
            });
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failed(&self, user: &str, address: Option<IpAddr>, now: Instant) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= MAX_TRACKED {
            let window = self.limits.window;
            windows.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if windows.len() >= MAX_TRACKED
                && let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(k, _)| k.clone())
            {
                windows.remove(&oldest);
            }
        }
        let keys = std::iter::once(Key::User(user.to_string())).chain(address.map(Key::Address));
        for key in keys {
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.saturating_duration_since(w.started) >= self.limits.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// Records a successful login: the user's count starts over (the
    /// address's does not, so one good account cannot launder guesses).
    pub fn succeeded(&self, user: &str) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(&Key::User(user.to_string()));
        }
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
            assert!(l.check("alice", addr, t0).is_ok());
            l.failed("alice", addr, t0);
        }
        let refused = l
            .check("alice", None, t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(refused.what, "user 'alice'");
        assert_eq!(refused.retry_after_secs, 40);
        assert!(l.check("bob", addr, t0).is_ok(), "other users unaffected");
        assert!(l.check("alice", addr, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn address_limit_spans_users_and_success_resets_only_the_user() {
        let l = limiter();
        let t0 = Instant::now();
        let addr: Option<IpAddr> = Some([10, 0, 0, 2].into());
        for user in ["a", "b", "c", "d", "e"] {
            l.failed(user, addr, t0);
        }
        let refused = l.check("f", addr, t0).unwrap_err();
        assert_eq!(refused.what, "address 10.0.0.2");
        assert!(l.check("f", Some([10, 0, 0, 3].into()), t0).is_ok());
        for _ in 0..3 {
            l.failed("g", None, t0);
        }
        assert!(l.check("g", None, t0).is_err());
        l.succeeded("g");
        assert!(l.check("g", None, t0).is_ok());
    }
}
