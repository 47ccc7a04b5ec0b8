//! Failed logins counted in the catalog, so that every replica on one
//! catalog enforces the same limits: before its password is checked, a
//! login reads its user's and its address's failures there (and is refused
//! if either reached its limit); a failure is counted there, a success
//! clears the user's count. The server turns this on when its catalog is
//! PostgreSQL, the catalog replicas share. Attempts in progress are still
//! counted per process ([`crate::ratelimit`]).
//!
//! User names are stored as a SHA-256 digest, never as typed (people type
//! passwords into the user field). Every catalog statement is given
//! [`CATALOG_WAIT`]. A login whose failures cannot be read (the catalog is
//! down or that slow) is refused as unavailable — it fails closed, so
//! slowing the catalog down buys no unlimited guesses (and without its
//! catalog the server can check few credentials anyway). A failure that
//! cannot be counted in the catalog is logged; this process still counts
//! it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use laker_catalog::Catalog;
use sha2::Digest;

use crate::error::{AuthError, Result};
use crate::ratelimit::{Recorded, Tally};
use crate::token::unix_now_ms;

/// Longest one catalog statement is waited for.
pub const CATALOG_WAIT: Duration = Duration::from_secs(2);

/// Ended windows are deleted at most this often by one process (ms).
const PRUNE_EVERY_MS: i64 = 60_000;

/// Failed logins in the catalog; see the module documentation.
#[derive(Debug)]
pub struct SharedFailures {
    catalog: Catalog,
    /// When this process last deleted ended windows (Unix epoch ms).
    pruned_at: AtomicI64,
}

impl SharedFailures {
    /// Failures counted in `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            pruned_at: AtomicI64::new(0),
        }
    }

    /// The failures of `subject` and `address` in windows (of length
    /// `window`) still running. `Unavailable` when the catalog does not
    /// answer.
    pub async fn recorded(
        &self,
        subject: &str,
        address: Option<IpAddr>,
        window: Duration,
    ) -> Result<Recorded> {
        let read_at = Instant::now();
        let now = unix_now_ms();
        let since = now.saturating_sub(millis(window));
        let user = self.tally(&user_key(subject), since, now).await?;
        let address = match address {
            Some(a) => Some(self.tally(&address_key(a), since, now).await?),
            None => None,
        };
        Ok(Recorded {
            user: Some(user),
            address,
            read_at,
        })
    }

    async fn tally(&self, subject: &str, since: i64, now: i64) -> Result<Tally> {
        let found = bounded(self.catalog.login_failures(subject, since))
            .await
            .map_err(unavailable)?;
        Ok(match found {
            Some(f) => Tally {
                failures: u32::try_from(f.failures.max(0)).unwrap_or(u32::MAX),
                age: Duration::from_millis(
                    u64::try_from(now.saturating_sub(f.window_start)).unwrap_or(0),
                ),
            },
            None => Tally::NONE,
        })
    }

    /// Counts a failed login of `subject` from `address`, in a task of its
    /// own: counted even if the login's client goes away meanwhile.
    pub async fn failed(
        shared: &Arc<Self>,
        subject: &str,
        address: Option<IpAddr>,
        window: Duration,
    ) {
        let (shared, subject) = (Arc::clone(shared), subject.to_string());
        let counting =
            tokio::spawn(async move { shared.count_failure(&subject, address, window).await });
        if let Err(e) = counting.await {
            tracing::warn!(error = %e, "counting a failed login in the catalog failed");
        }
    }

    async fn count_failure(&self, subject: &str, address: Option<IpAddr>, window: Duration) {
        let now = unix_now_ms();
        let ended = now.saturating_sub(millis(window));
        let keys = std::iter::once(user_key(subject)).chain(address.map(address_key));
        for key in keys {
            if let Err(e) = bounded(self.catalog.record_login_failure(&key, now, ended)).await {
                tracing::warn!(
                    error = %e,
                    "a failed login could not be counted in the catalog; this replica still counts it"
                );
            }
        }
        self.prune(now, ended).await;
    }

    /// Forgets the failures of `subject` (its login succeeded).
    pub async fn succeeded(&self, subject: &str) {
        if let Err(e) = bounded(self.catalog.clear_login_failures(&user_key(subject))).await {
            tracing::warn!(error = %e, "a user's failed logins could not be cleared in the catalog");
        }
    }

    /// Deletes ended windows, at most every [`PRUNE_EVERY_MS`].
    async fn prune(&self, now: i64, ended: i64) {
        let last = self.pruned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PRUNE_EVERY_MS
            || self
                .pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = bounded(self.catalog.prune_login_failures(ended)).await {
            tracing::debug!(error = %e, "ended failed-login windows could not be deleted");
        }
    }
}

/// The catalog's key of a login name: `u:` and its SHA-256, hex.
fn user_key(subject: &str) -> String {
    let digest = sha2::Sha256::digest(subject.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("u:{hex}")
}

/// The catalog's key of a source address.
fn address_key(address: IpAddr) -> String {
    format!("a:{address}")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `call`, given up after [`CATALOG_WAIT`]; its failure as text.
async fn bounded<T>(
    call: impl Future<Output = laker_catalog::Result<T>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(CATALOG_WAIT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CATALOG_WAIT.as_secs())),
    }
}

fn unavailable(detail: String) -> AuthError {
    tracing::warn!(error = %detail, "failed logins cannot be read from the catalog; login refused");
    AuthError::Unavailable(
        "failed logins cannot be checked now (the catalog does not answer); retry later".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::LoginLimits;
    use crate::token::TokenService;
    use crate::{Authenticator, BasicCredentials};

    async fn catalog(dir: &tempfile::TempDir, name: &str) -> Catalog {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
        Catalog::connect(&url).await.unwrap()
    }

    /// A replica: its own limiter, failures shared through `shared`.
    fn replica(users: &Catalog, shared: &Catalog) -> Authenticator {
        let tokens = Arc::new(TokenService::new(&[1u8; 32], Duration::from_secs(60)));
        Authenticator::new(users.clone(), tokens)
            .with_login_limits(LoginLimits {
                per_user: 3,
                per_address: 100,
                window: Duration::from_secs(300),
            })
            .with_shared_login_limits(shared.clone())
    }

    fn creds(user: &str, password: &str) -> BasicCredentials {
        BasicCredentials {
            username: user.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn replicas_on_one_catalog_lock_out_together_and_a_success_clears_for_all() {
        let _counting = crate::password::COUNTING.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let c = catalog(&dir, "c.db").await;
        let hash = crate::password::hash_password("right-password").unwrap();
        c.create_user("alice", &hash).await.unwrap();
        c.create_user("bob", &hash).await.unwrap();
        let (a, b) = (replica(&c, &c), replica(&c, &c));
        let from: Option<IpAddr> = Some([10, 0, 0, 1].into());
        for _ in 0..3 {
            let e = a.login(&creds("alice", "wrong"), from).await.unwrap_err();
            assert!(matches!(e, AuthError::Unauthenticated(_)), "{e}");
        }
        // b saw none of them, and refuses even the right password.
        let other: Option<IpAddr> = Some([10, 0, 0, 2].into());
        let e = b
            .login(&creds("alice", "right-password"), other)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::RateLimited { .. }), "{e}");
        assert!(e.to_string().contains("user 'alice'"), "{e}");

        for _ in 0..2 {
            assert!(a.login(&creds("bob", "wrong"), from).await.is_err());
        }
        b.login(&creds("bob", "right-password"), other)
            .await
            .unwrap();
        // Counted from zero again on a too: two more failures are allowed.
        for _ in 0..2 {
            let e = a.login(&creds("bob", "wrong"), from).await.unwrap_err();
            assert!(matches!(e, AuthError::Unauthenticated(_)), "{e}");
        }
        a.login(&creds("bob", "right-password"), from)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn logins_are_refused_while_the_shared_count_cannot_be_read() {
        let _counting = crate::password::COUNTING.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let users = catalog(&dir, "users.db").await;
        let hash = crate::password::hash_password("right-password").unwrap();
        users.create_user("alice", &hash).await.unwrap();
        let down = catalog(&dir, "down.db").await;
        down.close().await;
        let from: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let e = replica(&users, &down)
            .login(&creds("alice", "right-password"), from)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Unavailable(_)), "{e}");
        assert!(
            e.to_string().contains("failed logins cannot be checked"),
            "{e}"
        );
        // The same login, limits not shared.
        let tokens = Arc::new(TokenService::new(&[1u8; 32], Duration::from_secs(60)));
        Authenticator::new(users, tokens)
            .login(&creds("alice", "right-password"), from)
            .await
            .unwrap();
    }

    #[test]
    fn keys_hide_user_names_and_keep_addresses() {
        let key = user_key("alice");
        assert!(key.starts_with("u:") && key.len() == 2 + 64, "{key}");
        assert!(!key.contains("alice"));
        assert_ne!(key, user_key("alice "), "names are hashed as given");
        assert_eq!(address_key([10, 0, 0, 1].into()), "a:10.0.0.1");
    }
}
