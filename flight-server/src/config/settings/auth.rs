//! Logins and what proves them: token and ticket lifetimes, the signing
//! secrets, failed-login limits, an external identity provider
//! (`[identity_provider]` in the file) and a directory (`[ldap]`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::identity::IdentityProvider;
use super::ldap::{Ldap, SERVICE_PASSWORD_VAR};
use super::merge::set;
use crate::config::error::ConfigError;
use crate::config::server_config::ServerConfig;

/// Authentication settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Auth {
    /// Lifetime of bearer tokens issued at handshake, in seconds [default: 28800].
    #[arg(long, env = "LAKER_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Lifetime of DoGet tickets issued by GetFlightInfo, in seconds [default: 3600].
    #[arg(long, env = "LAKER_TICKET_TTL_SECS")]
    pub ticket_ttl_secs: Option<u64>,
    /// File holding the base64 signing secret; created (mode 0600) if missing [default: <data-dir>/secret.key].
    #[arg(long, env = "LAKER_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Rotated-out secret files whose tokens and tickets are still accepted until they expire (repeatable; comma-separated in the environment).
    #[arg(
        long = "previous-secret-file",
        env = "LAKER_PREVIOUS_SECRET_FILES",
        value_delimiter = ','
    )]
    pub previous_secret_files: Vec<PathBuf>,
    /// Failed logins allowed per user name before Handshake refuses it for the lockout window [default: 5].
    #[arg(long, env = "LAKER_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<u32>,
    /// Failed logins allowed per source address within the lockout window [default: 20].
    #[arg(long, env = "LAKER_LOGIN_MAX_FAILURES_PER_ADDRESS")]
    pub login_max_failures_per_address: Option<u32>,
    /// Lockout window for failed logins, in seconds [default: 300].
    #[arg(long, env = "LAKER_LOGIN_LOCKOUT_SECS")]
    pub login_lockout_secs: Option<u64>,
    /// An external identity provider whose tokens are accepted.
    #[command(flatten)]
    pub identity_provider: IdentityProvider,
    /// A directory (LDAP) users who are not catalog users sign in with.
    #[command(flatten)]
    pub ldap: Ldap,
}

impl Auth {
    /// Refuses an incomplete identity provider or directory.
    pub(super) fn apply(self, c: &mut ServerConfig) -> Result<(), ConfigError> {
        let secs = Duration::from_secs;
        set(&mut c.token_ttl, self.token_ttl_secs.map(secs));
        set(&mut c.ticket_ttl, self.ticket_ttl_secs.map(secs));
        set(&mut c.secret_file, self.secret_file);
        c.previous_secret_files = self.previous_secret_files;
        let login = &mut c.login_limits;
        set(&mut login.per_user, self.login_max_failures);
        set(&mut login.per_address, self.login_max_failures_per_address);
        set(&mut login.window, self.login_lockout_secs.map(secs));
        c.identity_provider = self.identity_provider.resolve()?;
        c.ldap = self
            .ldap
            .resolve(std::env::var(SERVICE_PASSWORD_VAR).ok())?;
        Ok(())
    }
}
