//! Roles and the principals that hold them.

use sqlx::Row;

use crate::access::Role;
use crate::db::{now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::grants::validate_role;
use crate::names::validate_ident;
use crate::store::Catalog;

impl Catalog {
    /// Creates a role.
    pub async fn create_role(&self, name: &str, description: &str) -> Result<Role> {
        let role = Role {
            name: validate_role(name)?,
            description: description.to_string(),
            created_at: now_ms(),
            members: Vec::new(),
        };
        sqlx::query("INSERT INTO roles (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(&role.name)
            .bind(&role.description)
            .bind(role.created_at)
            .execute(&self.pool)
            .await
            .map_err(or_already_exists("role", &role.name))?;
        Ok(role)
    }

    /// Looks up a role with its members; `None` when there is none.
    pub async fn role(&self, name: &str) -> Result<Option<Role>> {
        let Ok(name) = validate_role(name) else {
            return Ok(None);
        };
        let Some(row) =
            sqlx::query("SELECT name, description, created_at FROM roles WHERE name = $1")
                .bind(&name)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let members =
            sqlx::query("SELECT principal FROM role_members WHERE role = $1 ORDER BY principal")
                .bind(&name)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("principal"))
                .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(Role {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            created_at: row.try_get("created_at")?,
            members,
        }))
    }

    /// Every role with its members, by name.
    pub async fn roles(&self) -> Result<Vec<Role>> {
        let names = sqlx::query("SELECT name FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<Vec<String>, _>>()?;
        let mut roles = Vec::with_capacity(names.len());
        for name in names {
            if let Some(role) = self.role(&name).await? {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// Deletes a role, its grants and its memberships.
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        let name = validate_role(name)?;
        let mut tx = self.begin_write().await?;
        let removed = Self::delete_bound(
            &mut tx,
            &[
                "DELETE FROM access_grants WHERE grantee_kind = 'role' AND grantee = $1",
                "DELETE FROM role_members WHERE role = $1",
                "DELETE FROM roles WHERE name = $1",
            ],
            &name,
        )
        .await?;
        if removed == 0 {
            return Err(CatalogError::not_found("role", name));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives `principal` the role; a no-op when it already holds it.
    pub async fn add_role_member(&self, role: &str, principal: &str) -> Result<()> {
        let role = validate_role(role)?;
        let principal = validate_ident("user", principal)?;
        if self.role(&role).await?.is_none() {
            return Err(CatalogError::not_found("role", role));
        }
        if self.user(&principal).await?.is_none() {
            return Err(CatalogError::not_found("principal", principal));
        }
        sqlx::query(
            "INSERT INTO role_members (role, principal) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&role)
        .bind(&principal)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the role from `principal`; NotFound when it did not hold it.
    pub async fn remove_role_member(&self, role: &str, principal: &str) -> Result<()> {
        let role = validate_role(role)?;
        let principal = validate_ident("user", principal)?;
        let done = sqlx::query("DELETE FROM role_members WHERE role = $1 AND principal = $2")
            .bind(&role)
            .bind(&principal)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found(
                "role membership",
                format!("{principal} in {role}"),
            ));
        }
        Ok(())
    }

    /// The roles `principal` holds, by name.
    pub async fn roles_of(&self, principal: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query("SELECT role FROM role_members WHERE principal = $1 ORDER BY role")
                .bind(principal)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("role"))
                .collect::<Result<Vec<String>, _>>()?,
        )
    }
}
