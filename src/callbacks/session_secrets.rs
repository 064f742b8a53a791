//! Sessions' own callback secrets (`callback_secret` at create), kept in `data/sidecar.db`
//! (0600, beside the callback bodies), so a restart, or another process sharing the outbox, signs
//! with them too. Never returned by any route and never logged.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use super::sign::{Secret, SessionSecrets};

/// Created at open, not in `schema.sql`: a database made by an older build gets it as well.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS callback_session_secrets (
    workspace TEXT NOT NULL,
    session   TEXT NOT NULL,
    secret    TEXT NOT NULL,
    PRIMARY KEY (workspace, session)
)";

pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// Sets (or with `None`, removes) a session's own secret.
pub fn set(
    conn: &Connection,
    workspace: &str,
    session: &str,
    secret: Option<&Secret>,
) -> rusqlite::Result<()> {
    match secret {
        Some(secret) => conn.execute(
            "INSERT INTO callback_session_secrets (workspace, session, secret) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace, session) DO UPDATE SET secret = excluded.secret",
            params![workspace, session, secret.text()],
        ),
        None => conn.execute(
            "DELETE FROM callback_session_secrets WHERE workspace = ?1 AND session = ?2",
            params![workspace, session],
        ),
    }
    .map(drop)
}

/// Every session's own secret. A stored text that no longer parses is skipped (and logged by
/// its session, never its text): that session's events are then signed with the global secret.
pub fn load(conn: &Connection) -> rusqlite::Result<SessionSecrets> {
    let mut stmt =
        conn.prepare_cached("SELECT workspace, session, secret FROM callback_session_secrets")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    let mut all = SessionSecrets::new();
    for row in rows {
        let (workspace, session, text) = row?;
        match Secret::parse(&text) {
            Ok(secret) => {
                all.insert((workspace, session), secret);
            }
            Err(e) => {
                tracing::error!(%workspace, %session, error = %e, "a stored callback secret is unusable")
            }
        }
    }
    Ok(all)
}

/// [`load`] from the database file, read-only (blocking: run it off the async threads).
pub fn read(db: &Path) -> rusqlite::Result<SessionSecrets> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    load(&conn)
}
