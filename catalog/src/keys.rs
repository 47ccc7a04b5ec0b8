//! Service accounts and API keys. The catalog stores key records with an
//! argon2 hash of the secret; generating and checking secrets is the auth
//! crate's job.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{now_ms, or_already_exists};
use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// A stored API key (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKey {
    /// Public identifier, part of the key text.
    pub id: String,
    /// The user or service account the key authenticates as.
    pub principal: String,
    /// argon2 PHC hash of the secret part.
    #[serde(skip)]
    pub secret_hash: String,
    /// Free text (what the key is for).
    pub description: String,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: i64,
    /// Expiry, Unix epoch milliseconds; 0: never.
    pub expires_at: i64,
    /// Revocation time, Unix epoch milliseconds; 0: not revoked.
    pub revoked_at: i64,
}

impl ApiKey {
    /// Whether the key may be used at `now_ms`.
    pub fn is_usable(&self, now_ms: i64) -> bool {
        self.revoked_at == 0 && (self.expires_at == 0 || now_ms < self.expires_at)
    }
}

impl Catalog {
    /// Stores a new key for an existing principal.
    pub async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        if self.user(&key.principal).await?.is_none() {
            return Err(CatalogError::not_found("principal", &key.principal));
        }
        sqlx::query(
            "INSERT INTO api_keys (id, principal, secret_hash, description, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(&key.id)
        .bind(&key.principal)
        .bind(&key.secret_hash)
        .bind(&key.description)
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map_err(or_already_exists("api key", &key.id))?;
        Ok(())
    }

    /// Looks up a key by id.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, principal, secret_hash, description, created_at, expires_at, revoked_at \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// The keys of `principal`, newest first.
    pub async fn api_keys_of(&self, principal: &str) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, principal, secret_hash, description, created_at, expires_at, revoked_at \
             FROM api_keys WHERE principal = $1 ORDER BY created_at DESC, id",
        )
        .bind(principal)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; it stops working on the next handshake.
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        let key = self
            .api_key(id)
            .await?
            .ok_or_else(|| CatalogError::not_found("api key", id))?;
        if done.rows_affected() == 0 {
            tracing::debug!(key = id, "api key was already revoked");
        }
        Ok(key)
    }
}

fn key_from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        principal: row.try_get("principal")?,
        secret_hash: row.try_get("secret_hash")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
