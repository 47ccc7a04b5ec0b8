//! The outbox of commit notifications: one row per event and sink, written
//! when a commit is announced and kept until that sink has the event, so a
//! restart or a sink that is down loses none. Any replica on the catalog may
//! deliver a row: a claim (`claimed_by` until `claimed_until`) keeps the
//! others off it while it is sent, and lapses if its replica dies. Times
//! are Unix epoch milliseconds, passed in by the caller.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Backend;
use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// Longest event id, sink name or claimer id accepted.
pub const MAX_OUTBOX_ID_LEN: usize = 128;

/// Longest error text kept with a failed attempt (longer ones are cut).
const MAX_ERROR_CHARS: usize = 1000;

/// The columns of `notification_outbox`, in the order [`from_row`] reads them.
macro_rules! outbox_columns {
    () => {
        "event_id, sink, payload, created_at, attempts, next_attempt_at, claimed_by, \
         claimed_until, delivered_at, last_error"
    };
}

/// Claims the due rows of one sink (`$3`): at most `$5` whose next attempt
/// is at or before `$4` and whose claim, if any, lapsed, for claimer `$1`
/// until `$2`. One statement, so two replicas never claim the same row; on
/// PostgreSQL the rows another replica is claiming are skipped, not waited for.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE notification_outbox SET claimed_by = $1, claimed_until = $2 \
             WHERE sink = $3 AND event_id IN (\
               SELECT event_id FROM notification_outbox \
               WHERE sink = $3 AND delivered_at IS NULL \
                 AND next_attempt_at <= $4 AND claimed_until <= $4 \
               ORDER BY next_attempt_at, created_at, event_id LIMIT $5",
            $lock,
            ") RETURNING ",
            outbox_columns!()
        )
    };
}

/// One notification: an event for one sink, and its delivery so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The event's id (a UUID), the same on every delivery.
    pub event_id: String,
    /// The sink it goes to (`webhook`, `nats`).
    pub sink: String,
    /// The event's JSON body, sent as stored.
    pub payload: String,
    /// When it was recorded.
    pub created_at: i64,
    /// Sends tried so far.
    pub attempts: i64,
    /// When it is due (again).
    pub next_attempt_at: i64,
    /// Who holds the claim on it, while one is held.
    pub claimed_by: Option<String>,
    /// When that claim lapses (0: never claimed, or released).
    pub claimed_until: i64,
    /// When it was delivered; `None` while pending.
    pub delivered_at: Option<i64>,
    /// Why the last failed send failed.
    pub last_error: Option<String>,
}

impl Catalog {
    /// Records event `event_id` for each of `sinks`, all or none. Recording
    /// an event again for a sink that has it changes nothing.
    pub async fn enqueue_notification(
        &self,
        event_id: &str,
        sinks: &[&str],
        payload: &str,
        now_ms: i64,
    ) -> Result<()> {
        check_id("event id", event_id)?;
        for sink in sinks {
            check_id("sink name", sink)?;
        }
        let mut tx = self.begin_write().await?;
        for sink in sinks {
            sqlx::query(
                "INSERT INTO notification_outbox \
                 (event_id, sink, payload, created_at, attempts, next_attempt_at, claimed_until) \
                 VALUES ($1, $2, $3, $4, 0, $4, 0) ON CONFLICT (event_id, sink) DO NOTHING",
            )
            .bind(event_id)
            .bind(*sink)
            .bind(payload)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims for `claimer` until `now_ms + lease_ms` at most `limit`
    /// notifications of `sink` that are due at `now_ms` and not claimed by
    /// anyone (or whose claim lapsed); oldest first.
    pub async fn claim_notifications(
        &self,
        sink: &str,
        claimer: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        check_id("claimer id", claimer)?;
        if limit < 1 {
            return Err(CatalogError::invalid(format!(
                "invalid limit {limit}: claim at least 1 notification"
            )));
        }
        let statement = match self.backend() {
            Backend::Sqlite => claim!(""),
            Backend::Postgres => claim!(" FOR UPDATE SKIP LOCKED"),
        };
        let rows = sqlx::query(statement)
            .bind(claimer)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(sink)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        // RETURNING promises no order.
        claimed.sort_by(|a, b| (a.created_at, &a.event_id).cmp(&(b.created_at, &b.event_id)));
        Ok(claimed)
    }

    /// Marks event `event_id` delivered to `sink` at `now_ms` (whoever holds
    /// the claim: it was sent); returns `false` when it was delivered
    /// already or is unknown.
    pub async fn notification_delivered(
        &self,
        event_id: &str,
        sink: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE notification_outbox SET delivered_at = $1, attempts = attempts + 1, \
             claimed_by = NULL, claimed_until = 0 \
             WHERE event_id = $2 AND sink = $3 AND delivered_at IS NULL",
        )
        .bind(now_ms)
        .bind(event_id)
        .bind(sink)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed send of event `event_id` to `sink` by `claimer`:
    /// `error`, and the next attempt at `next_attempt_at`; the claim is
    /// released. Returns `false` (and changes nothing) when `claimer` no
    /// longer holds the claim or the event was delivered meanwhile.
    pub async fn notification_failed(
        &self,
        event_id: &str,
        sink: &str,
        claimer: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<bool> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let done = sqlx::query(
            "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = $1, \
             last_error = $2, claimed_by = NULL, claimed_until = 0 \
             WHERE event_id = $3 AND sink = $4 AND claimed_by = $5 AND delivered_at IS NULL",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(event_id)
        .bind(sink)
        .bind(claimer)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases every claim `claimer` holds on pending notifications (they
    /// stay due as they were); returns how many.
    pub async fn release_notifications(&self, claimer: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE notification_outbox SET claimed_by = NULL, claimed_until = 0 \
             WHERE claimed_by = $1 AND delivered_at IS NULL",
        )
        .bind(claimer)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Notifications not yet delivered, for every sink.
    pub async fn pending_notifications(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM notification_outbox WHERE delivered_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// The notification of event `event_id` for `sink`, if recorded.
    pub async fn notification(&self, event_id: &str, sink: &str) -> Result<Option<Notification>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM notification_outbox WHERE event_id = $1 AND sink = $2"
        ))
        .bind(event_id)
        .bind(sink)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Deletes the notifications delivered before `before_ms`; returns how
    /// many. Pending ones stay, however old.
    pub async fn prune_notifications(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM notification_outbox \
             WHERE delivered_at IS NOT NULL AND delivered_at < $1",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

fn from_row(row: &AnyRow) -> Result<Notification> {
    Ok(Notification {
        event_id: row.try_get("event_id")?,
        sink: row.try_get("sink")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        claimed_by: row.try_get("claimed_by")?,
        claimed_until: row.try_get("claimed_until")?,
        delivered_at: row.try_get("delivered_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Refuses an empty or overlong id, or one with other than printable ASCII.
fn check_id(what: &str, id: &str) -> Result<()> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_OUTBOX_ID_LEN || !printable {
        return Err(CatalogError::invalid(format!(
            "invalid {what}: expected 1 to {MAX_OUTBOX_ID_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}
