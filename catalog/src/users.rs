//! User accounts and their grants.

use sqlx::Row;

use crate::db::{is_unique_violation, now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::model::{Grant, User};
use crate::names::validate_ident;
use crate::store::Catalog;

impl Catalog {
    /// Creates a user with an already hashed password.
    pub async fn create_user(&self, name: &str, password_hash: &str) -> Result<User> {
        let user = User {
            name: validate_ident("user", name)?,
            password_hash: password_hash.to_string(),
            disabled: false,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO users (name, password_hash, disabled, created_at) VALUES ($1, $2, 0, $3)",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("user", &user.name))?;
        Ok(user)
    }

    /// Looks up a user; `None` when there is no such user (or the name is invalid).
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let Ok(name) = validate_ident("user", name) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT name, password_hash, disabled, created_at FROM users WHERE name = $1",
        )
        .bind(&name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(User {
                name: row.try_get("name")?,
                password_hash: row.try_get("password_hash")?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Enables or disables a user.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let name = validate_ident("user", name)?;
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(&name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found("user", name));
        }
        Ok(())
    }

    /// Grants `action` on datasets matching `pattern` (`ns.*`, `ns.ds` or `*`).
    /// Granting something already granted is a no-op.
    pub async fn grant(&self, principal: &str, pattern: &str, action: &str) -> Result<Grant> {
        let grant = Grant {
            principal: validate_ident("user", principal)?,
            pattern: validate_pattern(pattern)?,
            action: validate_ident("action", action)?,
        };
        let result =
            sqlx::query("INSERT INTO grants (principal, pattern, action) VALUES ($1, $2, $3)")
                .bind(&grant.principal)
                .bind(&grant.pattern)
                .bind(&grant.action)
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(grant),
            Err(e) if is_unique_violation(&e) => Ok(grant),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(CatalogError::not_found("user", grant.principal))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The grants held by `principal`.
    pub async fn grants_of(&self, principal: &str) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT principal, pattern, action FROM grants WHERE principal = $1 ORDER BY pattern, action",
        )
        .bind(principal)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Grant {
                    principal: row.try_get("principal")?,
                    pattern: row.try_get("pattern")?,
                    action: row.try_get("action")?,
                })
            })
            .collect()
    }
}

/// Normalises and checks a grant pattern.
fn validate_pattern(pattern: &str) -> Result<String> {
    let pattern = pattern.trim().to_ascii_lowercase();
    if pattern == "*" {
        return Ok(pattern);
    }
    match pattern.split_once('.') {
        Some((ns, "*")) => Ok(format!("{}.*", validate_ident("namespace", ns)?)),
        Some((ns, ds)) => Ok(format!(
            "{}.{}",
            validate_ident("namespace", ns)?,
            validate_ident("dataset", ds)?
        )),
        None => Err(CatalogError::invalid(format!(
            "invalid grant pattern '{pattern}': expected '*', 'namespace.*' or 'namespace.dataset'"
        ))),
    }
}
