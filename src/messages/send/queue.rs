//! The SQL of sending (tables in `schema.sql`): accepting a message (index row, queue row and
//! idempotency key in one transaction), taking the next job, recording each step of a send, and
//! the recipient cache. Plain functions over a [`Connection`]; callers run them through
//! `MessageStore::run`, on the blocking pool.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::messages::store::{self, now_ms, NewMessage, StoreError};
use crate::messages::Status;

/// The limits checked while accepting, in the same transaction as the insert.
#[derive(Debug, Clone)]
pub struct Caps {
    pub max_queued: u64,
    /// `None`: no daily cap (pacing off).
    pub daily_cap: Option<u64>,
    pub day_start_ms: i64,
    pub next_day_ms: i64,
    /// `on_limit: "queue"`: past a cap, schedule for `next_day_ms` instead of refusing.
    pub queue_on_limit: bool,
    /// The recipient's chat as parsed (`<digits>@c.us`, `…@g.us`, `…@lid`): a first contact
    /// counts against the new-chat cap.
    pub chat: String,
    /// `None`: no new-chat cap (pacing off).
    pub new_chat_cap: Option<u64>,
}

#[derive(Debug)]
pub enum Accept {
    /// Committed; the 202 body.
    Accepted(Value),
    /// The same Idempotency-Key and body again: the first answer.
    Repeat(Value),
    /// The same Idempotency-Key with another body.
    KeyReused,
    QueueFull,
    /// The daily cap; retry after this many seconds.
    DailyCap {
        retry_after_secs: u64,
    },
    /// The new-chat cap (this message would be a first contact); retry after this many seconds.
    NewChatCap {
        retry_after_secs: u64,
    },
}

pub struct Idem {
    pub key: String,
    pub hash: String,
}

/// Index row, queue row and idempotency key, all or nothing.
pub fn accept(
    c: &mut Connection,
    key: &SessionKey,
    msg: &NewMessage,
    idem: Option<&Idem>,
    response: &Value,
    expires_at: Option<i64>,
    caps: &Caps,
) -> Result<Accept, StoreError> {
    let (ws, s) = (key.workspace.as_str(), key.session.as_str());
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(idem) = idem {
        let prior: Option<(String, String)> = tx
            .query_row(
                "SELECT request_hash, response FROM send_idempotency WHERE workspace = ?1 AND session = ?2 AND key = ?3",
                params![ws, s, idem.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((hash, response)) = prior {
            return Ok(if hash == idem.hash {
                Accept::Repeat(serde_json::from_str(&response).unwrap_or(Value::Null))
            } else {
                Accept::KeyReused
            });
        }
    }
    let queued: u64 = tx.query_row(
        "SELECT COUNT(*) FROM send_queue WHERE workspace = ?1 AND session = ?2",
        params![ws, s],
        |r| r.get(0),
    )?;
    if queued >= caps.max_queued {
        return Ok(Accept::QueueFull);
    }
    let mut not_before = 0;
    if let Some(cap) = caps.daily_cap {
        let today: u64 = tx.query_row(
            "SELECT COUNT(*) FROM messages WHERE workspace = ?1 AND session = ?2 AND direction = 'out' AND created_at >= ?3",
            params![ws, s, caps.day_start_ms],
            |r| r.get(0),
        )?;
        if today >= cap {
            if !caps.queue_on_limit {
                let secs = ((caps.next_day_ms - now_ms()).max(1000) / 1000) as u64;
                return Ok(Accept::DailyCap { retry_after_secs: secs });
            }
            not_before = caps.next_day_ms;
        }
    }
    let first_contact = first_contact(&tx, key, &caps.chat)?;
    if let (Some(true), Some(cap)) = (first_contact, caps.new_chat_cap) {
        if new_chats_on(&tx, key, caps.day_start_ms, caps.next_day_ms)? >= cap {
            if !caps.queue_on_limit {
                let secs = ((caps.next_day_ms - now_ms()).max(1000) / 1000) as u64;
                return Ok(Accept::NewChatCap { retry_after_secs: secs });
            }
            not_before = caps.next_day_ms;
        }
    }
    if let Some(new) = first_contact {
        tx.execute(
            "INSERT INTO send_chats (workspace, session, chat, first_at, new) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ws, s, caps.chat, not_before.max(now_ms()), new],
        )?;
    }
    let tx_conn: &Connection = &tx;
    if !store::insert_in(tx_conn, key, msg)? {
        return Err(StoreError::Task(format!("message id {} already indexed", msg.id)));
    }
    tx.execute(
        "INSERT INTO send_queue (workspace, session, id, state, not_before, expires_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
        params![ws, s, msg.id.as_str(), not_before, expires_at],
    )?;
    if let Some(idem) = idem {
        tx.execute(
            "INSERT INTO send_idempotency (workspace, session, key, request_hash, id, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![ws, s, idem.key, idem.hash, msg.id.as_str(), response.to_string(), now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(Accept::Accepted(response.clone()))
}

/// `None`: the session sent to `chat` before. Otherwise whether this is a first contact: no
/// message of the index in that chat (by its id, or the LID a `queryExists` gave for it).
fn first_contact(c: &Connection, key: &SessionKey, chat: &str) -> Result<Option<bool>, StoreError> {
    let (ws, s) = (key.workspace.as_str(), key.session.as_str());
    let known: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM send_chats WHERE workspace = ?1 AND session = ?2 AND chat = ?3)",
        params![ws, s, chat],
        |r| r.get(0),
    )?;
    if known {
        return Ok(None);
    }
    // A phone's chat may be known by its LID: the one `queryExists` gave for the number.
    let phone = chat.strip_suffix("@c.us");
    let talked: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE workspace = ?1 AND session = ?2 AND (chat_id = ?3
            OR chat_id = (SELECT lid FROM send_recipients WHERE workspace = ?1 AND session = ?2 AND phone = ?4)))",
        params![ws, s, chat, phone],
        |r| r.get(0),
    )?;
    Ok(Some(!talked))
}

/// First contacts counted on the UTC day `[from, to)`.
pub fn new_chats_on(
    c: &Connection,
    key: &SessionKey,
    from: i64,
    to: i64,
) -> Result<u64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM send_chats WHERE workspace = ?1 AND session = ?2 AND new = 1 AND first_at >= ?3 AND first_at < ?4",
        params![key.workspace.as_str(), key.session.as_str(), from, to],
        |r| r.get(0),
    )?)
}

/// The next message to hand to the page.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub attempts: u32,
    pub wa_id: Option<String>,
    pub chat_id: Option<String>,
    pub body: Value,
}

/// The oldest pending message of the session that may go now.
pub fn next_pending(c: &Connection, key: &SessionKey, now: i64) -> Result<Option<Job>, StoreError> {
    Ok(c.query_row(
        "SELECT q.id, q.attempts, m.wa_id, m.chat_id, m.body FROM send_queue q
         JOIN messages m ON m.workspace = q.workspace AND m.session = q.session AND m.id = q.id
         WHERE q.workspace = ?1 AND q.session = ?2 AND q.state = 'pending' AND q.not_before <= ?3
         ORDER BY q.seq LIMIT 1",
        params![key.workspace.as_str(), key.session.as_str(), now],
        |r| {
            let body: String = r.get(4)?;
            Ok(Job {
                id: r.get(0)?,
                attempts: r.get(1)?,
                wa_id: r.get(2)?,
                chat_id: r.get(3)?,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            })
        },
    )
    .optional()?)
}

/// Up to `limit` pending messages after `after_id` in queue order that have no WhatsApp id yet
/// (candidates for ids generated together): `(id, body)`.
pub fn pending_without_id(
    c: &Connection,
    key: &SessionKey,
    after_id: &str,
    limit: usize,
) -> Result<Vec<(String, Value)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT q.id, m.body FROM send_queue q
         JOIN messages m ON m.workspace = q.workspace AND m.session = q.session AND m.id = q.id
         WHERE q.workspace = ?1 AND q.session = ?2 AND q.state = 'pending' AND m.wa_id IS NULL
           AND q.seq > (SELECT seq FROM send_queue WHERE workspace = ?1 AND session = ?2 AND id = ?3)
         ORDER BY q.seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![key.workspace.as_str(), key.session.as_str(), after_id, limit as i64],
        |r| {
            let body: String = r.get(1)?;
            Ok((r.get(0)?, serde_json::from_str(&body).unwrap_or(Value::Null)))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Persists pre-generated ids of several messages to one chat in one transaction.
pub fn set_wa_ids(
    c: &mut Connection,
    key: &SessionKey,
    ids: &[(String, String)],
    chat_id: &str,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    for (id, wa_id) in ids {
        set_wa_id(&tx, key, id, wa_id, chat_id)?;
    }
    tx.commit()?;
    Ok(())
}

/// Persists WhatsApp's pre-generated id and the resolved chat before the send.
pub fn set_wa_id(
    c: &Connection,
    key: &SessionKey,
    id: &str,
    wa_id: &str,
    chat_id: &str,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE messages SET wa_id = ?4, chat_id = ?5, updated_at = ?6 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id, wa_id, chat_id, now_ms()],
    )?;
    Ok(())
}

pub fn mark_handed(c: &Connection, key: &SessionKey, id: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE send_queue SET state = 'handed', handed_at = ?4 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id, now_ms()],
    )?;
    Ok(())
}

/// Counts one more attempt; returns the new count.
pub fn bump_attempts(c: &Connection, key: &SessionKey, id: &str) -> Result<u32, StoreError> {
    c.execute(
        "UPDATE send_queue SET attempts = attempts + 1 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id],
    )?;
    Ok(c.query_row(
        "SELECT attempts FROM send_queue WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id],
        |r| r.get(0),
    )
    .optional()?
    .unwrap_or(0))
}

pub fn dequeue(c: &Connection, key: &SessionKey, id: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM send_queue WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id],
    )?;
    Ok(())
}

/// Moves the message to `to` (if it may) and, once WhatsApp took it or it failed, drops its queue
/// row. Returns whether the status moved.
pub fn settle(
    c: &mut Connection,
    key: &SessionKey,
    id: &str,
    to: Status,
    detail: Option<&Value>,
) -> Result<bool, StoreError> {
    // One transaction: the status, its history, the queue row and the media bytes.
    let tx = c.transaction()?;
    let moved = store::advance_in(&tx, key, id, to, detail)?;
    if matches!(
        to,
        Status::Failed | Status::Sent | Status::Delivered | Status::Read | Status::Played
    ) {
        dequeue(&tx, key, id)?;
        // The media bytes were kept only to (re)send; their size and sha256 stay.
        tx.execute(
            "UPDATE messages SET body = json_remove(body, '$.content.data')
             WHERE workspace = ?1 AND session = ?2 AND id = ?3 AND json_extract(body, '$.content.data') IS NOT NULL",
            params![key.workspace.as_str(), key.session.as_str(), id],
        )?;
    }
    tx.commit()?;
    Ok(moved)
}

/// [`settle`], then the message as it is now when its status moved (for the report).
pub fn settle_and_read(
    c: &mut Connection,
    key: &SessionKey,
    id: &str,
    to: Status,
    detail: Option<&Value>,
) -> Result<Option<store::MessageRow>, StoreError> {
    if !settle(c, key, id, to, detail)? {
        return Ok(None);
    }
    store::get(c, key, id)
}

/// While the session is not connected: starts the expiry clock of pending messages never handed
/// to a page (no `wa_id`, or one in `fresh`: generated but never sent), and returns those whose
/// time is up.
pub fn expiring(
    c: &Connection,
    key: &SessionKey,
    now: i64,
    expire_after_ms: i64,
    fresh: &HashSet<String>,
) -> Result<Vec<String>, StoreError> {
    let (ws, s) = (key.workspace.as_str(), key.session.as_str());
    c.execute(
        "UPDATE send_queue SET expires_at = ?3 WHERE workspace = ?1 AND session = ?2 AND state = 'pending' AND expires_at IS NULL",
        params![ws, s, now + expire_after_ms],
    )?;
    let mut stmt = c.prepare(
        "SELECT q.id, m.wa_id FROM send_queue q JOIN messages m ON m.workspace = q.workspace AND m.session = q.session AND m.id = q.id
         WHERE q.workspace = ?1 AND q.session = ?2 AND q.state = 'pending' AND q.expires_at <= ?3
         ORDER BY q.seq",
    )?;
    let rows = stmt.query_map(params![ws, s, now], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut ids = Vec::new();
    for row in rows {
        let (id, wa_id) = row?;
        if wa_id.is_none() || fresh.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Connected again: queued messages wait without a clock.
pub fn clear_expiry(c: &Connection, key: &SessionKey) -> Result<(), StoreError> {
    c.execute(
        "UPDATE send_queue SET expires_at = NULL WHERE workspace = ?1 AND session = ?2 AND expires_at IS NOT NULL",
        params![key.workspace.as_str(), key.session.as_str()],
    )?;
    Ok(())
}

/// Handed messages without a server ack since before `cutoff`: `(id, wa_id)`.
pub fn overdue(
    c: &Connection,
    key: &SessionKey,
    cutoff: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT q.id, m.wa_id FROM send_queue q JOIN messages m ON m.workspace = q.workspace AND m.session = q.session AND m.id = q.id
         WHERE q.workspace = ?1 AND q.session = ?2 AND q.state = 'handed' AND q.handed_at <= ?3 AND m.wa_id IS NOT NULL
         ORDER BY q.seq LIMIT 50",
    )?;
    let rows = stmt
        .query_map(params![key.workspace.as_str(), key.session.as_str(), cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every session with something in its queue (workers to start after a restart).
pub fn sessions_with_work(c: &Connection) -> Result<Vec<SessionKey>, StoreError> {
    let mut stmt = c.prepare("SELECT DISTINCT workspace, session FROM send_queue")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut keys = Vec::new();
    for row in rows {
        let (ws, s) = row?;
        if let (Ok(ws), Ok(s)) = (WorkspaceId::parse(&ws), SessionId::parse(&s)) {
            keys.push(SessionKey::new(ws, s));
        }
    }
    Ok(keys)
}

/// The id of our outbound message with this WhatsApp id, if any.
pub fn outbound_by_wa_id(
    c: &Connection,
    key: &SessionKey,
    wa_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(c.query_row(
        "SELECT id FROM messages WHERE workspace = ?1 AND session = ?2 AND wa_id = ?3 AND direction = 'out'",
        params![key.workspace.as_str(), key.session.as_str(), wa_id],
        |r| r.get(0),
    )
    .optional()?)
}

/// Our outbound message whose WhatsApp id is `prefix` (`true_<chat>_<id>`) with or without a
/// `_<participant>` after it: `(id, wa_id)`. A range on the wa_id index, then an exact check.
pub fn outbound_by_key_prefix(
    c: &Connection,
    key: &SessionKey,
    prefix: &str,
) -> Result<Option<(String, String)>, StoreError> {
    // '`' sorts right after '_': the range holds every id that starts with the prefix.
    let upper = format!("{prefix}`");
    Ok(c.query_row(
        "SELECT id, wa_id FROM messages WHERE workspace = ?1 AND session = ?2 AND direction = 'out'
           AND wa_id >= ?3 AND wa_id < ?4 AND (wa_id = ?3 OR substr(wa_id, length(?3) + 1, 1) = '_')
         LIMIT 1",
        params![key.workspace.as_str(), key.session.as_str(), prefix, upper],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

/// A group member's receipt: kept at the highest ack that member sent.
pub fn record_receipt(
    c: &Connection,
    key: &SessionKey,
    id: &str,
    participant: &str,
    ack: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO message_receipts (workspace, session, id, participant, ack, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (workspace, session, id, participant) DO UPDATE SET ack = excluded.ack, at = excluded.at
         WHERE excluded.ack > message_receipts.ack",
        params![key.workspace.as_str(), key.session.as_str(), id, participant, ack, now_ms()],
    )?;
    Ok(())
}

/// The receipts of a group message: `(participant, ack, at)`, by participant.
pub fn receipts(
    c: &Connection,
    key: &SessionKey,
    id: &str,
) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT participant, ack, at FROM message_receipts WHERE workspace = ?1 AND session = ?2 AND id = ?3 ORDER BY participant",
    )?;
    let rows = stmt.query_map(params![key.workspace.as_str(), key.session.as_str(), id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A session's queue paused until `until_ms` (the latest signal wins).
pub fn store_pause(
    c: &Connection,
    key: &SessionKey,
    until_ms: i64,
    reason: &str,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO send_pauses (workspace, session, until_ms, reason) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace, session) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason",
        params![key.workspace.as_str(), key.session.as_str(), until_ms, reason],
    )?;
    Ok(())
}

/// Pauses still running at `now` (those over are deleted): `(session, until_ms, reason)`.
pub fn live_pauses(c: &Connection, now: i64) -> Result<Vec<(SessionKey, i64, String)>, StoreError> {
    c.execute("DELETE FROM send_pauses WHERE until_ms <= ?1", params![now])?;
    let mut stmt = c.prepare("SELECT workspace, session, until_ms, reason FROM send_pauses")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (ws, s, until, reason) = row?;
        if let (Ok(ws), Ok(s)) = (WorkspaceId::parse(&ws), SessionId::parse(&s)) {
            out.push((SessionKey::new(ws, s), until, reason));
        }
    }
    Ok(out)
}

/// Counters for `GET …/sending-limits`: (queued, accepted today, handed-and-waiting).
pub fn counters(
    c: &Connection,
    key: &SessionKey,
    day_start_ms: i64,
) -> Result<(u64, u64, u64), StoreError> {
    let (ws, s) = (key.workspace.as_str(), key.session.as_str());
    let queued = c.query_row(
        "SELECT COUNT(*) FROM send_queue WHERE workspace = ?1 AND session = ?2 AND state = 'pending'",
        params![ws, s],
        |r| r.get(0),
    )?;
    let today = c.query_row(
        "SELECT COUNT(*) FROM messages WHERE workspace = ?1 AND session = ?2 AND direction = 'out' AND created_at >= ?3",
        params![ws, s, day_start_ms],
        |r| r.get(0),
    )?;
    let handed = c.query_row(
        "SELECT COUNT(*) FROM send_queue WHERE workspace = ?1 AND session = ?2 AND state = 'handed'",
        params![ws, s],
        |r| r.get(0),
    )?;
    Ok((queued, today, handed))
}

/// A cached `queryExists` answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Known {
    pub found: bool,
    pub wid: Option<String>,
    pub lid: Option<String>,
}

pub fn recipient(
    c: &Connection,
    key: &SessionKey,
    phone: &str,
    now: i64,
    hit_ttl: i64,
    miss_ttl: i64,
) -> Result<Option<Known>, StoreError> {
    let row: Option<(bool, Option<String>, Option<String>, i64)> = c
        .query_row(
            "SELECT found, wid, lid, checked_at FROM send_recipients WHERE workspace = ?1 AND session = ?2 AND phone = ?3",
            params![key.workspace.as_str(), key.session.as_str(), phone],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    Ok(row.and_then(|(found, wid, lid, at)| {
        let ttl = if found { hit_ttl } else { miss_ttl };
        (now - at < ttl).then_some(Known { found, wid, lid })
    }))
}

pub fn remember_recipient(
    c: &Connection,
    key: &SessionKey,
    phone: &str,
    known: &Known,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO send_recipients (workspace, session, phone, found, wid, lid, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (workspace, session, phone) DO UPDATE SET found = excluded.found, wid = excluded.wid, lid = excluded.lid, checked_at = excluded.checked_at",
        params![key.workspace.as_str(), key.session.as_str(), phone, known.found, known.wid, known.lid, now_ms()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Direction, MessageId};
    use serde_json::json;

    fn key() -> SessionKey {
        SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap())
    }

    fn msg(id: &str) -> NewMessage {
        NewMessage {
            id: MessageId::parse(id).unwrap(),
            wa_id: None,
            direction: Direction::Out,
            chat_id: None,
            peer: "15551234567".into(),
            kind: "text".into(),
            body: json!({}),
            status: Status::Queued,
            client_ref: None,
            wa_t: None,
        }
    }

    fn caps(max_queued: u64, daily_cap: Option<u64>, queue_on_limit: bool) -> Caps {
        Caps {
            max_queued,
            daily_cap,
            day_start_ms: 0,
            next_day_ms: i64::MAX / 2,
            queue_on_limit,
            chat: "15551234567@c.us".into(),
            new_chat_cap: None,
        }
    }

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        (dir, c)
    }

    #[test]
    fn an_idempotency_key_answers_the_first_response_and_refuses_another_body() {
        let (_d, mut c) = db();
        let k = key();
        let idem = Idem { key: "order-1".into(), hash: "h1".into() };
        let first = json!({"id": "out_1"});
        let a =
            accept(&mut c, &k, &msg("out_1"), Some(&idem), &first, None, &caps(10, None, false));
        assert!(matches!(a, Ok(Accept::Accepted(_))));
        let again = accept(
            &mut c,
            &k,
            &msg("out_2"),
            Some(&idem),
            &json!({}),
            None,
            &caps(10, None, false),
        );
        assert!(matches!(again, Ok(Accept::Repeat(v)) if v == first));
        let other = Idem { key: "order-1".into(), hash: "h2".into() };
        let reused = accept(
            &mut c,
            &k,
            &msg("out_3"),
            Some(&other),
            &json!({}),
            None,
            &caps(10, None, false),
        );
        assert!(matches!(reused, Ok(Accept::KeyReused)));
        assert!(next_pending(&c, &k, 0).unwrap().is_some_and(|j| j.id == "out_1"));
        assert!(store::get(&c, &k, "out_2").unwrap().is_none(), "nothing of the repeat was stored");
    }

    #[test]
    fn caps_refuse_or_schedule_and_order_is_kept() {
        let (_d, mut c) = db();
        let k = key();
        for i in 0..2 {
            let a = accept(
                &mut c,
                &k,
                &msg(&format!("out_{i}")),
                None,
                &json!({}),
                None,
                &caps(3, Some(2), false),
            );
            assert!(matches!(a, Ok(Accept::Accepted(_))));
        }
        let capped =
            accept(&mut c, &k, &msg("out_x"), None, &json!({}), None, &caps(3, Some(2), false));
        assert!(
            matches!(capped, Ok(Accept::DailyCap { retry_after_secs }) if retry_after_secs > 0)
        );
        let queued =
            accept(&mut c, &k, &msg("out_2"), None, &json!({}), None, &caps(3, Some(2), true));
        assert!(matches!(queued, Ok(Accept::Accepted(_))));
        let full = accept(&mut c, &k, &msg("out_y"), None, &json!({}), None, &caps(3, None, false));
        assert!(matches!(full, Ok(Accept::QueueFull)));
        // Oldest first; the scheduled one only when its time comes.
        assert_eq!(next_pending(&c, &k, now_ms()).unwrap().unwrap().id, "out_0");
        dequeue(&c, &k, "out_0").unwrap();
        dequeue(&c, &k, "out_1").unwrap();
        assert!(next_pending(&c, &k, now_ms()).unwrap().is_none(), "scheduled for tomorrow");
        assert!(next_pending(&c, &k, i64::MAX).unwrap().is_some());
    }

    #[test]
    fn only_first_contacts_count_against_the_new_chat_cap() {
        let (_d, mut c) = db();
        let k = key();
        let to = |chat: &str, queue_on_limit: bool| Caps {
            chat: chat.into(),
            new_chat_cap: Some(2),
            ..caps(100, None, queue_on_limit)
        };
        let mut n = 0;
        let mut send = |c: &mut Connection, caps: Caps| {
            n += 1;
            accept(c, &k, &msg(&format!("out_{n}")), None, &json!({}), None, &caps).unwrap()
        };
        assert!(matches!(send(&mut c, to("1@c.us", false)), Accept::Accepted(_)));
        assert!(matches!(send(&mut c, to("2@c.us", false)), Accept::Accepted(_)));
        assert!(matches!(send(&mut c, to("1@c.us", false)), Accept::Accepted(_)), "written to");
        assert!(matches!(
            send(&mut c, to("3@c.us", false)),
            Accept::NewChatCap { retry_after_secs } if retry_after_secs > 0
        ));
        // Someone who wrote to us first is not a new chat.
        let mut inbound = msg("in_1");
        inbound.direction = crate::messages::Direction::In;
        inbound.chat_id = Some("4@c.us".into());
        store::insert_in(&c, &k, &inbound).unwrap();
        assert!(matches!(send(&mut c, to("4@c.us", false)), Accept::Accepted(_)));
        // … also when that chat is known by the LID `queryExists` gave for the number.
        let known = Known { found: true, wid: Some("7@c.us".into()), lid: Some("77@lid".into()) };
        remember_recipient(&c, &k, "7", &known).unwrap();
        let mut by_lid = msg("in_2");
        by_lid.direction = crate::messages::Direction::In;
        by_lid.chat_id = Some("77@lid".into());
        store::insert_in(&c, &k, &by_lid).unwrap();
        assert!(matches!(send(&mut c, to("7@c.us", false)), Accept::Accepted(_)));
        // on_limit: queue → scheduled for the next day, counted there.
        assert!(matches!(send(&mut c, to("5@c.us", true)), Accept::Accepted(_)));
        assert_eq!(new_chats_on(&c, &k, 0, i64::MAX / 2).unwrap(), 2);
        assert!(matches!(send(&mut c, to("6@c.us", false)), Accept::NewChatCap { .. }));
    }

    #[test]
    fn media_bytes_are_dropped_once_whatsapp_has_the_message() {
        let (_d, mut c) = db();
        let k = key();
        let mut m = msg("out_m");
        m.body = json!({"content": {"type": "media", "data": "aGk=", "size": 2}});
        accept(&mut c, &k, &m, None, &json!({}), None, &caps(10, None, false)).unwrap();
        assert!(settle(&mut c, &k, "out_m", Status::Sent, None).unwrap());
        let row = store::get(&c, &k, "out_m").unwrap().unwrap();
        assert_eq!(row.body, json!({"content": {"type": "media", "size": 2}}));
        assert!(next_pending(&c, &k, 0).unwrap().is_none(), "left the queue");
    }

    #[test]
    fn only_messages_never_handed_over_expire() {
        let (_d, mut c) = db();
        let k = key();
        for id in ["out_a", "out_b"] {
            accept(&mut c, &k, &msg(id), None, &json!({}), None, &caps(10, None, false)).unwrap();
        }
        set_wa_id(&c, &k, "out_b", "true_1@c.us_3EB0AA", "1@c.us").unwrap();
        let none = HashSet::new();
        assert!(expiring(&c, &k, 1_000, 500, &none).unwrap().is_empty(), "the clock starts now");
        assert_eq!(expiring(&c, &k, 2_000, 500, &none).unwrap(), vec!["out_a".to_string()]);
        // An id generated with an earlier message's but never sent: still never handed over.
        let fresh = HashSet::from(["out_b".to_string()]);
        assert_eq!(expiring(&c, &k, 2_000, 500, &fresh).unwrap(), ["out_a", "out_b"]);
        clear_expiry(&c, &k).unwrap();
        assert!(
            expiring(&c, &k, 2_100, 500, &none).unwrap().is_empty(),
            "connected again: no clock"
        );
    }
}
