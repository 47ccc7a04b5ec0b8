//! User accounts and service accounts.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::model::User;
use crate::names::validate_ident;
use crate::store::Catalog;

/// The columns every user query selects.
macro_rules! user_columns {
    () => {
        "name, password_hash, disabled, created_at, kind, attributes, tokens_not_before"
    };
}

/// Most attributes one principal may carry.
pub const MAX_ATTRIBUTES: usize = 64;

impl Catalog {
    /// Creates a user with an already hashed password.
    pub async fn create_user(&self, name: &str, password_hash: &str) -> Result<User> {
        self.insert_user(validate_ident("user", name)?, password_hash, "user")
            .await
    }

    /// Creates a service account: a principal without a password that
    /// authenticates with API keys.
    pub async fn create_service_account(&self, name: &str) -> Result<User> {
        self.insert_user(validate_ident("service account", name)?, "", "service")
            .await
    }

    async fn insert_user(&self, name: String, password_hash: &str, kind: &str) -> Result<User> {
        let user = User {
            name,
            password_hash: password_hash.to_string(),
            disabled: false,
            created_at: now_ms(),
            kind: kind.to_string(),
            attributes: BTreeMap::new(),
            tokens_not_before: 0,
        };
        sqlx::query(
            "INSERT INTO users (name, password_hash, disabled, created_at, kind, attributes) \
             VALUES ($1, $2, 0, $3, $4, '{}')",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(&user.kind)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("principal", &user.name))?;
        Ok(user)
    }

    /// Looks up a user; `None` when there is no such user (or the name is invalid).
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let Ok(name) = validate_ident("user", name) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name = $1"
        ))
        .bind(&name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user and service account, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Enables or disables a user.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let name = validate_ident("user", name)?;
        let sql = "UPDATE users SET disabled = $1 WHERE name = $2";
        self.update_principal(sql, i64::from(disabled), name, "principal")
            .await
    }

    /// Revokes every token of `name` issued before `unix_ms`.
    pub async fn revoke_tokens_before(&self, name: &str, unix_ms: i64) -> Result<()> {
        let name = validate_ident("user", name)?;
        let sql = "UPDATE users SET tokens_not_before = $1 WHERE name = $2";
        self.update_principal(sql, unix_ms, name, "principal").await
    }

    /// Replaces a user's password hash.
    pub async fn set_password_hash(&self, name: &str, password_hash: &str) -> Result<()> {
        let name = validate_ident("user", name)?;
        let sql = "UPDATE users SET password_hash = $1 WHERE name = $2 AND kind = 'user'";
        self.update_principal(sql, password_hash, name, "user")
            .await
    }

    /// Replaces a principal's attributes.
    pub async fn set_user_attributes(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let name = validate_ident("user", name)?;
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(CatalogError::invalid(format!(
                "a principal may carry at most {MAX_ATTRIBUTES} attributes"
            )));
        }
        for key in attributes.keys() {
            validate_ident("attribute", key)?;
        }
        let json = serde_json::to_string(attributes)
            .map_err(|e| CatalogError::invalid(format!("invalid attributes: {e}")))?;
        let sql = "UPDATE users SET attributes = $1 WHERE name = $2";
        self.update_principal(sql, json, name, "principal").await
    }

    /// Runs `sql`, an update of the principal `$2` (the validated `name`)
    /// to `value` (`$1`); `NotFound` for a `kind` when no row matched.
    async fn update_principal<'t, T>(
        &self,
        sql: &'static str,
        value: T,
        name: String,
        kind: &'static str,
    ) -> Result<()>
    where
        T: sqlx::Encode<'t, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let done = sqlx::query(sql)
            .bind(value)
            .bind(&name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogError::not_found(kind, name));
        }
        Ok(())
    }

    /// Deletes a principal with its keys, role memberships and grants.
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        let name = validate_ident("user", name)?;
        let mut tx = self.begin_write().await?;
        let removed = Self::delete_bound(
            &mut tx,
            &[
                "DELETE FROM access_grants WHERE grantee_kind = 'user' AND grantee = $1",
                "DELETE FROM role_members WHERE principal = $1",
                "DELETE FROM api_keys WHERE principal = $1",
                "DELETE FROM users WHERE name = $1",
            ],
            &name,
        )
        .await?;
        if removed == 0 {
            return Err(CatalogError::not_found("principal", name));
        }
        tx.commit().await?;
        Ok(())
    }
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    let attributes: String = row.try_get("attributes")?;
    Ok(User {
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
        kind: row.try_get("kind")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| CatalogError::Corrupt(format!("user attributes: {e}")))?,
        tokens_not_before: row.try_get("tokens_not_before")?,
    })
}
