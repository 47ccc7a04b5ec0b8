//! Grants held by users and roles.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::{Grant, GrantPolicy, Grantee, validate_action, validate_pattern};
use crate::db::now_ms;
use crate::error::{CatalogError, Result};
use crate::names::validate_ident;
use crate::store::Catalog;

/// The columns every grant query selects.
macro_rules! grant_query {
    ($condition:literal) => {
        concat!(
            "SELECT grantee_kind, grantee, pattern, action, row_filter, column_masks \
             FROM access_grants WHERE ",
            $condition,
            " ORDER BY grantee_kind, grantee, pattern, action"
        )
    };
}

impl Catalog {
    /// Grants `action` on datasets matching `pattern` (`ns.*`, `ns.ds` or
    /// `*`) to user `principal`, with no row filter or masks. Granting
    /// something already granted is a no-op.
    pub async fn grant(&self, principal: &str, pattern: &str, action: &str) -> Result<Grant> {
        self.put_grant(
            Grantee::User(principal.to_string()),
            pattern,
            action,
            GrantPolicy::default(),
        )
        .await
    }

    /// Creates or replaces the grant of `action` on `pattern` to `grantee`,
    /// with `policy` (a row filter and column masks). The grantee must exist.
    pub async fn put_grant(
        &self,
        grantee: Grantee,
        pattern: &str,
        action: &str,
        policy: GrantPolicy,
    ) -> Result<Grant> {
        let grant = Grant {
            grantee: grantee.validated()?,
            pattern: validate_pattern(pattern)?,
            action: validate_action(action)?,
            policy: policy.normalised(),
        };
        if grant.action != "read" && !grant.policy.is_unrestricted() {
            return Err(CatalogError::invalid(format!(
                "row filters and column masks apply to 'read' grants, not '{}'",
                grant.action
            )));
        }
        self.require_grantee(&grant.grantee).await?;
        let masks = serde_json::to_string(&grant.policy.column_masks)
            .map_err(|e| CatalogError::invalid(format!("invalid column masks: {e}")))?;
        sqlx::query(
            "INSERT INTO access_grants (grantee_kind, grantee, pattern, action, row_filter, column_masks, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (grantee_kind, grantee, pattern, action) \
             DO UPDATE SET row_filter = excluded.row_filter, column_masks = excluded.column_masks",
        )
        .bind(grant.grantee.kind())
        .bind(grant.grantee.name())
        .bind(&grant.pattern)
        .bind(&grant.action)
        .bind(grant.policy.row_filter.as_deref().unwrap_or(""))
        .bind(&masks)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(grant)
    }

    /// Removes a grant; NotFound when there is no such grant.
    pub async fn revoke_grant(&self, grantee: Grantee, pattern: &str, action: &str) -> Result<()> {
        let grantee = grantee.validated()?;
        let pattern = validate_pattern(pattern)?;
        let action = validate_action(action)?;
        let done = sqlx::query(
            "DELETE FROM access_grants WHERE grantee_kind = $1 AND grantee = $2 AND pattern = $3 AND action = $4",
        )
        .bind(grantee.kind())
        .bind(grantee.name())
        .bind(&pattern)
        .bind(&action)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found(
                "grant",
                format!("{action} on {pattern} to {grantee}"),
            ));
        }
        Ok(())
    }

    /// The grants held directly by user `principal`.
    pub async fn grants_of(&self, principal: &str) -> Result<Vec<Grant>> {
        self.grants_where(
            grant_query!("grantee_kind = 'user' AND grantee = $1"),
            &[principal],
        )
        .await
    }

    /// Every grant that applies to `principal`: its own, those of the roles
    /// it holds in the catalog, and those of `extra_roles` (roles an external
    /// identity provider vouched for). `local` is false for principals that
    /// are not catalog users; only `extra_roles` count for them.
    pub async fn effective_grants(
        &self,
        principal: &str,
        local: bool,
        extra_roles: &[String],
    ) -> Result<Vec<Grant>> {
        let mut grants = if local {
            self.grants_where(
                grant_query!(
                    "(grantee_kind = 'user' AND grantee = $1) OR (grantee_kind = 'role' AND grantee IN \
                     (SELECT role FROM role_members WHERE principal = $1))"
                ),
                &[principal],
            )
            .await?
        } else {
            Vec::new()
        };
        for role in extra_roles {
            grants.extend(
                self.grants_where(
                    grant_query!("grantee_kind = 'role' AND grantee = $1"),
                    &[role],
                )
                .await?,
            );
        }
        Ok(grants)
    }

    /// Every grant, optionally only those of one grantee.
    pub async fn list_grants(&self, grantee: Option<Grantee>) -> Result<Vec<Grant>> {
        match grantee {
            None => self.grants_where(grant_query!("1 = 1"), &[]).await,
            Some(g) => {
                let g = g.validated()?;
                self.grants_where(
                    grant_query!("grantee_kind = $1 AND grantee = $2"),
                    &[g.kind(), g.name()],
                )
                .await
            }
        }
    }

    async fn grants_where(&self, sql: &'static str, binds: &[&str]) -> Result<Vec<Grant>> {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn require_grantee(&self, grantee: &Grantee) -> Result<()> {
        let exists = match grantee {
            Grantee::User(name) => self.user(name).await?.is_some(),
            Grantee::Role(name) => self.role(name).await?.is_some(),
        };
        if exists {
            Ok(())
        } else {
            Err(CatalogError::not_found(
                match grantee {
                    Grantee::User(_) => "principal",
                    Grantee::Role(_) => "role",
                },
                grantee.name(),
            ))
        }
    }
}

fn grant_from_row(row: &AnyRow) -> Result<Grant> {
    let kind: String = row.try_get("grantee_kind")?;
    let row_filter: String = row.try_get("row_filter")?;
    let masks: String = row.try_get("column_masks")?;
    Ok(Grant {
        grantee: Grantee::from_parts(&kind, row.try_get("grantee")?)?,
        pattern: row.try_get("pattern")?,
        action: row.try_get("action")?,
        policy: GrantPolicy {
            row_filter: (!row_filter.is_empty()).then_some(row_filter),
            column_masks: serde_json::from_str(&masks)
                .map_err(|e| CatalogError::Corrupt(format!("grant column masks: {e}")))?,
        },
    })
}

/// Checks a role name.
pub(crate) fn validate_role(name: &str) -> Result<String> {
    validate_ident("role", name)
}
