//! Sessions' own callback secrets (`callback_secret` at create), kept in `data/sidecar.db`
//! (0600, beside the callback bodies), so a restart, or another process sharing the outbox, signs
//! with them too. Never returned by any route and never logged.
//!
//! Each is stored sealed with the vault's master key, never in the clear: AES-256-GCM under a key
//! derived (HKDF) from the newest master key for this purpose only, a random nonce, and the
//! workspace and session as associated data (a sealed secret copied onto another session's row
//! does not open). The stored text is `v1.{key id}.{base64(nonce ‖ ciphertext)}`. A row sealed
//! under an older key, or written in the clear by an older build, is sealed again under the
//! newest key when the outbox opens ([`reseal`]), the way sealed logins move to the newest key.

use std::collections::HashSet;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use rand::RngCore;
use rusqlite::{params, Connection, OpenFlags};
use zeroize::Zeroizing;

use super::sign::{Secret, SessionSecrets};
use crate::vault::VaultKeys;

/// Created at open, not in `schema.sql`: a database made by an older build gets it as well.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS callback_session_secrets (
    workspace TEXT NOT NULL,
    session   TEXT NOT NULL,
    secret    TEXT NOT NULL,
    PRIMARY KEY (workspace, session)
)";

/// The HKDF info of the key that seals callback secrets.
const PURPOSE: &[u8] = b"wa-sidecar callback session secret v1";
const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// What a session's row opens to with the keys at hand.
enum Opened {
    /// Sealed under the newest key.
    Current(Secret),
    /// Readable, but sealed under an older key or stored in the clear: seal it again.
    Stale(Secret),
}

fn associated(workspace: &str, session: &str) -> Vec<u8> {
    let mut aad = PURPOSE.to_vec();
    aad.push(0);
    aad.extend_from_slice(workspace.as_bytes());
    aad.push(0);
    aad.extend_from_slice(session.as_bytes());
    aad
}

fn cipher(keys: &VaultKeys, id: &str) -> Option<Aes256Gcm> {
    let derived = keys.get(id)?.derive_for(PURPOSE);
    Some(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&derived[..])))
}

/// The stored text of `secret` for one session, sealed under the newest master key.
fn seal(keys: &VaultKeys, workspace: &str, session: &str, secret: &Secret) -> String {
    let (id, _) = keys.seal_key();
    // Cannot fail: `seal_key` names a configured key.
    let cipher = cipher(keys, id).expect("the sealing key is configured");
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated(workspace, session);
    let payload = Payload { msg: secret.text().as_bytes(), aad: &aad };
    // Cannot fail: AES-GCM encryption only fails past 64 GiB of plaintext.
    let sealed = cipher.encrypt(Nonce::from_slice(&nonce), payload).expect("AES-GCM seals");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&sealed);
    format!("{VERSION}.{id}.{}", B64.encode(blob))
}

/// Opens one stored row; `Err` says why it does not open (never its text).
fn open(keys: &VaultKeys, workspace: &str, session: &str, stored: &str) -> Result<Opened, String> {
    let Some(rest) = stored.strip_prefix(VERSION).and_then(|r| r.strip_prefix('.')) else {
        // An older build stored the `whsec_…` text itself.
        return Secret::parse(stored).map(Opened::Stale).map_err(|e| e.to_string());
    };
    let (id, blob) = rest.split_once('.').ok_or("no key id")?;
    let cipher =
        cipher(keys, id).ok_or_else(|| format!("sealed under key {id:?}, not configured"))?;
    let blob = B64.decode(blob).map_err(|_| "not base64".to_owned())?;
    if blob.len() <= NONCE_LEN {
        return Err("too short".into());
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let aad = associated(workspace, session);
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| "does not open (another session's, or altered)".to_owned())?;
    let text = std::str::from_utf8(&plain).map_err(|_| "not text".to_owned())?;
    let secret = Secret::parse(text).map_err(|e| e.to_string())?;
    Ok(if id == keys.seal_key_id() { Opened::Current(secret) } else { Opened::Stale(secret) })
}

/// Sets (or with `None`, removes) a session's own secret.
pub fn set(
    conn: &Connection,
    keys: &VaultKeys,
    workspace: &str,
    session: &str,
    secret: Option<&Secret>,
) -> rusqlite::Result<()> {
    match secret {
        Some(secret) => conn.execute(
            "INSERT INTO callback_session_secrets (workspace, session, secret) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace, session) DO UPDATE SET secret = excluded.secret",
            params![workspace, session, seal(keys, workspace, session, secret)],
        ),
        None => conn.execute(
            "DELETE FROM callback_session_secrets WHERE workspace = ?1 AND session = ?2",
            params![workspace, session],
        ),
    }
    .map(drop)
}

/// The per-session secrets read from the database.
#[derive(Debug, Default)]
pub struct Loaded {
    pub secrets: SessionSecrets,
    /// Sessions whose row does not open with these keys (sealed under a key this process does not
    /// have, say, by a newer process sharing the outbox): a reload keeps what it knew of them.
    pub unreadable: HashSet<(String, String)>,
    /// Rows that open but are not sealed under the newest key.
    pub stale: usize,
}

fn rows(conn: &Connection) -> rusqlite::Result<Vec<(String, String, Zeroizing<String>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT workspace, session, secret FROM callback_session_secrets")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, Zeroizing::new(r.get(2)?)))
    })?;
    rows.collect()
}

/// Every session's own secret. A row that does not open is logged by its session (never its
/// text) and listed in [`Loaded::unreadable`].
pub fn load(conn: &Connection, keys: &VaultKeys) -> rusqlite::Result<Loaded> {
    let mut loaded = Loaded::default();
    for (workspace, session, stored) in rows(conn)? {
        match open(keys, &workspace, &session, &stored) {
            Ok(Opened::Current(secret)) => {
                loaded.secrets.insert((workspace, session), secret);
            }
            Ok(Opened::Stale(secret)) => {
                loaded.stale += 1;
                loaded.secrets.insert((workspace, session), secret);
            }
            Err(why) => {
                tracing::error!(%workspace, %session, %why, "a stored callback secret does not open");
                loaded.unreadable.insert((workspace, session));
            }
        }
    }
    Ok(loaded)
}

/// Seals again, under the newest key, every row that opens but is not sealed under it (an older
/// key, or the clear text of an older build). Returns how many rows were rewritten.
pub fn reseal(conn: &Connection, keys: &VaultKeys) -> rusqlite::Result<usize> {
    let mut rewritten = 0;
    for (workspace, session, stored) in rows(conn)? {
        if let Ok(Opened::Stale(secret)) = open(keys, &workspace, &session, &stored) {
            // Only the row read here is replaced: one that changed meanwhile is left alone.
            rewritten += conn.execute(
                "UPDATE callback_session_secrets SET secret = ?4
                 WHERE workspace = ?1 AND session = ?2 AND secret = ?3",
                params![
                    workspace,
                    session,
                    stored.as_str(),
                    seal(keys, &workspace, &session, &secret)
                ],
            )?;
        }
    }
    Ok(rewritten)
}

/// [`load`] from the database file, read-only (blocking: run it off the async threads).
pub fn read(db: &Path, keys: &VaultKeys) -> rusqlite::Result<Loaded> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    load(&conn, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::MasterKey;

    const TEXT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        create(&conn).unwrap();
        conn
    }

    fn stored(conn: &Connection) -> String {
        conn.query_row("SELECT secret FROM callback_session_secrets", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_secret_is_stored_sealed_and_opens_only_for_its_own_session() {
        let keys = VaultKeys::single("k1", MasterKey::random());
        let conn = db();
        set(&conn, &keys, "ws", "s1", Some(&Secret::parse(TEXT).unwrap())).unwrap();
        let text = stored(&conn);
        assert!(text.starts_with("v1.k1."), "{text}");
        assert!(!text.contains("whsec_") && !text.contains(&TEXT[6..]), "stored in the clear");
        let loaded = load(&conn, &keys).unwrap();
        assert_eq!(loaded.secrets[&("ws".into(), "s1".into())].text(), TEXT);
        // Copied onto another session's row, it does not open.
        conn.execute("UPDATE callback_session_secrets SET session = 's2'", []).unwrap();
        let loaded = load(&conn, &keys).unwrap();
        assert!(loaded.secrets.is_empty());
        assert!(loaded.unreadable.contains(&("ws".into(), "s2".into())));
    }

    #[test]
    fn clear_rows_and_older_keys_are_sealed_again_under_the_newest_key() {
        let (old, new) = (MasterKey::random(), MasterKey::random());
        let conn = db();
        // A row of an older build (clear text) and one sealed under the old key.
        conn.execute(
            "INSERT INTO callback_session_secrets VALUES ('ws', 'clear', ?1)",
            params![TEXT],
        )
        .unwrap();
        let before = VaultKeys::single("k1", old.clone());
        set(&conn, &before, "ws", "older", Some(&Secret::parse(TEXT).unwrap())).unwrap();

        let both = VaultKeys::new(vec![("k1".into(), old), ("k2".into(), new.clone())], Some("k2"))
            .unwrap();
        assert_eq!(load(&conn, &both).unwrap().stale, 2);
        assert_eq!(reseal(&conn, &both).unwrap(), 2);
        assert_eq!(reseal(&conn, &both).unwrap(), 0, "nothing left to reseal");
        // Only the newest key is needed now.
        let only_new = VaultKeys::single("k2", new);
        let loaded = load(&conn, &only_new).unwrap();
        assert_eq!(loaded.secrets.len(), 2);
        assert!(loaded.unreadable.is_empty());
        let all: Vec<String> = conn
            .prepare("SELECT secret FROM callback_session_secrets")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(all.iter().all(|t| t.starts_with("v1.k2.")), "{all:?}");
    }
}
