//! Per-workspace bounds on what the outbox keeps, so one tenant's failing or blackholed endpoint
//! cannot grow the database without bound:
//!
//! - queued events: past `callbacks.max_queued_per_workspace`, a workspace's oldest events that are
//!   not in flight move to dead letters (reason `workspace queue full`), where they stay visible
//!   and can be redelivered; the newest are kept and still go out in order;
//! - dead letters older than `callbacks.dead_letter_max_age` are deleted, and each workspace keeps
//!   at most `callbacks.dead_letters_per_workspace` (its newest).
//!
//! Runs at start and then every [`PRUNE_EVERY`], off the async threads, until the outbox stops.
//! Between runs a workspace may pass its queue bound by what it enqueues in that time.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::config::CallbacksConfig;
use super::error::OutboxError;
use super::outbox::{now_ms, Outbox};

/// How often the bounds are applied.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The reason a dead letter moved there because its workspace's queue was full.
pub const QUEUE_FULL: &str = "workspace queue full (callbacks.max_queued_per_workspace)";

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub per_workspace: usize,
    pub max_queued_per_workspace: usize,
}

impl From<&CallbacksConfig> for Retention {
    fn from(cfg: &CallbacksConfig) -> Self {
        Self {
            max_age: cfg.dead_letter_max_age,
            per_workspace: cfg.dead_letters_per_workspace,
            max_queued_per_workspace: cfg.max_queued_per_workspace,
        }
    }
}

/// Moves each workspace's oldest queued events past `keep` (not those in flight) to dead
/// letters; returns how many moved.
pub fn bound_queues(conn: &mut Connection, now_ms: i64, keep: usize) -> rusqlite::Result<usize> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    let over: Vec<i64> = {
        let mut stmt = tx.prepare(
            "SELECT seq FROM (
                SELECT seq, in_flight,
                       ROW_NUMBER() OVER (PARTITION BY workspace ORDER BY seq DESC) AS newer
                FROM callback_outbox)
             WHERE newer > ?1 AND in_flight = 0 ORDER BY seq",
        )?;
        let rows = stmt.query_map([keep], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for seq in &over {
        tx.execute(
            "INSERT INTO callback_dead (id, type, workspace, session, body, enqueued_at, died_at, reason, attempt_log)
             SELECT id, type, workspace, session, body, enqueued_at, ?2, ?3, attempt_log
             FROM callback_outbox WHERE seq = ?1",
            params![seq, now_ms, QUEUE_FULL],
        )?;
        tx.execute("DELETE FROM callback_outbox WHERE seq = ?1", [seq])?;
    }
    tx.commit()?;
    Ok(over.len())
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
    /// Applies `retention` now: returns (queued events moved to dead letters, letters deleted).
    pub async fn apply_retention(
        &self,
        retention: Retention,
    ) -> Result<(usize, usize), OutboxError> {
        let keep = retention.max_queued_per_workspace;
        let moved = self.inner.db(move |conn| bound_queues(conn, now_ms(), keep)).await?;
        if moved > 0 {
            let m = &self.inner.metrics;
            m.queued.dec_by(moved as i64);
            m.dead.inc_by(moved as u64);
        }
        let deleted = self.inner.db(move |conn| prune(conn, now_ms(), retention)).await?;
        Ok((moved, deleted))
    }
}

/// Applies the bounds now and every [`PRUNE_EVERY`] until the outbox stops.
pub fn spawn(outbox: Outbox, retention: Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !outbox.inner.stopping.load(Ordering::SeqCst) {
            match outbox.apply_retention(retention).await {
                Ok((0, 0)) => {}
                Ok((moved, deleted)) => tracing::warn!(
                    moved_to_dead_letters = moved,
                    dead_letters_deleted = deleted,
                    "callbacks outbox bounds applied"
                ),
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
        let retention = Retention {
            max_age: Duration::from_secs(30 * 24 * 3600),
            per_workspace: 3,
            max_queued_per_workspace: 10,
        };
        assert_eq!(prune(&mut conn, now, retention).unwrap(), 3);
        assert_eq!(ids(&conn), ["a1", "b2", "b3", "b4", "a2"]);
        assert_eq!(prune(&mut conn, now, retention).unwrap(), 0);
    }

    fn queue(conn: &Connection, id: &str, workspace: &str, in_flight: bool) {
        conn.execute(
            "INSERT INTO callback_outbox (id, type, workspace, session, body, enqueued_at, next_attempt_at, in_flight)
             VALUES (?1, 'session.status', ?2, 'main', '{}', 0, 0, ?3)",
            params![id, workspace, in_flight],
        )
        .unwrap();
    }

    #[test]
    fn a_workspace_past_its_queue_bound_moves_its_oldest_to_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("sidecar.db")).unwrap();
        // A blackholed tenant: its head is in flight and must stay; the next oldest move.
        queue(&conn, "a0", "a", true);
        for i in 1..6 {
            queue(&conn, &format!("a{i}"), "a", false);
        }
        queue(&conn, "b0", "b", false);
        assert_eq!(bound_queues(&mut conn, 42, 3).unwrap(), 2);
        let left: Vec<String> = {
            let mut stmt = conn.prepare("SELECT id FROM callback_outbox ORDER BY seq").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(left, ["a0", "a3", "a4", "a5", "b0"]);
        assert_eq!(ids(&conn), ["a1", "a2"]);
        let reason: String =
            conn.query_row("SELECT reason FROM callback_dead LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(reason, QUEUE_FULL);
        assert_eq!(bound_queues(&mut conn, 43, 3).unwrap(), 0);
    }
}
