//! Where datasets may live: each configured store's URL is an allowed
//! prefix, and the server's own lake directory is one too. Registering a
//! dataset anywhere else — another bucket, a path outside the prefix, `..`
//! segments, an unconfigured store — is refused; so is a place that
//! overlaps the data of a dataset the registrant may not read in full.

use laker_auth::{Action, Authorizer, Principal};
use laker_catalog::store::validate_location;
use laker_catalog::{Catalog, DatasetName, GrantPolicy};
use url::Url;

use crate::error::{IngestError, Result};

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
            Err(IngestError::FailedPrecondition(format!(
                "location '{location}' is not on a store this server has configured; configured stores: {}",
                self.describe()
            )))
        } else {
            Err(IngestError::InvalidArgument(format!(
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

/// Where a location points, comparable across spellings: the store kind,
/// the bucket or container, and the path's decoded segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    kind: &'static str,
    root: String,
    /// The Azure storage account, when the location names it (`az://`
    /// takes it from the store's configuration: any account).
    account: Option<String>,
    segments: Vec<String>,
}

impl Place {
    /// `None` for text that is not a location (never registered).
    fn of(location: &str) -> Option<Self> {
        let url = Url::parse(location).ok()?;
        let host = || url.host_str().map(str::to_ascii_lowercase);
        let (kind, root, account) = match url.scheme() {
            "file" => ("file", String::new(), None),
            "s3" | "s3a" => ("s3", host()?, None),
            "gs" => ("gs", host()?, None),
            // `az://container/…` and `abfss://container@account.dfs…/…`.
            "az" => ("az", host()?, None),
            "abfs" | "abfss" => match url.username() {
                "" => ("az", host()?, None),
                container => {
                    let account = host()?.split('.').next().map(str::to_string);
                    ("az", container.to_ascii_lowercase(), account)
                }
            },
            _ => return None,
        };
        // Exactly the parts readers resolve the location to (object_store
        // decodes the whole path, then splits it).
        let segments = object_store::path::Path::from_url_path(url.path())
            .ok()?
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        Some(Self {
            kind,
            root,
            account,
            segments,
        })
    }

    /// The same place, or one inside the other.
    fn overlaps(&self, other: &Self) -> bool {
        let accounts = match (&self.account, &other.account) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.kind == other.kind
            && self.root == other.root
            && accounts
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a == b)
    }
}

/// Whether a `candidate` location overlaps a registered one: the same
/// place, or one inside the other — whatever the spelling (`s3a://`,
/// `abfss://`, percent-encoding, `//`). A candidate that cannot be resolved
/// counts as overlapping (refused); a registered location that cannot be
/// resolved is never read.
pub fn overlap(candidate: &str, registered: &str) -> bool {
    match (Place::of(candidate), Place::of(registered)) {
        (Some(a), Some(b)) => a.overlaps(&b),
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Refuses to put dataset `name` at `location` when that overlaps
/// (equals, contains or lies inside) another dataset's location that
/// `principal` may not read in full — no row filter, no mask: a second
/// registration there would read the same files unfiltered. Undiscoverable
/// datasets are not named.
pub async fn claim(
    catalog: &Catalog,
    authorizer: &Authorizer,
    principal: &Principal,
    name: &DatasetName,
    location: &str,
) -> Result<()> {
    for other in catalog.datasets().await? {
        if other.name == *name || !overlap(location, &other.location) {
            continue;
        }
        let access = authorizer.access(principal, &other.name).await?;
        if access.read.iter().any(GrantPolicy::is_unrestricted) {
            continue;
        }
        let whose = if access.discover {
            format!("dataset '{}'", other.name)
        } else {
            "a dataset you may not see".to_string()
        };
        return Err(IngestError::PermissionDenied(format!(
            "location '{location}' overlaps the location of {whose}; registering it \
             needs a read grant without row filters or masks on that dataset"
        )));
    }
    Ok(())
}

/// Refuses to put dataset `name` at `location` when that overlaps another
/// dataset's location at all, whoever may read it: for a dataset made for
/// another principal to read and write (a curated dataset of an onboarded
/// client), where what the registrant may read proves nothing. Datasets
/// `principal` may not discover are not named.
pub async fn claim_alone(
    catalog: &Catalog,
    authorizer: &Authorizer,
    principal: &Principal,
    name: &DatasetName,
    location: &str,
) -> Result<()> {
    for other in catalog.datasets().await? {
        if other.name == *name || !overlap(location, &other.location) {
            continue;
        }
        let whose = if authorizer
            .allows(principal, Action::Discover, &other.name)
            .await?
        {
            format!("dataset '{}'", other.name)
        } else {
            "a dataset you may not see".to_string()
        };
        return Err(IngestError::FailedPrecondition(format!(
            "dataset '{name}' would be made at a location that overlaps the location of \
             {whose}; remove or move that dataset first"
        )));
    }
    Ok(())
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
    fn overlaps_whatever_the_spelling() {
        assert!(overlap("s3://lake/data/a/", "s3://lake/data/a"));
        assert!(overlap("s3://lake/data/", "s3://lake/data/a/b/"));
        assert!(overlap("s3://lake/data/a/b/", "s3a://LAKE/data/"));
        assert!(overlap(
            "file:///srv/lake/ns/x/",
            "file:///srv/lake/ns/x/part.parquet"
        ));
        assert!(
            overlap("file:///srv/lake//ns/x/", "file:///srv/lake/other/"),
            "unresolvable"
        );
        assert!(overlap("file:///srv/lake/n%73/x/", "file:///srv/lake/ns/"));
        assert!(overlap(
            "s3://lake/data/finance%2Fledger/",
            "s3://lake/data/finance/ledger/"
        ));
        assert!(overlap(
            "s3://lake/data/finance%2F",
            "s3://lake/data/finance/ledger/"
        ));
        assert!(overlap(
            "abfss://raw@acct.dfs.core.windows.net/t/",
            "az://raw/t/2024/"
        ));
        assert!(!overlap(
            "abfss://raw@one.dfs.core.windows.net/t/",
            "abfss://raw@two.dfs.core.windows.net/t/"
        ));
        assert!(!overlap("s3://lake/data/a/", "s3://lake/data/ab/"));
        assert!(!overlap("s3://lake/data/a/", "s3://other/data/a/"));
        assert!(!overlap("s3://lake/a/", "gs://lake/a/"));
        assert!(overlap("not a url", "s3://lake/"), "unresolvable: refused");
        assert!(!overlap("s3://lake/", "not a url"));
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
