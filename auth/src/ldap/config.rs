//! What directory sign-in needs to know: where the directory is and how to
//! reach it safely, how users are found, how their groups are found and
//! mapped to roles, which attributes are copied, and its limits; with the
//! checks of a configuration and the parsers of its `name=value` settings.

use std::path::PathBuf;
use std::time::Duration;

use super::escape::normalize_dn;

/// User filter of search-then-bind unless configured.
pub const DEFAULT_USER_FILTER: &str = "(uid={user})";
/// Group filter of a group search unless configured.
pub const DEFAULT_GROUP_FILTER: &str = "(&(objectClass=groupOfNames)(member={dn}))";
/// Prefix of directory principals' names unless configured.
pub const DEFAULT_NAME_PREFIX: &str = "ldap:";
/// Deepest nesting of groups followed.
pub const MAX_NESTING_DEPTH: u32 = 10;

/// A password, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a user's entry is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    /// Bind directly as this DN, its `{user}` replaced by the user name
    /// (escaped for a DN), e.g. `uid={user},ou=people,dc=example,dc=org`.
    Template(String),
    /// Search the subtree at `base` with `filter` (`{user}` replaced by the
    /// user name, escaped for a filter) as the service account, then bind
    /// as the one entry found.
    Search {
        /// Where users are.
        base: String,
        /// Which entry is the user, e.g. `(uid={user})`.
        filter: String,
    },
}

/// How a user's groups are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLookup {
    /// The `memberOf` values of the user's entry (and of its groups' entries
    /// when nested groups are followed).
    MemberOf,
    /// Group entries found in the subtree at `base` with `filter` (`{dn}`
    /// replaced by the member's DN, `{user}` by the user name, each escaped).
    Search {
        /// Where groups are.
        base: String,
        /// Which entries are the member's groups, e.g. `(member={dn})`.
        filter: String,
    },
}

/// The account Laker searches the directory with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Its DN.
    pub dn: String,
    /// Its password.
    pub password: Secret,
}

/// Configuration of directory sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldaps://host:port` or `ldap://host:port`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// PEM file of the CA(s) the directory's certificate must chain to
    /// (none: the system's trusted roots).
    pub ca_cert: Option<PathBuf>,
    /// How users are found.
    pub users: UserLookup,
    /// The service account (needed to search for users, and to look
    /// memberships up again between logins).
    pub service: Option<ServiceAccount>,
    /// How groups are found.
    pub groups: GroupLookup,
    /// Levels of groups of groups followed (0: direct groups only).
    pub nesting_depth: u32,
    /// Group DN → Laker role. Groups not listed grant nothing.
    pub group_roles: Vec<(String, String)>,
    /// Directory attribute → principal attribute (for
    /// `principal_attribute('name')`); the first value is copied.
    pub attributes: Vec<(String, String)>,
    /// How long looked-up memberships and attributes are used.
    pub cache_ttl: Duration,
    /// Longest wait to connect (TCP, StartTLS and the TLS handshake).
    pub connect_timeout: Duration,
    /// Longest wait for one directory operation.
    pub timeout: Duration,
    /// Most connections open to the directory at once.
    pub max_connections: usize,
    /// Prefix of principal names (default `ldap:`).
    pub name_prefix: String,
}

impl LdapConfig {
    /// A configuration of `url` finding users by `users`, with the
    /// defaults for everything else: no service account, TLS checked
    /// against the system's roots, groups from `memberOf`, no roles or
    /// attributes mapped, memberships held for 5 minutes, 5 s to connect,
    /// 10 s per operation, at most 8 connections.
    pub fn new(url: impl Into<String>, users: UserLookup) -> Self {
        Self {
            url: url.into(),
            starttls: false,
            ca_cert: None,
            users,
            service: None,
            groups: GroupLookup::MemberOf,
            nesting_depth: 0,
            group_roles: Vec::new(),
            attributes: Vec::new(),
            cache_ttl: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_connections: 8,
            name_prefix: DEFAULT_NAME_PREFIX.to_string(),
        }
    }

    /// Checks settings that go together and the shape of each; the error
    /// names the setting (by its flag) and what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let (scheme, host) = split_url(&self.url)?;
        match (scheme, self.starttls) {
            ("ldaps", true) => {
                return Err(
                    "--ldap-starttls is for ldap:// URLs; an ldaps:// connection is TLS from the start"
                        .into(),
                );
            }
            ("ldap", false) if !is_loopback(host) => {
                return Err(format!(
                    "--ldap-url {} would send passwords in clear text: use ldaps:// or \
                     --ldap-starttls true (plain ldap:// is only allowed on loopback)",
                    self.url
                ));
            }
            _ => {}
        }
        match &self.users {
            UserLookup::Template(template) => {
                if template.matches("{user}").count() != 1 {
                    return Err(format!(
                        "--ldap-bind-dn-template must hold {{user}} exactly once, e.g. \
                         uid={{user}},ou=people,dc=example,dc=org (got '{template}')"
                    ));
                }
            }
            UserLookup::Search { base, filter } => {
                non_empty(base, "--ldap-search-base")?;
                check_filter(filter, "--ldap-user-filter", "{user}")?;
                if self.service.is_none() {
                    return Err(
                        "--ldap-search-base needs a service account to search with: \
                         --ldap-service-dn and its password"
                            .into(),
                    );
                }
            }
        }
        if let Some(service) = &self.service {
            non_empty(&service.dn, "--ldap-service-dn")?;
            if service.password.expose().is_empty() {
                return Err(
                    "the service account's password is empty: an empty password \
                            is an unauthenticated bind, not a login"
                        .into(),
                );
            }
        }
        if let GroupLookup::Search { base, filter } = &self.groups {
            non_empty(base, "--ldap-group-base")?;
            check_filter(filter, "--ldap-group-filter", "{dn}` or `{user}")?;
            if self.nesting_depth > 0 && !filter.contains("{dn}") {
                return Err(
                    "--ldap-nested-groups needs a --ldap-group-filter with {dn} (the member's DN)"
                        .into(),
                );
            }
        }
        if self.nesting_depth > MAX_NESTING_DEPTH {
            return Err(format!(
                "--ldap-nested-groups must be at most {MAX_NESTING_DEPTH}"
            ));
        }
        for (dn, role) in &self.group_roles {
            non_empty(dn, "--ldap-group-role (the group DN)")?;
            laker_catalog::names::validate_ident("role", role).map_err(|e| e.to_string())?;
        }
        for (attribute, name) in &self.attributes {
            if !is_attribute_name(attribute) || name.is_empty() {
                return Err(format!(
                    "--ldap-attribute '{attribute}={name}': use ATTRIBUTE or ATTRIBUTE=NAME, \
                     ATTRIBUTE being a directory attribute type (letters, digits, '-')"
                ));
            }
        }
        let secs = |d: Duration| d.as_secs();
        if !(1..=86_400).contains(&secs(self.cache_ttl)) {
            return Err("--ldap-cache-secs must be between 1 and 86400".into());
        }
        if !(1..=300).contains(&secs(self.connect_timeout))
            || !(1..=300).contains(&secs(self.timeout))
        {
            return Err(
                "--ldap-connect-timeout-secs and --ldap-timeout-secs must be between 1 and 300"
                    .into(),
            );
        }
        if !(1..=1024).contains(&self.max_connections) {
            return Err("--ldap-max-connections must be between 1 and 1024".into());
        }
        let collides = self
            .name_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if collides {
            return Err(format!(
                "--ldap-name-prefix '{}' must hold a character catalog user names cannot \
                 (such as ':'), so directory principals never share a name with catalog users",
                self.name_prefix
            ));
        }
        Ok(())
    }

    /// The group → role mappings with their DNs normalised for comparison
    /// and their roles as the catalog stores them (lower-cased).
    pub(crate) fn normalized_group_roles(&self) -> Vec<(String, String)> {
        self.group_roles
            .iter()
            .map(|(dn, role)| (normalize_dn(dn), role.trim().to_ascii_lowercase()))
            .collect()
    }
}

/// Parses `GROUP_DN=role` (the last `=` separates them: DNs hold `=`);
/// the role is lower-cased.
pub fn parse_group_role(text: &str) -> Result<(String, String), String> {
    let (dn, role) = text
        .rsplit_once('=')
        .filter(|(dn, role)| dn.contains('=') && !role.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "expected GROUP_DN=role, e.g. cn=analysts,ou=groups,dc=example,dc=org=analyst; \
                 got '{text}'"
            )
        })?;
    Ok((dn.trim().to_string(), role.trim().to_ascii_lowercase()))
}

/// Parses `ATTRIBUTE` or `ATTRIBUTE=NAME` (the principal attribute's
/// name; without one, the attribute's own).
pub fn parse_attribute(text: &str) -> Result<(String, String), String> {
    let (attribute, name) = match text.split_once('=') {
        Some((attribute, name)) => (attribute.trim(), name.trim()),
        None => (text.trim(), text.trim()),
    };
    if !is_attribute_name(attribute) || name.is_empty() {
        return Err(format!(
            "expected ATTRIBUTE or ATTRIBUTE=NAME, e.g. departmentNumber=department; got '{text}'"
        ));
    }
    Ok((attribute.to_string(), name.to_string()))
}

/// An attribute type name: a letter, then letters, digits and `-`.
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The scheme and host of an LDAP URL.
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let bad =
        || format!("--ldap-url must be ldaps://host[:port] or ldap://host[:port]; got '{url}'");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "ldap" | "ldaps") {
        return Err(bad());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    Ok((scheme, host))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn non_empty(value: &str, what: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(())
    }
}

/// Checks a filter template: it names `placeholder` and is a valid filter
/// once filled.
fn check_filter(filter: &str, what: &str, placeholder: &str) -> Result<(), String> {
    if !filter.contains("{user}") && !filter.contains("{dn}") {
        return Err(format!("{what} must hold `{placeholder}`; got '{filter}'"));
    }
    let sample = super::escape::fill_filter(filter, "user", "cn=user,dc=example");
    if ldap3::parse_filter(&sample).is_err() {
        return Err(format!(
            "{what} is not a valid LDAP filter (RFC 4515), e.g. (uid={{user}}); got '{filter}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> LdapConfig {
        let mut c = LdapConfig::new(
            "ldaps://ldap.example.org",
            UserLookup::Search {
                base: "ou=people,dc=example,dc=org".into(),
                filter: DEFAULT_USER_FILTER.into(),
            },
        );
        c.service = Some(ServiceAccount {
            dn: "cn=laker,ou=services,dc=example,dc=org".into(),
            password: Secret::new("s3cret"),
        });
        c
    }

    fn template() -> LdapConfig {
        LdapConfig::new(
            "ldap://127.0.0.1:3890",
            UserLookup::Template("uid={user},ou=people,dc=example,dc=org".into()),
        )
    }

    fn problem(c: &LdapConfig) -> String {
        c.validate().unwrap_err()
    }

    #[test]
    fn good_configurations_pass() {
        search().validate().unwrap();
        template().validate().unwrap();
        let mut c = search();
        c.url = "ldap://ldap.example.org:389".into();
        c.starttls = true;
        c.groups = GroupLookup::Search {
            base: "ou=groups,dc=example,dc=org".into(),
            filter: DEFAULT_GROUP_FILTER.into(),
        };
        c.nesting_depth = 3;
        c.group_roles = vec![(
            "cn=analysts,ou=groups,dc=example,dc=org".into(),
            "analyst".into(),
        )];
        c.attributes = vec![("departmentNumber".into(), "department".into())];
        c.validate().unwrap();
    }

    #[test]
    fn transport_must_protect_passwords() {
        let mut c = search();
        c.url = "ldap://ldap.example.org".into();
        assert!(problem(&c).contains("clear text"), "{}", problem(&c));
        c.url = "ldaps://ldap.example.org".into();
        c.starttls = true;
        assert!(problem(&c).contains("--ldap-starttls"));
        for url in ["http://x", "ldap://", "ldaps://user@host", "host:389"] {
            let mut c = search();
            c.url = url.into();
            assert!(problem(&c).contains("--ldap-url"), "{url}");
        }
        let mut c = template();
        c.url = "ldap://[::1]:389".into();
        c.validate().unwrap();
    }

    #[test]
    fn lookups_are_checked() {
        let mut c = template();
        c.users = UserLookup::Template("ou=people,dc=example,dc=org".into());
        assert!(problem(&c).contains("{user}"));
        let mut c = search();
        c.service = None;
        assert!(problem(&c).contains("service account"));
        let mut c = search();
        c.users = UserLookup::Search {
            base: "ou=people".into(),
            filter: "(uid={user}".into(),
        };
        assert!(problem(&c).contains("not a valid LDAP filter"));
        let mut c = search();
        c.users = UserLookup::Search {
            base: "ou=people".into(),
            filter: "(uid=alice)".into(),
        };
        assert!(problem(&c).contains("{user}"));
        let mut c = search();
        c.service = Some(ServiceAccount {
            dn: "cn=laker".into(),
            password: Secret::new(""),
        });
        assert!(problem(&c).contains("empty password"));
        let mut c = search();
        c.groups = GroupLookup::Search {
            base: "ou=groups".into(),
            filter: "(memberUid={user})".into(),
        };
        c.validate().unwrap();
        c.nesting_depth = 1;
        assert!(problem(&c).contains("{dn}"));
        let mut c = search();
        c.nesting_depth = MAX_NESTING_DEPTH + 1;
        assert!(problem(&c).contains("--ldap-nested-groups"));
    }

    #[test]
    fn limits_and_names_are_checked() {
        let mut c = search();
        c.cache_ttl = Duration::ZERO;
        assert!(problem(&c).contains("--ldap-cache-secs"));
        let mut c = search();
        c.timeout = Duration::from_secs(301);
        assert!(problem(&c).contains("--ldap-timeout-secs"));
        let mut c = search();
        c.max_connections = 0;
        assert!(problem(&c).contains("--ldap-max-connections"));
        let mut c = search();
        c.name_prefix = "ldap".into();
        assert!(problem(&c).contains("--ldap-name-prefix"));
        let mut c = search();
        c.group_roles = vec![("cn=x,dc=y".into(), "not a role".into())];
        assert!(problem(&c).contains("role"), "{}", problem(&c));
    }

    #[test]
    fn name_value_settings_parse() {
        assert_eq!(
            parse_group_role("cn=analysts,ou=groups,dc=example,dc=org=Analyst").unwrap(),
            (
                "cn=analysts,ou=groups,dc=example,dc=org".to_string(),
                "analyst".to_string()
            )
        );
        assert_eq!(
            parse_group_role(" cn=a,dc=b = admin ").unwrap(),
            ("cn=a,dc=b".to_string(), "admin".to_string())
        );
        assert!(parse_group_role("analysts=analyst").is_err(), "not a DN");
        assert!(parse_group_role("cn=a,dc=b=").is_err());
        assert!(parse_group_role("analyst").is_err());
        assert_eq!(
            parse_attribute("departmentNumber=department").unwrap(),
            ("departmentNumber".to_string(), "department".to_string())
        );
        assert_eq!(
            parse_attribute("mail").unwrap(),
            ("mail".to_string(), "mail".to_string())
        );
        assert!(parse_attribute("=x").is_err());
        assert!(parse_attribute("dept number=x").is_err());
        assert!(parse_attribute("1dept").is_err());
    }

    #[test]
    fn mapped_roles_are_stored_as_the_catalog_names_them() {
        let mut c = search();
        c.group_roles = vec![(
            "CN=Analysts, OU=Groups,DC=example,DC=org".into(),
            "Analyst".into(),
        )];
        c.validate().unwrap();
        assert_eq!(
            c.normalized_group_roles(),
            vec![(
                "cn=analysts,ou=groups,dc=example,dc=org".to_string(),
                "analyst".to_string()
            )]
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let shown = format!("{:?}", search());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
