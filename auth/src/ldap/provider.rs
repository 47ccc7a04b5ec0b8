//! Directory sign-in put together: [`Directory::login`] checks a user's
//! password with a bind and looks up their groups and attributes;
//! [`Directory::current`] gives a session's principal its memberships as of
//! at most the cache lifetime ago, looking them up again when needed.

use std::time::Instant;

use ldap3::Ldap;

use super::bind::user_bind;
use super::cache::SessionCache;
use super::config::{GroupLookup, LdapConfig, UserLookup};
use super::entry::{self, Entry};
use super::error::DirectoryError;
use super::escape;
use super::groups::{self, MEMBER_OF};
use super::identity::Identity;
use super::pool::Pool;
use crate::error::{AuthError, Result};
use crate::principal::Principal;
use crate::token::unix_now_ms;

/// One directory users sign in with; see the module documentation.
#[derive(Debug)]
pub struct Directory {
    config: LdapConfig,
    pool: Pool,
    /// Normalised group DN → role.
    group_roles: Vec<(String, String)>,
    /// Attributes read from a user's entry.
    wanted: Vec<String>,
    cache: SessionCache,
}

impl Directory {
    /// A directory for `config` (checked; the CA file is read now). No
    /// connection is opened until the first login, so a directory that is
    /// down does not keep the server from starting.
    pub fn new(config: LdapConfig) -> std::result::Result<Self, String> {
        config.validate()?;
        let pool = Pool::new(&config)?;
        let mut wanted: Vec<String> = config.attributes.iter().map(|(a, _)| a.clone()).collect();
        if config.groups == GroupLookup::MemberOf {
            wanted.push(MEMBER_OF.to_string());
        }
        if wanted.is_empty() {
            // "1.1": no attributes, only the entry.
            wanted.push("1.1".to_string());
        }
        Ok(Self {
            group_roles: config.normalized_group_roles(),
            wanted,
            pool,
            cache: SessionCache::default(),
            config,
        })
    }

    /// The directory's URL.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Checks `user`'s `password` (`user` as the catalog would store it:
    /// trimmed, lower-cased) and returns the principal with the roles and
    /// attributes the directory gives it. Wrong credentials are
    /// `Unauthenticated`; a directory that cannot answer is `Unavailable`.
    pub async fn login(&self, user: &str, password: &str) -> Result<Principal> {
        let refused = || AuthError::Unauthenticated("invalid user name or password".into());
        if let Some(problem) = escape::user_name_problem(user) {
            tracing::debug!(
                problem,
                "directory login refused before asking the directory"
            );
            return Err(refused());
        }
        // An empty password is an unauthenticated bind: never a login.
        if password.is_empty() {
            return Err(refused());
        }
        match self.verify(user, password).await {
            Ok(Some(identity)) => {
                self.cache.put(
                    user,
                    identity.clone(),
                    self.config.cache_ttl,
                    Instant::now(),
                );
                Ok(self.principal(user, identity))
            }
            Ok(None) => Err(refused()),
            Err(e) => Err(e.into_auth()),
        }
    }

    /// `principal` (a directory principal of this server's token) with its
    /// current roles and attributes: as looked up at most the cache
    /// lifetime ago (by this process, or when the token was issued), else
    /// looked up again with the service account. Users who signed out
    /// here, or who left the directory, are `Unauthenticated`.
    pub async fn current(&self, principal: &Principal) -> Result<Principal> {
        let Some(user) = principal.name.strip_prefix(&self.config.name_prefix) else {
            return Err(AuthError::Unauthenticated(format!(
                "'{principal}' is not a directory user of this server; authenticate again"
            )));
        };
        let issued_ms = principal.issued_at_ms.unwrap_or(0);
        if self.cache.signed_out_since(user, issued_ms) {
            return Err(AuthError::Unauthenticated(
                "this session ended when you signed out; authenticate again".into(),
            ));
        }
        let ttl = self.config.cache_ttl;
        let now = Instant::now();
        if let Some(identity) = self.cache.fresh(user, ttl, now) {
            return Ok(with_identity(principal, identity));
        }
        let age_ms = unix_now_ms().saturating_sub(issued_ms);
        if issued_ms > 0 && u128::try_from(age_ms).is_ok_and(|age| age < ttl.as_millis()) {
            // Looked up when the token was issued (perhaps by another replica).
            return Ok(principal.clone());
        }
        if !self.pool.has_service() {
            return Err(AuthError::Unauthenticated(format!(
                "directory memberships are checked again every {} s and this server has no \
                 service account to do it with; authenticate again",
                ttl.as_secs()
            )));
        }
        match self.lookup(user).await {
            Ok(Some(identity)) => {
                self.cache.put(user, identity.clone(), ttl, now);
                Ok(with_identity(principal, identity))
            }
            Ok(None) => Err(AuthError::Unauthenticated(format!(
                "'{principal}' is no longer in the directory"
            ))),
            Err(e) => Err(e.into_auth()),
        }
    }

    /// Ends `principal`'s sessions on this server: its tokens issued so far
    /// are refused here from now on (other replicas keep accepting them
    /// until they expire).
    pub fn sign_out(&self, principal: &Principal) {
        if let Some(user) = principal.name.strip_prefix(&self.config.name_prefix) {
            // +1 ms: a token issued in this very millisecond ends too.
            self.cache.sign_out(user, unix_now_ms() + 1);
        }
    }

    /// Binds as `user` with `password`; their identity if the directory
    /// accepts it, `None` if it refuses it (or knows no such user).
    async fn verify(
        &self,
        user: &str,
        password: &str,
    ) -> std::result::Result<Option<Identity>, DirectoryError> {
        let timeout = self.pool.timeout();
        let (dn, found) = match &self.config.users {
            UserLookup::Template(template) => (escape::fill_dn(template, user), None),
            UserLookup::Search { .. } => match self.find(user).await? {
                Some(entry) => (entry.dn.clone(), Some(entry)),
                None => return Ok(None),
            },
        };
        let mut conn = self.pool.fresh().await?;
        if !user_bind(&mut conn.ldap, &dn, password, timeout).await? {
            return Ok(None);
        }
        if !self.pool.has_service() {
            // No service account: the user reads their own entry and groups.
            let ldap = &mut conn.ldap;
            let entry = entry::read(ldap, &dn, &self.wanted, timeout)
                .await?
                .ok_or_else(unreadable)?;
            let groups = groups::groups_of(
                ldap,
                &self.config.groups,
                self.config.nesting_depth,
                user,
                &entry,
                timeout,
            )
            .await?;
            return Ok(Some(self.identity(&entry, &groups)));
        }
        drop(conn);
        let entry = match found {
            Some(entry) => entry,
            None => self.read(&dn).await?.ok_or_else(unreadable)?,
        };
        let groups = self.groups(user, &entry).await?;
        Ok(Some(self.identity(&entry, &groups)))
    }

    /// `user`'s identity as the service account reads it; `None` if the
    /// directory has no such user (any more).
    async fn lookup(&self, user: &str) -> std::result::Result<Option<Identity>, DirectoryError> {
        let entry = match &self.config.users {
            UserLookup::Template(template) => self.read(&escape::fill_dn(template, user)).await?,
            UserLookup::Search { .. } => self.find(user).await?,
        };
        let Some(entry) = entry else {
            return Ok(None);
        };
        let groups = self.groups(user, &entry).await?;
        Ok(Some(self.identity(&entry, &groups)))
    }

    /// The entry the user search finds for `user`, as the service account.
    async fn find(&self, user: &str) -> std::result::Result<Option<Entry>, DirectoryError> {
        let UserLookup::Search { base, filter } = &self.config.users else {
            return Ok(None);
        };
        let filter = escape::fill_filter(filter, user, "");
        let (base, filter, wanted, timeout): (&str, &str, &[String], _) =
            (base, &filter, &self.wanted, self.pool.timeout());
        self.pool
            .with_service(move |mut ldap: Ldap| async move {
                entry::find(&mut ldap, base, filter, wanted, timeout).await
            })
            .await
    }

    /// The entry at `dn`, as the service account.
    async fn read(&self, dn: &str) -> std::result::Result<Option<Entry>, DirectoryError> {
        let (wanted, timeout): (&[String], _) = (&self.wanted, self.pool.timeout());
        self.pool
            .with_service(move |mut ldap: Ldap| async move {
                entry::read(&mut ldap, dn, wanted, timeout).await
            })
            .await
    }

    /// The groups of `user` (entry `entry`), as the service account.
    async fn groups(
        &self,
        user: &str,
        entry: &Entry,
    ) -> std::result::Result<Vec<String>, DirectoryError> {
        let (lookup, depth, timeout) = (
            &self.config.groups,
            self.config.nesting_depth,
            self.pool.timeout(),
        );
        self.pool
            .with_service(move |mut ldap: Ldap| async move {
                groups::groups_of(&mut ldap, lookup, depth, user, entry, timeout).await
            })
            .await
    }

    fn identity(&self, entry: &Entry, groups: &[String]) -> Identity {
        Identity {
            roles: groups::roles(&self.group_roles, groups),
            attributes: entry::attributes(&self.config.attributes, entry),
        }
    }

    fn principal(&self, user: &str, identity: Identity) -> Principal {
        Principal {
            name: format!("{}{user}", self.config.name_prefix),
            key_id: None,
            issuer: Some(super::ISSUER.to_string()),
            roles: identity.roles,
            attributes: identity.attributes,
            issued_at_ms: None,
            token_id: None,
        }
    }
}

/// `principal` with `identity`'s roles and attributes.
fn with_identity(principal: &Principal, identity: Identity) -> Principal {
    Principal {
        roles: identity.roles,
        attributes: identity.attributes,
        ..principal.clone()
    }
}

/// A user who bound but whose entry cannot be read: the directory's access
/// rules keep it from Laker.
fn unreadable() -> DirectoryError {
    DirectoryError::Refused {
        what: "reading the user's entry",
        detail: "the entry of a user who just bound cannot be read".into(),
    }
}
