//! Deciding what an authenticated principal may do.
//!
//! Grants allow one of four actions on `*`, `namespace.*` or
//! `namespace.dataset`. Any grant on a dataset makes it discoverable (listed,
//! its name and description visible); `read` downloads it through the
//! grant's row filter and column masks; `write` uploads to it; `admin`
//! manages it. A principal's grants are its own plus those of its roles.

use laker_catalog::Catalog;
use laker_catalog::{CatalogError, Dataset, DatasetName, Grant, GrantPolicy};

use crate::error::{AuthError, Result};
use crate::principal::Principal;

/// Actions a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the dataset listed and described (no data).
    Discover,
    /// Download a dataset, through the grant's row filter and column masks.
    Read,
    /// Upload to a dataset.
    Write,
    /// Register, change, refresh and delete datasets; with a `namespace.*`
    /// or `*` pattern also create and delete the namespace.
    Admin,
}

impl Action {
    /// The action's name in grants.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discover => "discover",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// Everything one principal may do with one dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetAccess {
    /// Any grant covers the dataset.
    pub discover: bool,
    /// The policies of the read grants covering it (empty: no read).
    pub read: Vec<GrantPolicy>,
    /// A write grant covers it.
    pub write: bool,
    /// An admin grant covers it.
    pub admin: bool,
}

impl DatasetAccess {
    fn from_grants<'a>(grants: impl Iterator<Item = &'a Grant>) -> Self {
        let mut access = Self::default();
        for g in grants {
            access.discover = true;
            match g.action.as_str() {
                "read" => access.read.push(g.policy.clone()),
                "write" => access.write = true,
                "admin" => access.admin = true,
                _ => {}
            }
        }
        access
    }

    /// Whether the access includes `action`.
    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::Discover => self.discover,
            Action::Read => !self.read.is_empty(),
            Action::Write => self.write,
            Action::Admin => self.admin,
        }
    }
}

/// Checks principals' grants held in the catalog.
#[derive(Debug, Clone)]
pub struct Authorizer {
    catalog: Catalog,
}

impl Authorizer {
    /// An authorizer reading grants from `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }

    /// Every grant that applies to `principal` (its own and its roles').
    pub async fn grants(&self, principal: &Principal) -> Result<Vec<Grant>> {
        Ok(self
            .catalog
            .effective_grants(&principal.name, principal.is_local(), &principal.roles)
            .await?)
    }

    /// What `principal` may do with `dataset`.
    pub async fn access(
        &self,
        principal: &Principal,
        dataset: &DatasetName,
    ) -> Result<DatasetAccess> {
        let grants = self.grants(principal).await?;
        Ok(DatasetAccess::from_grants(
            grants.iter().filter(|g| g.covers(dataset)),
        ))
    }

    /// Whether `principal` may perform `action` on `dataset`.
    pub async fn allows(
        &self,
        principal: &Principal,
        action: Action,
        dataset: &DatasetName,
    ) -> Result<bool> {
        Ok(self.access(principal, dataset).await?.allows(action))
    }

    /// Fails unless `principal` may perform `action` on `dataset`: with
    /// NotFound — exactly as for a dataset that does not exist — when the
    /// principal may not even discover it, else with PermissionDenied.
    /// Returns the principal's access for the caller to apply (read policies).
    pub async fn require(
        &self,
        principal: &Principal,
        action: Action,
        dataset: &DatasetName,
    ) -> Result<DatasetAccess> {
        let access = self.access(principal, dataset).await?;
        if !access.discover {
            return Err(CatalogError::not_found("dataset", dataset.to_string()).into());
        }
        if access.allows(action) {
            Ok(access)
        } else {
            Err(AuthError::PermissionDenied(format!(
                "'{principal}' may not {} dataset '{dataset}'",
                action.as_str()
            )))
        }
    }

    /// Fails with `PermissionDenied` unless `principal` may perform `action`
    /// on `dataset`, whether or not it exists or is discoverable (the answer
    /// is the same either way, so it reveals nothing). For administration,
    /// where the dataset may be about to be created.
    pub async fn require_grant(
        &self,
        principal: &Principal,
        action: Action,
        dataset: &DatasetName,
    ) -> Result<()> {
        if self.access(principal, dataset).await?.allows(action) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied(format!(
                "'{principal}' may not {} dataset '{dataset}'",
                action.as_str()
            )))
        }
    }

    /// Fails with `PermissionDenied` unless `principal` may perform `action`
    /// on the whole namespace `ns` (a `*` or `ns.*` grant).
    pub async fn require_namespace(
        &self,
        principal: &Principal,
        action: Action,
        ns: &str,
    ) -> Result<()> {
        let grants = self.grants(principal).await?;
        if grants
            .iter()
            .any(|g| g.action == action.as_str() && g.covers_namespace(ns))
        {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied(format!(
                "'{principal}' may not {} namespace '{ns}'",
                action.as_str()
            )))
        }
    }

    /// Fails with `PermissionDenied` unless `principal` holds `action` on
    /// everything (a `*` grant) — needed to manage principals, roles, grants
    /// and keys, and to read the whole audit log.
    pub async fn require_global(&self, principal: &Principal, action: Action) -> Result<()> {
        let grants = self.grants(principal).await?;
        if grants
            .iter()
            .any(|g| g.action == action.as_str() && g.pattern == "*")
        {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied(format!(
                "'{principal}' needs the '{}' grant on '*' to manage principals, roles, grants and keys",
                action.as_str()
            )))
        }
    }

    /// Keeps the datasets `principal` may discover, each with its access.
    pub async fn visible(
        &self,
        principal: &Principal,
        datasets: Vec<Dataset>,
    ) -> Result<Vec<(Dataset, DatasetAccess)>> {
        let grants = self.grants(principal).await?;
        Ok(datasets
            .into_iter()
            .filter_map(|d| {
                let access =
                    DatasetAccess::from_grants(grants.iter().filter(|g| g.covers(&d.name)));
                access.discover.then_some((d, access))
            })
            .collect())
    }
}
