//! Bounds on the dead letters, so one tenant's failing or blackholed endpoint cannot grow the
//! database without bound: letters older than `callbacks.dead_letter_max_age` are deleted, and
//! each workspace keeps at most `callbacks.dead_letters_per_workspace` (its newest).
//!
//! Runs at start and then every [`PRUNE_EVERY`], off the async threads, until the outbox stops.
//! (Queued events are bounded when they are committed: see [`super::store::insert`].)

use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::config::CallbacksConfig;
use super::error::OutboxError;
use super::outbox::{now_ms, Outbox};

/// How often the bounds are applied.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub per_workspace: usize,
}

impl From<&CallbacksConfig> for Retention {
    fn from(cfg: &CallbacksConfig) -> Self {
        Self { max_age: cfg.dead_letter_max_age, per_workspace: cfg.dead_letters_per_workspace }
    }
}

/// Deletes what `retention` no longer keeps; returns how many letters went.
pub fn prune(conn: &mut Connection, now_ms: i64, retention: Retention) -> rusqlite::Result<usize> {
    let cutoff =
        now_ms.saturating_sub(i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX));
    let keep = i64::try_from(retention.per_workspace).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    let old = tx.execute("DELETE FROM callback_dead WHERE died_at < ?1", [cutoff])?;
    let over = tx.execute(
        "DELETE FROM callback_dead WHERE seq IN (
            SELECT seq FROM (
                SELECT seq, ROW_NUMBER() OVER (PARTITION BY workspace ORDER BY seq DESC) AS newer
                FROM callback_dead)
            WHERE newer > ?1)",
        params![keep],
    )?;
    tx.commit()?;
    Ok(old + over)
}

impl Outbox {
    /// Applies `retention` now; returns how many dead letters were deleted.
    pub async fn apply_retention(&self, retention: Retention) -> Result<usize, OutboxError> {
        self.inner.db(move |conn| prune(conn, now_ms(), retention)).await
    }
}

/// Applies the bounds now and every [`PRUNE_EVERY`] until the outbox stops.
pub fn spawn(outbox: Outbox, retention: Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !outbox.inner.stopping.load(Ordering::SeqCst) {
            match outbox.apply_retention(retention).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(dead_letters_deleted = deleted, "callbacks dead letters pruned")
                }
                Err(e) => tracing::error!(error = %e, "cannot apply the callbacks outbox bounds"),
            }
            let mut left = PRUNE_EVERY;
            // Wake up now and then to notice a stop without holding the process open.
            while !left.is_zero() && !outbox.inner.stopping.load(Ordering::SeqCst) {
                let step = left.min(Duration::from_secs(1));
                tokio::time::sleep(step).await;
                left -= step;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(conn: &Connection, id: &str, workspace: &str, died_at: i64) {
        conn.execute(
            "INSERT INTO callback_dead (id, type, workspace, session, body, enqueued_at, died_at, reason, attempt_log)
             VALUES (?1, 'session.status', ?2, 'main', '{}', 0, ?3, 'HTTP 500', '[]')",
            params![id, workspace, died_at],
        )
        .unwrap();
    }

    fn ids(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT id FROM callback_dead ORDER BY seq").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn old_letters_and_a_workspace_s_overflow_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("sidecar.db")).unwrap();
        let day = 24 * 3600 * 1000;
        let now = 100 * day;
        dead(&conn, "old", "a", now - 31 * day);
        dead(&conn, "a1", "a", now - day);
        // A noisy tenant: five letters, only its newest three stay.
        for i in 0..5 {
            dead(&conn, &format!("b{i}"), "b", now - day + i);
        }
        dead(&conn, "a2", "a", now);
        let retention =
            Retention { max_age: Duration::from_secs(30 * 24 * 3600), per_workspace: 3 };
        assert_eq!(prune(&mut conn, now, retention).unwrap(), 3);
        assert_eq!(ids(&conn), ["a1", "b2", "b3", "b4", "a2"]);
        assert_eq!(prune(&mut conn, now, retention).unwrap(), 0);
    }
}
