//! Who is calling.

use std::collections::BTreeMap;

/// An authenticated caller, put into request extensions by the auth layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The user (or service account) name; for principals of an external
    /// identity provider, its configured prefix and the user claim.
    pub name: String,
    /// The API key the session was opened with, if any; revoking the key
    /// ends the session.
    pub key_id: Option<String>,
    /// The external identity provider that vouched for the principal, if
    /// any ([`crate::ldap::ISSUER`] for directory users). External
    /// principals are not catalog users: only the roles their token (or
    /// their directory groups) map to grant them anything.
    pub issuer: Option<String>,
    /// Roles an external identity provider's token or the directory's
    /// groups map to (catalog users' roles are read from the catalog on
    /// every call).
    pub roles: Vec<String>,
    /// Attributes row filters can read with `principal_attribute('name')`:
    /// from the catalog for users, from token claims for external
    /// principals, from the directory entry for directory users.
    pub attributes: BTreeMap<String, String>,
    /// When this server issued the call's bearer token (Unix epoch
    /// milliseconds); `None` for other credentials. Tokens issued before the
    /// account's revocation time are refused.
    pub issued_at_ms: Option<i64>,
    /// The id (`jti`) of the call's bearer token, when this server issued
    /// it; `None` for other credentials. A revoked id is refused.
    pub token_id: Option<String>,
}

impl Principal {
    /// A principal with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// A principal that logged in with API key `key_id`.
    pub fn with_key(name: impl Into<String>, key_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key_id: Some(key_id.into()),
            ..Self::default()
        }
    }

    /// Whether the principal is a catalog user (not an external identity).
    pub fn is_local(&self) -> bool {
        self.issuer.is_none()
    }

    /// Whether the principal is a user of the directory (LDAP), signed in
    /// with a password and holding a token of this server.
    pub fn is_directory(&self) -> bool {
        self.issuer.as_deref() == Some(crate::ldap::ISSUER)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}
