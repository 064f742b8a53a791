//! The sidecar's one SQLite database (`data/sidecar.db`, WAL): opening it and migrating it.
//!
//! Every part that keeps rows here (the callbacks outbox, later idempotency keys and the message
//! index) appends its schema to [`MIGRATIONS`]; never edit or reorder an entry that has shipped.
//! The applied count is SQLite's `user_version`. Each owner opens its own [`Connection`] with
//! [`open`]: WAL lets readers and the one writer at a time proceed, `busy_timeout` queues writers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// One schema step. `sql` may hold several statements.
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Applied in order, once each. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "callbacks: outbox, dead letters, session endpoints, disabled endpoints",
        sql: include_str!("callbacks/schema.sql"),
    },
    Migration {
        name: "messages: the message index and status history",
        sql: include_str!("messages/schema.sql"),
    },
    Migration {
        name: "sending: outbound queue, idempotency keys, recipient checks",
        sql: include_str!("messages/send/schema.sql"),
    },
    Migration {
        name: "receiving: watermarks and contact identities",
        sql: include_str!("messages/inbound/schema.sql"),
    },
    Migration {
        name: "callbacks: session heads kept by triggers, so claims go through an index",
        sql: include_str!("callbacks/heads.sql"),
    },
    Migration {
        name: "sending: chats written to (new-chat cap), group receipts, queue pauses",
        sql: include_str!("messages/send/limits.sql"),
    },
    Migration {
        name: "callbacks: queued events and bytes per workspace, when a head first failed",
        sql: include_str!("callbacks/bounds.sql"),
    },
];

/// How long a writer waits for another connection's write transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("sqlite {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("migration {index} ({name}) failed: {source}")]
    Migration { index: usize, name: &'static str, source: rusqlite::Error },
    #[error("the database has {found} migrations applied but this build knows only {known}; refusing to run an older binary on a newer database")]
    TooNew { found: usize, known: usize },
}

/// `{data_dir}/sidecar.db`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("sidecar.db")
}

/// Open (creating it and its directory if needed), switch to WAL with full fsync on commit, and
/// apply pending migrations.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
    }
    let sqlite = |source| DbError::Sqlite { path: path.to_owned(), source };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // WAL + synchronous=FULL: a commit is on disk when it returns, which is what "durable" promises
    // to callers such as EventSink::accept. NORMAL would survive a crash but not a power cut.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Apply every migration past `user_version`, each in its own immediate transaction so two
/// connections opening at once cannot both apply one.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    for (index, m) in MIGRATIONS.iter().enumerate() {
        let fail = |source| DbError::Migration { index, name: m.name, source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
        let applied: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(fail)?;
        if applied > MIGRATIONS.len() {
            return Err(DbError::TooNew { found: applied, known: MIGRATIONS.len() });
        }
        if applied > index {
            continue;
        }
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", index + 1).map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(index, name = m.name, "database migration applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir.path().join("data"));
        let conn = open(&path).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len());
        drop(conn);
        // A second open finds nothing to do and keeps the data.
        let conn = open(&path).unwrap();
        let n: i64 =
            conn.query_row("SELECT COUNT(*) FROM callback_outbox", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn refuses_a_database_from_a_newer_build() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS.len() + 5).unwrap();
        drop(conn);
        assert!(matches!(open(&path), Err(DbError::TooNew { .. })));
    }
}
