//! Reading dead letters: filtered, newest first, paged by an opaque cursor.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::store::{AttemptRecord, Result};

/// Which dead letters to list. `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    pub workspace: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    /// Only letters older than this cursor (from a previous page's `next_cursor`).
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The event's `id`, also its `webhook-id`; redelivery keeps it.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub workspace: String,
    pub session: String,
    /// Unix milliseconds.
    pub enqueued_at: i64,
    pub died_at: i64,
    /// Why it stopped: the last status or error.
    pub reason: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// The callback body exactly as it was sent.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadPage {
    pub items: Vec<DeadLetter>,
    /// Pass as `cursor` to get the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

pub fn page(conn: &Connection, f: &DeadFilter) -> Result<DeadPage> {
    let limit = f.limit.clamp(1, 500);
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, type, workspace, session, enqueued_at, died_at, reason, attempt_log, body
         FROM callback_dead
         WHERE (?1 IS NULL OR workspace = ?1) AND (?2 IS NULL OR session = ?2)
           AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR seq < ?4)
         ORDER BY seq DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![f.workspace, f.session, f.kind, f.before, i64::from(limit) + 1],
        |r| {
            let log: String = r.get(8)?;
            let body: String = r.get(9)?;
            let letter = DeadLetter {
                id: r.get(1)?,
                kind: r.get(2)?,
                workspace: r.get(3)?,
                session: r.get(4)?,
                enqueued_at: r.get(5)?,
                died_at: r.get(6)?,
                reason: r.get(7)?,
                // Both columns were written by us as JSON; a damaged row still lists, just emptier.
                attempts: serde_json::from_str(&log).unwrap_or_default(),
                event: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            };
            Ok((r.get::<_, i64>(0)?, letter))
        },
    )?;
    let mut items: Vec<(i64, DeadLetter)> = rows.collect::<Result<_>>()?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| items.last().map(|(seq, _)| seq.to_string())).flatten();
    Ok(DeadPage { items: items.into_iter().map(|(_, l)| l).collect(), next_cursor })
}
