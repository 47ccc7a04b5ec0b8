//! Failed logins counted in the catalog, so that every replica on one
//! catalog sees the failures of all: one row per subject (a login name's
//! digest or a source address, as the auth crate forms them) with the
//! failures of its current window. Windows are fixed: the first failure
//! after one ended starts the next.

use sqlx::Row;

use crate::error::Result;
use crate::store::Catalog;

/// The failures of one subject in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// When the window began, Unix epoch milliseconds.
    pub window_start: i64,
    /// Failures counted in it.
    pub failures: i64,
}

impl Catalog {
    /// The failures of `subject` in a window that began after
    /// `since_ms` (one that began earlier has ended); `None` when there
    /// are none.
    pub async fn login_failures(
        &self,
        subject: &str,
        since_ms: i64,
    ) -> Result<Option<LoginFailures>> {
        let row = sqlx::query(
            "SELECT window_start, failures FROM login_failures \
             WHERE subject = $1 AND window_start > $2",
        )
        .bind(subject)
        .bind(since_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(LoginFailures {
            window_start: row.try_get("window_start")?,
            failures: row.try_get("failures")?,
        }))
    }

    /// Counts one failure of `subject` at `now_ms`, in one statement (so
    /// replicas counting at once lose none): in its window, or in a new
    /// one starting now if its window began at or before `ended_ms`.
    pub async fn record_login_failure(
        &self,
        subject: &str,
        now_ms: i64,
        ended_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_failures (subject, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (subject) DO UPDATE SET \
             failures = CASE WHEN login_failures.window_start <= $3 THEN 1 \
                        ELSE login_failures.failures + 1 END, \
             window_start = CASE WHEN login_failures.window_start <= $3 \
                            THEN excluded.window_start ELSE login_failures.window_start END",
        )
        .bind(subject)
        .bind(now_ms)
        .bind(ended_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the failures of `subject` (its login succeeded).
    pub async fn clear_login_failures(&self, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the windows that began at or before `ended_ms` (they have
    /// ended); returns how many.
    pub async fn prune_login_failures(&self, ended_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
            .bind(ended_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
