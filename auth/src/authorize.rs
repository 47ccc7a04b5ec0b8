//! Deciding what an authenticated principal may do.

use laker_catalog::{Catalog, Dataset, DatasetName};

use crate::error::{AuthError, Result};
use crate::principal::Principal;

/// Actions a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Download a dataset (and see it listed and described).
    Read,
    /// Register, change, refresh and delete datasets; with a `namespace.*`
    /// or `*` pattern also create and delete the namespace.
    Admin,
}

impl Action {
    /// The action's name in grants.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
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

    /// Whether `principal` may perform `action` on `dataset`.
    pub async fn allows(
        &self,
        principal: &Principal,
        action: Action,
        dataset: &DatasetName,
    ) -> Result<bool> {
        let grants = self.catalog.grants_of(&principal.name).await?;
        Ok(grants
            .iter()
            .any(|g| g.action == action.as_str() && g.covers(dataset)))
    }

    /// Fails with `PermissionDenied` unless `principal` may perform `action` on `dataset`.
    pub async fn require(
        &self,
        principal: &Principal,
        action: Action,
        dataset: &DatasetName,
    ) -> Result<()> {
        if self.allows(principal, action, dataset).await? {
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
        let grants = self.catalog.grants_of(&principal.name).await?;
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
    /// everything (a `*` grant) — needed to manage principals and keys.
    pub async fn require_global(&self, principal: &Principal, action: Action) -> Result<()> {
        let grants = self.catalog.grants_of(&principal.name).await?;
        if grants
            .iter()
            .any(|g| g.action == action.as_str() && g.pattern == "*")
        {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied(format!(
                "'{principal}' needs the '{}' grant on '*' to manage principals and keys",
                action.as_str()
            )))
        }
    }

    /// Keeps the datasets `principal` may perform `action` on.
    pub async fn filter_visible(
        &self,
        principal: &Principal,
        action: Action,
        datasets: Vec<Dataset>,
    ) -> Result<Vec<Dataset>> {
        let grants = self.catalog.grants_of(&principal.name).await?;
        Ok(datasets
            .into_iter()
            .filter(|d| {
                grants
                    .iter()
                    .any(|g| g.action == action.as_str() && g.covers(&d.name))
            })
            .collect())
    }
}
