//! Replicas that advertise their address: a heartbeat per replica, and the
//! list of those seen recently.

use std::time::Duration;

use sqlx::Row;

use crate::db::now_ms;
use crate::error::Result;
use crate::store::Catalog;

impl Catalog {
    /// Records that the replica at `url` is alive now.
    pub async fn replica_heartbeat(&self, url: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (url, seen_at) VALUES ($1, $2) \
             ON CONFLICT (url) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(url)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the replica at `url` (it is shutting down).
    pub async fn forget_replica(&self, url: &str) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE url = $1")
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Addresses of the replicas seen within `window`, in order.
    pub async fn live_replicas(&self, window: Duration) -> Result<Vec<String>> {
        let since = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT url FROM replicas WHERE seen_at >= $1 ORDER BY url")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("url")?))
            .collect()
    }
}
