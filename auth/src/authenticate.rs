//! Checking credentials presented at handshake.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use laker_catalog::Catalog;

use crate::apikey;
use crate::error::{AuthError, Result};
use crate::ldap::Directory;
use crate::password::{verify_dummy, verify_password};
use crate::principal::Principal;
use crate::ratelimit::{Limited, LoginLimiter, LoginLimits, Recorded};
use crate::revoked::Revocations;
use crate::shared_limits::SharedFailures;
use crate::token::{IssuedToken, TokenService, unix_now_ms};

/// Longest accepted user name or password, in bytes.
const MAX_CREDENTIAL_LEN: usize = 1024;

/// Longest a login waits for earlier attempts of its user or address to
/// be checked before it is refused as rate limited.
const MAX_LOGIN_WAIT: Duration = Duration::from_secs(30);

/// How long a revoked token id is kept beyond the token lifetime (clock
/// differences between replicas, the tokens' leeway).
const REVOCATION_MARGIN_MS: i64 = 60_000;

/// A user name and password as sent in a Basic `authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// User name.
    pub username: String,
    /// Password (never logged).
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Standard base64, with or without padding.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl BasicCredentials {
    /// Parses the value of an `authorization: Basic <base64(user:password)>` header.
    pub fn from_header(value: &str) -> Result<Self> {
        let encoded = strip_scheme(value, "basic").ok_or_else(|| {
            AuthError::Unauthenticated("expected 'authorization: Basic …' credentials".into())
        })?;
        // Go's Flight client (and so the ADBC driver) sends unpadded base64.
        let decoded = BASIC_BASE64.decode(encoded.trim()).map_err(|_| {
            AuthError::InvalidArgument("Basic credentials are not valid base64".into())
        })?;
        let text = String::from_utf8(decoded)
            .map_err(|_| AuthError::InvalidArgument("Basic credentials are not UTF-8".into()))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| {
            AuthError::InvalidArgument("Basic credentials must have the form user:password".into())
        })?;
        Ok(Self {
            username: user.to_string(),
            password: pass.to_string(),
        })
    }
}

/// A user name as the catalog stores it (trimmed, lower-cased): the one
/// normalisation for looking a user up, naming the principal and counting
/// its failed logins, so `' Eve'` is locked out exactly when `eve` is.
pub fn login_name(raw: &str) -> String {
    laker_catalog::names::normalize_ident(raw)
}

/// The refusal of a login that reached a limit.
fn rate_limited(limited: Limited) -> AuthError {
    if limited.busy {
        // Not a lock-out: a burst of logins for one name (or from one
        // address) outlasted the wait for its turn.
        return AuthError::RateLimited {
            message: format!(
                "too many logins for {} are being checked at once; retry in 1 s \
                 (or reuse a token: one login serves many calls)",
                limited.what
            ),
            retry_after_secs: 1,
        };
    }
    AuthError::RateLimited {
        message: format!(
            "too many failed logins for {}; retry in {} s",
            limited.what, limited.retry_after_secs
        ),
        retry_after_secs: limited.retry_after_secs,
    }
}

/// Strips an HTTP auth scheme (case-insensitive) and the following space.
pub fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = value.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Verifies credentials against the catalog's users and issues tokens.
#[derive(Debug, Clone)]
pub struct Authenticator {
    catalog: Catalog,
    tokens: Arc<TokenService>,
    limiter: Arc<LoginLimiter>,
    /// Password and key hashes checked at once: argon2 is slow and large
    /// by design, so a crowd of logins waits here instead of starving every
    /// other request of CPU (and of memory).
    hashing: Arc<tokio::sync::Semaphore>,
    /// The directory users who are not catalog users sign in with, if any.
    directory: Option<Arc<Directory>>,
    /// Failed logins counted in the catalog for every replica, if on.
    shared: Option<Arc<SharedFailures>>,
    /// Tokens revoked one by one.
    revocations: Arc<Revocations>,
}

/// Hash checks run at once: one per core.
fn hash_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Authenticator {
    /// An authenticator over `catalog`'s users, issuing tokens with `tokens`,
    /// with the default limits on failed logins.
    pub fn new(catalog: Catalog, tokens: Arc<TokenService>) -> Self {
        Self {
            catalog,
            tokens,
            limiter: Arc::new(LoginLimiter::new(LoginLimits::default())),
            hashing: Arc::new(tokio::sync::Semaphore::new(hash_permits())),
            directory: None,
            shared: None,
            revocations: Arc::default(),
        }
    }

    /// The same, also counting failed logins in `catalog`, so that every
    /// replica on it enforces the limits together (see
    /// [`crate::shared_limits`]).
    pub fn with_shared_login_limits(mut self, catalog: Catalog) -> Self {
        self.shared = Some(Arc::new(SharedFailures::new(catalog)));
        self
    }

    /// The same, also signing in users of `directory` who are not catalog
    /// users (catalog users and API keys are checked first, as before, and
    /// log in whatever the directory's state).
    pub fn with_directory(mut self, directory: Arc<Directory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Runs a (slow, blocking) hash check once a hashing permit is free.
    async fn hash_check<T: Send + 'static>(
        &self,
        what: &str,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(format!("{what} check failed: {e}")))?;
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AuthError::Internal(format!("{what} check failed: {e}")))
    }

    /// The same, limiting failed logins by `limits`.
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.limiter = Arc::new(LoginLimiter::new(limits));
        self
    }

    /// The token service (shared with the auth layer).
    pub fn tokens(&self) -> &Arc<TokenService> {
        &self.tokens
    }

    /// Checks a user name and password. Unknown users, disabled users and
    /// wrong passwords get the same answer after the same amount of work.
    /// A name no catalog user has is checked against the directory, if one
    /// is configured (whose failure to answer is `Unavailable`).
    pub async fn verify_basic(&self, creds: &BasicCredentials) -> Result<Principal> {
        let refused = || AuthError::Unauthenticated("invalid user name or password".into());
        if creds.username.len() > MAX_CREDENTIAL_LEN || creds.password.len() > MAX_CREDENTIAL_LEN {
            return Err(refused());
        }
        if apikey::looks_like_key(&creds.password) {
            return self.verify_api_key(&creds.username, &creds.password).await;
        }
        let name = login_name(&creds.username);
        let user = self.catalog.user(&name).await?;
        if user.is_none()
            && let Some(directory) = &self.directory
        {
            return directory.login(&name, &creds.password).await;
        }
        let password = creds.password.clone();
        let ok = self
            .hash_check("password", move || match user {
                Some(user) => verify_password(&password, &user.password_hash) && !user.disabled,
                None => {
                    verify_dummy(&password);
                    false
                }
            })
            .await?;
        if !ok {
            return Err(refused());
        }
        Ok(Principal::new(login_name(&creds.username)))
    }

    /// Checks an API key sent as the password, with user name `key` or the
    /// key's own principal. Unknown, revoked and expired keys, and keys of
    /// disabled principals, get the same answer after the same work.
    async fn verify_api_key(&self, username: &str, text: &str) -> Result<Principal> {
        let refused = || AuthError::Unauthenticated("invalid or revoked API key".into());
        let Some((id, secret)) = apikey::parse(text) else {
            let text = text.to_string();
            self.hash_check("API key", move || verify_dummy(&text))
                .await?;
            return Err(refused());
        };
        let record = self.catalog.api_key(id).await?;
        let user = match &record {
            Some(r) => self.catalog.user(&r.principal).await?,
            None => None,
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let username = login_name(username);
        let secret = secret.to_string();
        let principal = self
            .hash_check("API key", move || {
                let (Some(record), Some(user)) = (record, user) else {
                    verify_dummy(&secret);
                    return None;
                };
                let matches = verify_password(&secret, &record.secret_hash);
                let owner = username == apikey::KEY_USER || username == record.principal;
                (matches && owner && record.is_usable(now_ms) && !user.disabled)
                    .then(|| Principal::with_key(record.principal, record.id))
            })
            .await?;
        principal.ok_or_else(refused)
    }

    /// Fails with `Unauthenticated` unless the principal behind a (valid)
    /// token still exists and is enabled: disabling or deleting an account
    /// takes effect on its next call, whatever tokens or tickets it holds.
    /// A session opened with an API key ends when the key is revoked or
    /// expires. Returns the principal with its current attributes.
    /// Principals of an external identity provider are vouched for by their
    /// (verified, unexpired) token alone. Directory principals get their
    /// current roles and attributes (see [`Directory::current`]).
    pub async fn require_active(&self, principal: &Principal) -> Result<Principal> {
        if let Some(id) = &principal.token_id
            && self.revocations.is_revoked(&self.catalog, id).await?
        {
            return Err(AuthError::Unauthenticated(
                "this bearer token was revoked; authenticate again".into(),
            ));
        }
        if principal.is_directory() {
            return match &self.directory {
                Some(directory) => directory.current(principal).await,
                None => Err(AuthError::Unauthenticated(
                    "directory sign-in is not configured on this server; authenticate again".into(),
                )),
            };
        }
        if !principal.is_local() {
            return Ok(principal.clone());
        }
        let attributes = match self.catalog.user(&principal.name).await? {
            Some(user) if !user.disabled => {
                if principal
                    .issued_at_ms
                    .is_some_and(|issued| issued < user.tokens_not_before)
                {
                    return Err(AuthError::Unauthenticated(
                        "bearer token has been revoked; authenticate again".into(),
                    ));
                }
                user.attributes
            }
            _ => {
                return Err(AuthError::Unauthenticated(format!(
                    "'{principal}' can no longer log in"
                )));
            }
        };
        if let Some(id) = &principal.key_id {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let usable = self
                .catalog
                .api_key(id)
                .await?
                .is_some_and(|k| k.principal == principal.name && k.is_usable(now_ms));
            if !usable {
                return Err(AuthError::Unauthenticated(format!(
                    "API key '{id}' has been revoked or has expired; log in again"
                )));
            }
        }
        Ok(Principal {
            attributes,
            ..principal.clone()
        })
    }

    /// Fails with `Unauthenticated` when `what` (a ticket or statement
    /// handle, issued to `principal` at `issued_at_ms`, Unix epoch ms) was
    /// issued before the principal's tokens were last revoked: logging out
    /// ends the tickets cut before, as well as the tokens.
    pub async fn require_not_revoked(
        &self,
        principal: &Principal,
        issued_at_ms: i64,
        what: &str,
    ) -> Result<()> {
        if !principal.is_local() {
            return Ok(());
        }
        match self.catalog.user(&principal.name).await? {
            Some(user) if issued_at_ms >= user.tokens_not_before => Ok(()),
            Some(_) => Err(AuthError::Unauthenticated(format!(
                "this {what} was issued before you logged out or your tokens were revoked; \
                 authenticate and ask for a new one"
            ))),
            None => Err(AuthError::Unauthenticated(format!(
                "'{principal}' can no longer log in"
            ))),
        }
    }

    /// Ends a directory principal's sessions on this server (its tokens
    /// issued so far are refused here); `false` for other principals.
    pub fn end_directory_sessions(&self, principal: &Principal) -> bool {
        match &self.directory {
            Some(directory) if principal.is_directory() => {
                directory.sign_out(principal);
                true
            }
            _ => false,
        }
    }

    /// Revokes the token this server issued with id `token_id` (on behalf
    /// of `by`): it is refused from its next call, here at once and on
    /// other replicas within [`crate::revoked::RECHECK_AFTER`]. Returns
    /// `false` when it was revoked already. Nothing tells whether a token
    /// with that id was ever issued: it is kept as revoked for as long as
    /// any token issued until now may live.
    pub async fn revoke_token(&self, token_id: &str, by: &str) -> Result<bool> {
        let lifetime_ms = i64::try_from(self.tokens.ttl().as_millis()).unwrap_or(i64::MAX);
        let until = unix_now_ms()
            .saturating_add(lifetime_ms)
            .saturating_add(REVOCATION_MARGIN_MS);
        let newly = self.catalog.revoke_token(token_id, by, until).await?;
        self.revocations.remember(token_id, true, Instant::now());
        Ok(newly)
    }

    /// A fresh token for a caller whose token is still valid, provided the
    /// principal still exists and is enabled.
    pub async fn refresh(&self, principal: &Principal) -> Result<IssuedToken> {
        let active = self.require_active(principal).await?;
        self.issue(active).await
    }

    /// Checks credentials from `source` and issues a bearer token. Users
    /// and addresses with too many recent failures are refused with
    /// `RateLimited` before their password is even checked.
    pub async fn login(
        &self,
        creds: &BasicCredentials,
        source: Option<IpAddr>,
    ) -> Result<(Principal, IssuedToken)> {
        let now = Instant::now();
        // API key logins are limited per key, not per user name: otherwise
        // anyone could lock every key out by failing with user name `key`.
        let subject = match apikey::parse(&creds.password) {
            Some((id, _)) => format!("key {id}"),
            None if apikey::looks_like_key(&creds.password) => "key (malformed)".to_string(),
            None => login_name(&creds.username),
        };
        let window = self.limiter.limits().window;
        // What every replica counted (a shared catalog), read once: a login
        // that waits below for attempts in progress here goes on from it.
        // One this process refuses already need not ask.
        let recorded = match &self.shared {
            Some(shared) => {
                if let Err(limited) = self.limiter.begin(&subject, source, now)
                    && !limited.busy
                {
                    return Err(rate_limited(limited));
                }
                shared.recorded(&subject, source, window).await?
            }
            None => Recorded::nothing(now),
        };
        let attempt = loop {
            match self
                .limiter
                .begin_with(&subject, source, Instant::now(), &recorded)
            {
                Ok(attempt) => break attempt,
                // As many attempts are being checked as failures may still
                // be counted: wait for one (a burst is checked a few at a time).
                Err(limited) if limited.busy && now.elapsed() < MAX_LOGIN_WAIT => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(limited) => return Err(rate_limited(limited)),
            }
        };
        let principal = match self.verify_basic(creds).await {
            Ok(p) => p,
            Err(e @ AuthError::Unauthenticated(_)) => {
                // In the catalog first: a read that begins after this
                // process counts the failure sees it there too.
                if let Some(shared) = &self.shared {
                    SharedFailures::failed(shared, &subject, source, window).await;
                }
                attempt.failed();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if let Some(shared) = &self.shared {
            shared.succeeded(&subject).await;
        }
        attempt.succeeded();
        let token = self.issue(principal.clone()).await?;
        Ok((principal, token))
    }

    /// A token for a local principal, listing the roles it holds now.
    async fn issue(&self, mut principal: Principal) -> Result<IssuedToken> {
        if principal.is_local() {
            principal.roles = self.catalog.roles_of(&principal.name).await?;
        }
        self.tokens.issue(&principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refused login costs exactly one argon2 verification, whatever
    /// the reason: no refusal can be told apart from another by its time.
    #[tokio::test]
    async fn every_refused_login_costs_one_verification() {
        let _counting = crate::password::COUNTING.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let catalog = Catalog::connect(&url).await.unwrap();
        let hash = crate::password::hash_password("right-password").unwrap();
        catalog.create_user("alice", &hash).await.unwrap();
        catalog.create_service_account("etl").await.unwrap();
        catalog.create_user("gone", &hash).await.unwrap();
        catalog.set_user_disabled("gone", true).await.unwrap();
        let tokens = Arc::new(TokenService::new(
            &[1u8; 32],
            std::time::Duration::from_secs(60),
        ));
        let auth = Authenticator::new(catalog, tokens);
        let creds = |u: &str, p: &str| BasicCredentials {
            username: u.into(),
            password: p.into(),
        };
        for (user, password) in [
            ("alice", "wrong"),
            ("nosuchuser", "whatever"),
            ("etl", ""),
            ("etl", "anything"),
            ("gone", "right-password"),
            ("key", "lk_malformed"),
            ("key", "lk_0123456789abcdef_notasecret"),
        ] {
            let before = crate::password::verifications();
            let refused = auth.verify_basic(&creds(user, password)).await;
            assert!(refused.is_err(), "{user}");
            assert_eq!(
                crate::password::verifications() - before,
                1,
                "{user}/{password}: one verification"
            );
        }
        let before = crate::password::verifications();
        auth.verify_basic(&creds("alice", "right-password"))
            .await
            .unwrap();
        assert_eq!(crate::password::verifications() - before, 1);
    }

    #[test]
    fn parses_basic_header() {
        let c = BasicCredentials::from_header("Basic ZGVtbzpkZW1v").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("demo", "demo"));
        let c = BasicCredentials::from_header("basic dTpwOng=").unwrap();
        assert_eq!(c.password, "p:x", "password may contain ':'");
        // Unpadded, as Go's Flight client (ADBC) sends it.
        let c = BasicCredentials::from_header("Basic dTpwOng").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:x"));
        assert!(matches!(
            BasicCredentials::from_header("Basic !!!"),
            Err(AuthError::InvalidArgument(_))
        ));
        assert!(matches!(
            BasicCredentials::from_header("Bearer abc"),
            Err(AuthError::Unauthenticated(_))
        ));
        assert!(!format!("{c:?}").contains("p:x"), "password not in Debug");
    }
}
