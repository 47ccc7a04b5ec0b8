//! Directory sign-in over LDAP: `--ldap-*` flags, `[ldap]` in the file.
//! The service account's password comes from a file or from the
//! `LAKER_LDAP_SERVICE_PASSWORD` variable, never from a flag (the command
//! line is visible to every user of the machine).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use laker_auth::ldap::config::{
    DEFAULT_GROUP_FILTER, DEFAULT_USER_FILTER, parse_attribute, parse_group_role,
};
use laker_auth::ldap::{GroupLookup, LdapConfig, Secret, ServiceAccount, UserLookup};
use serde::Deserialize;

use super::merge::set;
use super::pairs::key_value_table;
use crate::config::error::ConfigError;

/// The variable the service account's password may come from.
pub const SERVICE_PASSWORD_VAR: &str = "LAKER_LDAP_SERVICE_PASSWORD";

/// The directory's settings (`[ldap]`).
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ldap {
    /// Directory users sign in with their directory password: the directory's URL, ldaps://host[:port] or ldap://host[:port] (with --ldap-starttls true).
    #[arg(id = "ldap_url", long = "ldap-url", env = "LAKER_LDAP_URL")]
    pub url: Option<String>,
    /// Upgrade the ldap:// connection with StartTLS [default: false].
    #[arg(
        id = "ldap_starttls",
        long = "ldap-starttls",
        env = "LAKER_LDAP_STARTTLS"
    )]
    pub starttls: Option<bool>,
    /// PEM file of the CA the directory's certificate must chain to [default: the system's trusted roots].
    #[arg(id = "ldap_ca_cert", long = "ldap-ca-cert", env = "LAKER_LDAP_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Bind as this DN, {user} replaced by the user name, e.g. uid={user},ou=people,dc=example,dc=org (or give --ldap-search-base).
    #[arg(
        id = "ldap_bind_dn_template",
        long = "ldap-bind-dn-template",
        env = "LAKER_LDAP_BIND_DN_TEMPLATE"
    )]
    pub bind_dn_template: Option<String>,
    /// Search users in this subtree with --ldap-user-filter (as the service account), then bind as the entry found.
    #[arg(
        id = "ldap_search_base",
        long = "ldap-search-base",
        env = "LAKER_LDAP_SEARCH_BASE"
    )]
    pub search_base: Option<String>,
    /// Filter finding a user's entry, {user} replaced by the (escaped) user name [default: (uid={user})].
    #[arg(
        id = "ldap_user_filter",
        long = "ldap-user-filter",
        env = "LAKER_LDAP_USER_FILTER"
    )]
    pub user_filter: Option<String>,
    /// DN of the service account Laker searches with.
    #[arg(
        id = "ldap_service_dn",
        long = "ldap-service-dn",
        env = "LAKER_LDAP_SERVICE_DN"
    )]
    pub service_dn: Option<String>,
    /// File holding the service account's password (or set LAKER_LDAP_SERVICE_PASSWORD).
    #[arg(
        id = "ldap_service_password_file",
        long = "ldap-service-password-file",
        env = "LAKER_LDAP_SERVICE_PASSWORD_FILE"
    )]
    pub service_password_file: Option<PathBuf>,
    /// Search a user's groups in this subtree with --ldap-group-filter [default: the user's memberOf values].
    #[arg(
        id = "ldap_group_base",
        long = "ldap-group-base",
        env = "LAKER_LDAP_GROUP_BASE"
    )]
    pub group_base: Option<String>,
    /// Filter finding a member's groups, {dn} replaced by the member's DN, {user} by the user name [default: (&(objectClass=groupOfNames)(member={dn}))].
    #[arg(
        id = "ldap_group_filter",
        long = "ldap-group-filter",
        env = "LAKER_LDAP_GROUP_FILTER"
    )]
    pub group_filter: Option<String>,
    /// Levels of groups of groups followed, at most 10 [default: 0: direct groups only].
    #[arg(
        id = "ldap_nested_groups",
        long = "ldap-nested-groups",
        env = "LAKER_LDAP_NESTED_GROUPS"
    )]
    pub nested_groups: Option<u32>,
    /// Group DN → Laker role, GROUP_DN=role (repeatable; semicolon-separated in the environment). Groups not listed grant nothing.
    #[arg(
        id = "ldap_group_role",
        long = "ldap-group-role",
        env = "LAKER_LDAP_GROUP_ROLES",
        value_delimiter = ';',
        value_parser = parse_group_role
    )]
    #[serde(deserialize_with = "key_value_table")]
    pub group_roles: Vec<(String, String)>,
    /// Directory attribute copied into the principal's attributes, ATTRIBUTE or ATTRIBUTE=NAME, e.g. departmentNumber=department (repeatable; comma-separated in the environment).
    #[arg(
        id = "ldap_attribute",
        long = "ldap-attribute",
        env = "LAKER_LDAP_ATTRIBUTES",
        value_delimiter = ',',
        value_parser = parse_attribute
    )]
    #[serde(deserialize_with = "key_value_table")]
    pub attributes: Vec<(String, String)>,
    /// How long looked-up group memberships and attributes are used before they are looked up again, in seconds [default: 300].
    #[arg(
        id = "ldap_cache_secs",
        long = "ldap-cache-secs",
        env = "LAKER_LDAP_CACHE_SECS"
    )]
    pub cache_secs: Option<u64>,
    /// Longest wait for one directory operation, in seconds [default: 10].
    #[arg(
        id = "ldap_timeout_secs",
        long = "ldap-timeout-secs",
        env = "LAKER_LDAP_TIMEOUT_SECS"
    )]
    pub timeout_secs: Option<u64>,
    /// Longest wait to connect to the directory (TCP and TLS), in seconds [default: 5].
    #[arg(
        id = "ldap_connect_timeout_secs",
        long = "ldap-connect-timeout-secs",
        env = "LAKER_LDAP_CONNECT_TIMEOUT_SECS"
    )]
    pub connect_timeout_secs: Option<u64>,
    /// Most connections open to the directory at once [default: 8].
    #[arg(
        id = "ldap_max_connections",
        long = "ldap-max-connections",
        env = "LAKER_LDAP_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<usize>,
    /// Prefix of directory principals' names [default: ldap:].
    #[arg(
        id = "ldap_name_prefix",
        long = "ldap-name-prefix",
        env = "LAKER_LDAP_NAME_PREFIX"
    )]
    pub name_prefix: Option<String>,
}

impl Ldap {
    /// The directory's configuration, checked; `None` without a URL.
    /// `env_password` is the value of [`SERVICE_PASSWORD_VAR`], if set.
    pub(super) fn resolve(
        self,
        env_password: Option<String>,
    ) -> Result<Option<LdapConfig>, ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_string()));
        let Some(url) = self.url else {
            let given = self.bind_dn_template.is_some()
                || self.search_base.is_some()
                || self.service_dn.is_some()
                || self.group_base.is_some()
                || !self.group_roles.is_empty();
            return if given {
                err("the --ldap-* settings need --ldap-url (the directory's address)")
            } else {
                Ok(None)
            };
        };
        let users = match (self.bind_dn_template, self.search_base) {
            (Some(template), None) => {
                if self.user_filter.is_some() {
                    return err(
                        "--ldap-user-filter goes with --ldap-search-base, not with a bind DN template",
                    );
                }
                UserLookup::Template(template)
            }
            (None, Some(base)) => UserLookup::Search {
                base,
                filter: self
                    .user_filter
                    .unwrap_or_else(|| DEFAULT_USER_FILTER.to_string()),
            },
            _ => {
                return err(
                    "directory sign-in needs exactly one of --ldap-bind-dn-template or --ldap-search-base",
                );
            }
        };
        let service = match (self.service_dn, self.service_password_file) {
            (Some(dn), file) => {
                let password = match file {
                    Some(path) => read_password(&path)?,
                    None => env_password.ok_or_else(|| {
                        ConfigError(format!(
                            "--ldap-service-dn needs the account's password: \
                             --ldap-service-password-file or {SERVICE_PASSWORD_VAR}"
                        ))
                    })?,
                };
                Some(ServiceAccount {
                    dn,
                    password: Secret::new(password),
                })
            }
            (None, Some(_)) => {
                return err("--ldap-service-password-file goes with --ldap-service-dn");
            }
            (None, None) => None,
        };
        let groups = match (self.group_base, self.group_filter) {
            (Some(base), filter) => GroupLookup::Search {
                base,
                filter: filter.unwrap_or_else(|| DEFAULT_GROUP_FILTER.to_string()),
            },
            (None, Some(_)) => return err("--ldap-group-filter goes with --ldap-group-base"),
            (None, None) => GroupLookup::MemberOf,
        };
        let mut c = LdapConfig::new(url, users);
        c.service = service;
        c.groups = groups;
        c.ca_cert = self.ca_cert;
        c.group_roles = self.group_roles;
        c.attributes = self.attributes;
        set(&mut c.starttls, self.starttls);
        set(&mut c.nesting_depth, self.nested_groups);
        set(&mut c.cache_ttl, self.cache_secs.map(Duration::from_secs));
        set(&mut c.timeout, self.timeout_secs.map(Duration::from_secs));
        set(
            &mut c.connect_timeout,
            self.connect_timeout_secs.map(Duration::from_secs),
        );
        set(&mut c.max_connections, self.max_connections);
        set(&mut c.name_prefix, self.name_prefix);
        c.validate().map_err(ConfigError)?;
        Ok(Some(c))
    }
}

/// The first line of a password file (a trailing newline is not part of
/// the password).
fn read_password(path: &std::path::Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read --ldap-service-password-file {}: {e}",
            path.display()
        ))
    })?;
    let password = text.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        return Err(ConfigError(format!(
            "--ldap-service-password-file {} is empty",
            path.display()
        )));
    }
    Ok(password)
}
