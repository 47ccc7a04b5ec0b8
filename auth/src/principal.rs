//! Who is calling.

/// An authenticated caller, put into request extensions by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The user (or service account) name.
    pub name: String,
    /// The API key the session was opened with, if any; revoking the key
    /// ends the session.
    pub key_id: Option<String>,
}

impl Principal {
    /// A principal with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key_id: None,
        }
    }

    /// A principal that logged in with API key `key_id`.
    pub fn with_key(name: impl Into<String>, key_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key_id: Some(key_id.into()),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}
