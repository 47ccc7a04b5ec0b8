//! Bearer tokens revoked one by one, by their id: kept until no token they
//! could name is still alive, then forgotten.

use crate::db::now_ms;
use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// Longest token id accepted.
pub const MAX_TOKEN_ID_LEN: usize = 128;

impl Catalog {
    /// Records token `token_id` as revoked by `by`, until `expires_at_ms`
    /// (Unix epoch ms; after it the token has expired anyway). Returns
    /// `false` when it was revoked already. Entries that expired are
    /// deleted on the way.
    pub async fn revoke_token(&self, token_id: &str, by: &str, expires_at_ms: i64) -> Result<bool> {
        check_id(token_id)?;
        let now = now_ms();
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "INSERT INTO revoked_tokens (token_id, revoked_by, revoked_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (token_id) DO NOTHING",
        )
        .bind(token_id)
        .bind(by)
        .bind(now)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether token `token_id` was revoked (and its entry not yet expired).
    pub async fn token_revoked(&self, token_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT token_id FROM revoked_tokens WHERE token_id = $1")
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Deletes the entries that expired before `now_ms`; returns how many.
    pub async fn prune_revoked_tokens(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Refuses an empty or overlong token id, or one with other than
/// printable ASCII.
fn check_id(token_id: &str) -> Result<()> {
    let printable = token_id.bytes().all(|b| b.is_ascii_graphic());
    if token_id.is_empty() || token_id.len() > MAX_TOKEN_ID_LEN || !printable {
        return Err(CatalogError::invalid(format!(
            "invalid token id: expected 1 to {MAX_TOKEN_ID_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}
