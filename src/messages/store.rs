//! The message index in SQLite (`messages`, `message_status_log`; schema in `schema.sql`). One
//! connection behind a mutex; every call runs on the blocking pool through [`MessageStore::run`],
//! never on an async worker. Sending and receiving keep their own tables beside these and use
//! [`MessageStore::run`] for them too.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::model::{Direction, MessageId, Status};
use crate::db::DbError;
use crate::ids::SessionKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Open(#[from] DbError),
    #[error("message store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("message store task failed: {0}")]
    Task(String),
}

#[derive(Clone)]
pub struct MessageStore {
    conn: Arc<Mutex<Connection>>,
}

/// A message as the index holds it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub wa_id: Option<String>,
    pub direction: Direction,
    pub chat_id: Option<String>,
    pub peer: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: serde_json::Value,
    pub status: Status,
    pub error: Option<serde_json::Value>,
    pub client_ref: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub wa_t: Option<i64>,
}

/// What a new row holds.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub wa_id: Option<String>,
    pub direction: Direction,
    pub chat_id: Option<String>,
    pub peer: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub status: Status,
    pub client_ref: Option<String>,
    pub wa_t: Option<i64>,
}

/// One entry of a message's status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusEntry {
    pub status: Status,
    /// Unix milliseconds.
    pub at: i64,
    pub detail: Option<serde_json::Value>,
}

const COLUMNS: &str = "id, wa_id, direction, chat_id, peer, type, body, status, error, client_ref, created_at, updated_at, wa_t";

impl MessageStore {
    pub fn open(db_path: &Path) -> Result<Self, StoreError> {
        Ok(Self { conn: Arc::new(Mutex::new(crate::db::open(db_path)?)) })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Adds a message; `false` when one with the same id or `wa_id` is already indexed.
    pub async fn insert(&self, key: &SessionKey, m: NewMessage) -> Result<bool, StoreError> {
        let key = key.clone();
        self.run(move |c| insert(c, &key, &m)).await
    }

    /// A message by our id or by WhatsApp's.
    pub async fn get(&self, key: &SessionKey, id: &str) -> Result<Option<MessageRow>, StoreError> {
        let (key, id) = (key.clone(), id.to_owned());
        self.run(move |c| get(c, &key, &id)).await
    }

    pub async fn history(
        &self,
        key: &SessionKey,
        id: &str,
    ) -> Result<Vec<StatusEntry>, StoreError> {
        let (key, id) = (key.clone(), id.to_owned());
        self.run(move |c| history(c, &key, &id)).await
    }

    /// Moves a message to `to` if [`Status::may_become`] allows it; records it in the history.
    /// Returns whether it moved.
    pub async fn advance(
        &self,
        key: &SessionKey,
        id: &str,
        to: Status,
        detail: Option<serde_json::Value>,
    ) -> Result<bool, StoreError> {
        let (key, id) = (key.clone(), id.to_owned());
        self.run(move |c| advance(c, &key, &id, to, detail.as_ref())).await
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn insert(c: &mut Connection, key: &SessionKey, m: &NewMessage) -> Result<bool, StoreError> {
    let tx = c.transaction()?;
    let added = insert_in(&tx, key, m)?;
    tx.commit()?;
    Ok(added)
}

/// [`insert`] inside a transaction the caller holds (sending adds its queue row in the same one).
pub fn insert_in(tx: &Connection, key: &SessionKey, m: &NewMessage) -> Result<bool, StoreError> {
    let now = now_ms();
    let added = tx.execute(
        "INSERT INTO messages (workspace, session, id, wa_id, direction, chat_id, peer, type, body, status, client_ref, created_at, updated_at, wa_t)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13) ON CONFLICT DO NOTHING",
        params![
            key.workspace.as_str(), key.session.as_str(), m.id.as_str(), m.wa_id, m.direction.as_str(),
            m.chat_id, m.peer, m.kind, m.body.to_string(), m.status.as_str(), m.client_ref, now, m.wa_t
        ],
    )? == 1;
    if added {
        log_status(tx, key, m.id.as_str(), m.status, None, now)?;
    }
    Ok(added)
}

pub fn get(c: &Connection, key: &SessionKey, id: &str) -> Result<Option<MessageRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE workspace = ?1 AND session = ?2 AND (id = ?3 OR wa_id = ?3) LIMIT 1"
    );
    Ok(c.query_row(&sql, params![key.workspace.as_str(), key.session.as_str(), id], row)
        .optional()?)
}

pub fn history(c: &Connection, key: &SessionKey, id: &str) -> Result<Vec<StatusEntry>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT status, at, detail FROM message_status_log WHERE workspace = ?1 AND session = ?2 AND id = ?3 ORDER BY at, rowid",
    )?;
    let rows = stmt.query_map(params![key.workspace.as_str(), key.session.as_str(), id], |r| {
        let status: String = r.get(0)?;
        let detail: Option<String> = r.get(2)?;
        Ok(StatusEntry {
            status: Status::parse(&status).unwrap_or(Status::Queued),
            at: r.get(1)?,
            detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn advance(
    c: &mut Connection,
    key: &SessionKey,
    id: &str,
    to: Status,
    detail: Option<&serde_json::Value>,
) -> Result<bool, StoreError> {
    let tx = c.transaction()?;
    let moved = advance_in(&tx, key, id, to, detail)?;
    tx.commit()?;
    Ok(moved)
}

/// [`advance`] inside the caller's transaction.
pub fn advance_in(
    tx: &Connection,
    key: &SessionKey,
    id: &str,
    to: Status,
    detail: Option<&serde_json::Value>,
) -> Result<bool, StoreError> {
    let current: Option<String> = tx
        .query_row(
            "SELECT status FROM messages WHERE workspace = ?1 AND session = ?2 AND id = ?3",
            params![key.workspace.as_str(), key.session.as_str(), id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(current) = current.as_deref().and_then(Status::parse) else { return Ok(false) };
    if !current.may_become(to) {
        return Ok(false);
    }
    let now = now_ms();
    let error = if to == Status::Failed { detail.map(|d| d.to_string()) } else { None };
    tx.execute(
        "UPDATE messages SET status = ?4, error = COALESCE(?5, error), updated_at = ?6
         WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id, to.as_str(), error, now],
    )?;
    log_status(tx, key, id, to, detail, now)?;
    Ok(true)
}

fn log_status(
    c: &Connection,
    key: &SessionKey,
    id: &str,
    status: Status,
    detail: Option<&serde_json::Value>,
    at: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO message_status_log (workspace, session, id, status, at, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
        params![key.workspace.as_str(), key.session.as_str(), id, status.as_str(), at, detail.map(|d| d.to_string())],
    )?;
    Ok(())
}

fn row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    let direction: String = r.get(2)?;
    let body: String = r.get(6)?;
    let status: String = r.get(7)?;
    let error: Option<String> = r.get(8)?;
    Ok(MessageRow {
        id: r.get(0)?,
        wa_id: r.get(1)?,
        direction: if direction == "in" { Direction::In } else { Direction::Out },
        chat_id: r.get(3)?,
        peer: r.get(4)?,
        kind: r.get(5)?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        status: Status::parse(&status).unwrap_or(Status::Queued),
        error: error.and_then(|e| serde_json::from_str(&e).ok()),
        client_ref: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        wa_t: r.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};
    use serde_json::json;

    fn key() -> SessionKey {
        SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap())
    }

    fn out(id: &str, wa: Option<&str>) -> NewMessage {
        NewMessage {
            id: MessageId::parse(id).unwrap(),
            wa_id: wa.map(Into::into),
            direction: Direction::Out,
            chat_id: None,
            peer: "15551234567".into(),
            kind: "text".into(),
            body: json!({"text": {"body": "hi"}}),
            status: Status::Queued,
            client_ref: Some("order-1".into()),
            wa_t: None,
        }
    }

    #[test]
    fn index_refuses_a_second_copy_and_statuses_only_advance() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        let k = key();
        assert!(insert(&mut c, &k, &out("out_1", Some("true_1@c.us_A"))).unwrap());
        assert!(!insert(&mut c, &k, &out("out_1", None)).unwrap(), "same id");
        assert!(!insert(&mut c, &k, &out("out_2", Some("true_1@c.us_A"))).unwrap(), "same wa_id");
        assert!(advance(&mut c, &k, "out_1", Status::Read, None).unwrap());
        assert!(!advance(&mut c, &k, "out_1", Status::Delivered, None).unwrap());
        let m = get(&c, &k, "true_1@c.us_A").unwrap().unwrap();
        assert_eq!((m.id.as_str(), m.status), ("out_1", Status::Read));
        let h: Vec<Status> =
            history(&c, &k, "out_1").unwrap().into_iter().map(|e| e.status).collect();
        assert_eq!(h, vec![Status::Queued, Status::Read]);
    }
}
