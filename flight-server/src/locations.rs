//! Where datasets may live: each configured store's URL is an allowed
//! prefix, and the server's own lake directory is one too. Registering a
//! dataset anywhere else — another bucket, a path outside the prefix, `..`
//! segments, an unconfigured store — is refused.

use laker_catalog::store::validate_location;
use url::Url;

use crate::error::{Error, Result};

/// The allowed prefixes, by store name.
#[derive(Debug, Clone, Default)]
pub struct LocationPolicy {
    allowed: Vec<(String, Url)>,
}

impl LocationPolicy {
    /// A policy allowing nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows locations under `prefix` (a URL ending in `/`), on behalf of
    /// the store `name`.
    pub fn allow(&mut self, name: &str, prefix: Url) {
        self.allowed.push((name.to_string(), prefix));
    }

    /// The prefix allowed for the store `name`.
    pub fn prefix(&self, name: &str) -> Option<&Url> {
        self.allowed.iter().find(|(n, _)| n == name).map(|(_, u)| u)
    }

    /// The allowed prefixes.
    pub fn prefixes(&self) -> impl Iterator<Item = (&str, &Url)> {
        self.allowed.iter().map(|(n, u)| (n.as_str(), u))
    }

    /// The name of the store `location` is under, or why it is refused.
    pub fn check(&self, location: &str) -> Result<&str> {
        let url = validate_location(location)?;
        let text = url.as_str();
        let as_dir = if text.ends_with('/') {
            text.to_string()
        } else {
            format!("{text}/")
        };
        if let Some((name, _)) = self
            .allowed
            .iter()
            .find(|(_, prefix)| as_dir.starts_with(prefix.as_str()))
        {
            return Ok(name);
        }
        let same_store: Vec<String> = self
            .allowed
            .iter()
            .filter(|(_, p)| same_root(p, &url))
            .map(|(n, p)| format!("{n} ({p})"))
            .collect();
        if same_store.is_empty() {
            Err(Error::FailedPrecondition(format!(
                "location '{location}' is not on a store this server has configured; configured stores: {}",
                self.describe()
            )))
        } else {
            Err(Error::InvalidArgument(format!(
                "location '{location}' is outside the allowed prefix of its store: {}",
                same_store.join(", ")
            )))
        }
    }

    fn describe(&self) -> String {
        if self.allowed.is_empty() {
            return "none".into();
        }
        self.allowed
            .iter()
            .map(|(n, p)| format!("{n} ({p})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn same_root(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.authority() == b.authority()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LocationPolicy {
        let mut p = LocationPolicy::new();
        p.allow("lake", Url::parse("s3://lake/data/").unwrap());
        p.allow("local", Url::parse("file:///srv/lake/").unwrap());
        p
    }

    #[test]
    fn allows_inside_prefixes() {
        let p = policy();
        assert_eq!(p.check("s3://lake/data/trips/").unwrap(), "lake");
        assert_eq!(p.check("s3://lake/data/one.parquet").unwrap(), "lake");
        assert_eq!(p.check("s3://lake/data").unwrap(), "lake");
        assert_eq!(p.check("file:///srv/lake/x/").unwrap(), "local");
    }

    #[test]
    fn refuses_outside() {
        let p = policy();
        let msg = |l: &str| p.check(l).unwrap_err().to_string();
        assert!(msg("s3://lake/database/").contains("outside the allowed prefix"));
        assert!(msg("s3://lake/data/../secrets/").contains("'..'"));
        assert!(msg("s3://other/data/").contains("not on a store this server has configured"));
        assert!(msg("file:///etc/").contains("outside the allowed prefix"));
        assert!(msg("file:///srv/lake/%2e%2e/etc/").contains("'..'"));
        assert!(msg("file:///srv/lake/.%2E/etc/").contains("'..'"));
        assert!(msg("s3://lake/data/%2e/x/").contains("'..'"));
        assert!(msg("gs://lake/data/").contains("configured stores: lake (s3://lake/data/)"));
        assert!(msg("ftp://lake/data/").contains("unsupported dataset location scheme"));
    }
}
