//! Media of received messages: downloaded from the page when the message arrives
//! (`WPP.chat.downloadMedia`, read out in slices so no CDP message is large), checked (sha256
//! against WhatsApp's `filehash`, a size bound per type), sealed with AES-256-GCM under a
//! per-session key derived from the vault's master key, kept under
//! `data/media/{workspace}/{session}/{media_id}` for the retention time, and read back for
//! `GET …/media/{media_id}`. The plain bytes never touch the disk.
//!
//! File format: `WSM1`, key id length (1 byte), key id, nonce (12 bytes), ciphertext + tag. The
//! associated data binds the file to its session and media id, so a file moved elsewhere fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::engine::wpp;
use crate::ids::SessionKey;
use crate::messages::store::{now_ms, StoreError};
use crate::messages::Messages;
use crate::vault::VaultKeys;

const MAGIC: &[u8; 4] = b"WSM1";
/// Salt of the media key derivation: keeps media keys apart from every vault file key.
const MEDIA_SALT: &[u8] = b"wa-sidecar media at rest v1";
/// Bytes read from the page per call (base64 makes it a third larger on the wire).
const SLICE: u64 = 512 * 1024;
/// Default retention.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The largest file accepted per message type (WhatsApp's own limits, with room).
pub fn max_bytes(kind: &str) -> u64 {
    const MIB: u64 = 1024 * 1024;
    match kind {
        "sticker" => MIB,
        "image" => 16 * MIB,
        "audio" => 16 * MIB,
        "video" => 64 * MIB,
        _ => 100 * MIB,
    }
}

/// Where media live and the keys that seal them.
pub struct MediaStore {
    root: PathBuf,
    keys: Arc<VaultKeys>,
    pub retention: Duration,
    /// Media up to this size also go in the callback as base64; 0: never.
    pub inline_max: u64,
}

/// What the callback and the routes say of a media file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MediaInfo {
    pub id: String,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub filename: Option<String>,
    /// `stored`, `failed` (see `reason`) or `expired`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One media row.
#[derive(Debug, Clone)]
pub struct MediaRow {
    pub info: MediaInfo,
    pub message_id: String,
    pub wa_id: String,
    pub kind: String,
}

/// What the message says about its media, before downloading.
pub struct Expected<'a> {
    pub media_id: &'a str,
    pub message_id: &'a str,
    pub wa_id: &'a str,
    pub kind: &'a str,
    pub mime_type: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub filename: Option<&'a str>,
}

impl MediaStore {
    pub fn new(
        data_dir: &Path,
        keys: Arc<VaultKeys>,
        retention: Duration,
        inline_max: u64,
    ) -> Self {
        Self { root: data_dir.join("media"), keys, retention, inline_max }
    }

    fn path(&self, key: &SessionKey, media_id: &str) -> PathBuf {
        self.root.join(key.workspace.as_str()).join(key.session.as_str()).join(media_id)
    }

    fn aad(key: &SessionKey, media_id: &str) -> Vec<u8> {
        format!("{}\0{}\0{}", key.workspace.as_str(), key.session.as_str(), media_id).into_bytes()
    }

    /// The session's media key under master key `key_id`.
    fn session_key(&self, key_id: &str, key: &SessionKey) -> Option<Zeroizing<[u8; 32]>> {
        Some(self.keys.get(key_id)?.derive(MEDIA_SALT, key))
    }

    /// Seals `plain` and writes it (temp file, fsync, rename). Blocking.
    pub fn write(&self, key: &SessionKey, media_id: &str, plain: &[u8]) -> std::io::Result<()> {
        let key_id = self.keys.seal_key_id().to_owned();
        let k = self
            .session_key(&key_id, key)
            .ok_or_else(|| std::io::Error::other("the vault's seal key is missing"))?;
        let cipher = Aes256Gcm::new_from_slice(&k[..]).map_err(std::io::Error::other)?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(key, media_id);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .map_err(|_| std::io::Error::other("sealing media failed"))?;
        let mut out = Vec::with_capacity(4 + 1 + key_id.len() + 12 + sealed.len());
        out.extend_from_slice(MAGIC);
        out.push(key_id.len() as u8);
        out.extend_from_slice(key_id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        let path = self.path(key, media_id);
        let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)
    }

    /// Reads and opens a stored file; `Ok(None)` when it is not there. Blocking.
    pub fn read(&self, key: &SessionKey, media_id: &str) -> std::io::Result<Option<Vec<u8>>> {
        let data = match std::fs::read(self.path(key, media_id)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = || std::io::Error::other("media file is damaged or sealed under another key");
        if data.len() < 5 || &data[..4] != MAGIC {
            return Err(bad());
        }
        let n = data[4] as usize;
        let rest = data.get(5..).ok_or_else(bad)?;
        let key_id = std::str::from_utf8(rest.get(..n).ok_or_else(bad)?).map_err(|_| bad())?;
        let nonce = rest.get(n..n + 12).ok_or_else(bad)?;
        let sealed = rest.get(n + 12..).ok_or_else(bad)?;
        let k = self.session_key(key_id, key).ok_or_else(bad)?;
        let cipher = Aes256Gcm::new_from_slice(&k[..]).map_err(|_| bad())?;
        let aad = Self::aad(key, media_id);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &aad })
            .map(Some)
            .map_err(|_| bad())
    }

    pub fn remove(&self, key: &SessionKey, media_id: &str) {
        let _ = std::fs::remove_file(self.path(key, media_id));
    }

    /// Deletes files older than the retention; marks their rows `expired`. Blocking.
    pub fn sweep(&self, c: &Connection) -> Result<usize, StoreError> {
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        let mut stmt = c.prepare(
            "SELECT workspace, session, media_id FROM inbound_media WHERE status = 'stored' AND stored_at < ?1",
        )?;
        let old: Vec<(String, String, String)> = stmt
            .query_map(params![cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (ws, s, id) in &old {
            let _ = std::fs::remove_file(self.root.join(ws).join(s).join(id));
            c.execute(
                "UPDATE inbound_media SET status = 'expired' WHERE workspace = ?1 AND session = ?2 AND media_id = ?3",
                params![ws, s, id],
            )?;
        }
        Ok(old.len())
    }
}

pub fn get_row(
    c: &Connection,
    key: &SessionKey,
    media_id: &str,
) -> Result<Option<MediaRow>, StoreError> {
    Ok(c.query_row(
        "SELECT media_id, mime_type, size, sha256, filename, status, reason, message_id, wa_id, kind
         FROM inbound_media WHERE workspace = ?1 AND session = ?2 AND media_id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), media_id],
        |r| {
            Ok(MediaRow {
                info: MediaInfo {
                    id: r.get(0)?,
                    mime_type: r.get(1)?,
                    size: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
                    sha256: r.get(3)?,
                    filename: r.get(4)?,
                    status: r.get(5)?,
                    reason: r.get(6)?,
                },
                message_id: r.get(7)?,
                wa_id: r.get(8)?,
                kind: r.get(9)?,
            })
        },
    )
    .optional()?)
}

fn put_row(c: &Connection, key: &SessionKey, row: &MediaRow) -> Result<(), StoreError> {
    let i = &row.info;
    c.execute(
        "INSERT INTO inbound_media (workspace, session, media_id, message_id, wa_id, kind, mime_type, size, sha256, filename, status, reason, stored_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (workspace, session, media_id) DO UPDATE SET mime_type = excluded.mime_type, size = excluded.size,
           sha256 = excluded.sha256, filename = excluded.filename, status = excluded.status, reason = excluded.reason,
           stored_at = excluded.stored_at",
        params![
            key.workspace.as_str(), key.session.as_str(), i.id, row.message_id, row.wa_id, row.kind, i.mime_type,
            i.size.map(|s| s as i64), i.sha256, i.filename, i.status, i.reason, now_ms()
        ],
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct Kept {
    token: String,
    size: u64,
    mime_type: Option<String>,
}

/// The media of a message: what is already stored (a repeat after a crash), else [`fetch`].
pub async fn ensure(
    m: &Messages,
    store: &Arc<MediaStore>,
    key: &SessionKey,
    e: &Expected<'_>,
) -> MediaInfo {
    let (k, id) = (key.clone(), e.media_id.to_owned());
    if let Ok(Some(row)) = m.store.run(move |c| get_row(c, &k, &id)).await {
        if row.info.status == "stored" {
            return row.info;
        }
    }
    fetch(m, store, key, e).await
}

/// Downloads, checks, seals and records one message's media. Never fails: a problem is a
/// `failed` status with a reason (`media_gone`, `too_large`, `hash_mismatch`, `download_failed`,
/// `store_failed`).
pub async fn fetch(
    m: &Messages,
    store: &Arc<MediaStore>,
    key: &SessionKey,
    e: &Expected<'_>,
) -> MediaInfo {
    let (info, bytes) = match download(m, key, e).await {
        Ok((mime, bytes)) => {
            let sha = hex::encode(Sha256::digest(&bytes));
            let info = MediaInfo {
                id: e.media_id.to_owned(),
                mime_type: e.mime_type.map(str::to_owned).or(mime),
                size: Some(bytes.len() as u64),
                sha256: Some(sha.clone()),
                filename: e.filename.map(str::to_owned),
                status: "stored".into(),
                reason: None,
            };
            if e.sha256.is_some_and(|want| want != sha) {
                (failed(e, "hash_mismatch"), None)
            } else {
                (info, Some(bytes))
            }
        }
        Err(reason) => (failed(e, &reason), None),
    };
    let mut info = info;
    if let Some(bytes) = bytes {
        let (s, k, id) = (store.clone(), key.clone(), e.media_id.to_owned());
        let written = tokio::task::spawn_blocking(move || s.write(&k, &id, &bytes)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!(session = %key, media = e.media_id, "media not stored: {written:?}");
            info = failed(e, "store_failed");
        }
    }
    if info.status != "stored" {
        // A failed try never hides a copy that is already stored.
        let (k, id) = (key.clone(), e.media_id.to_owned());
        if let Ok(Some(old)) = m.store.run(move |c| get_row(c, &k, &id)).await {
            if old.info.status == "stored" {
                tracing::info!(session = %key, media = e.media_id, reason = ?info.reason, "refetch failed; keeping the stored copy");
                return old.info;
            }
        }
    }
    let row = MediaRow {
        info: info.clone(),
        message_id: e.message_id.to_owned(),
        wa_id: e.wa_id.to_owned(),
        kind: e.kind.to_owned(),
    };
    let k = key.clone();
    if let Err(err) = m.store.run(move |c| put_row(c, &k, &row)).await {
        tracing::warn!(session = %key, error = %err, "media row not stored");
    }
    super::metrics::media(&info.status);
    info
}

fn failed(e: &Expected<'_>, reason: &str) -> MediaInfo {
    MediaInfo {
        id: e.media_id.to_owned(),
        mime_type: e.mime_type.map(str::to_owned),
        size: None,
        sha256: e.sha256.map(str::to_owned),
        filename: e.filename.map(str::to_owned),
        status: "failed".into(),
        reason: Some(reason.to_owned()),
    }
}

async fn download(
    m: &Messages,
    key: &SessionKey,
    e: &Expected<'_>,
) -> Result<(Option<String>, Vec<u8>), String> {
    let kept = m.sessions.bridge_call(key, wpp::download_media(e.wa_id)).await.map_err(|err| {
        let code = match &err {
            crate::sessions::SessionError::Engine(crate::engine::EngineError::Bridge {
                code,
                ..
            }) => code.clone(),
            _ => None,
        };
        match code.as_deref() {
            Some("media_not_found" | "msg_not_found") => "media_gone".to_owned(),
            _ => {
                tracing::debug!(session = %key, error = %err, "downloadMedia failed");
                "download_failed".to_owned()
            }
        }
    })?;
    let kept: Kept = serde_json::from_value(kept).map_err(|_| "download_failed".to_owned())?;
    let result = read_kept(m, key, &kept, max_bytes(e.kind)).await;
    let _ = m.sessions.bridge_call(key, wpp::media_release(&kept.token)).await;
    result.map(|b| (kept.mime_type.clone(), b))
}

async fn read_kept(
    m: &Messages,
    key: &SessionKey,
    kept: &Kept,
    max: u64,
) -> Result<Vec<u8>, String> {
    if kept.size > max {
        return Err("too_large".into());
    }
    let mut out = Vec::with_capacity(kept.size as usize);
    let mut offset = 0;
    while offset < kept.size {
        let len = SLICE.min(kept.size - offset);
        let v = m
            .sessions
            .bridge_call(key, wpp::media_slice(&kept.token, offset, len))
            .await
            .map_err(|_| "download_failed".to_owned())?;
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .map_err(|_| "download_failed".to_owned())?;
        if chunk.is_empty() {
            return Err("download_failed".into());
        }
        offset += chunk.len() as u64;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Runs the retention sweep now and then every `every` (`callbacks.media_sweep_interval`), for
/// the life of the runtime. A failed sweep is logged and tried again at the next tick.
pub fn spawn_sweeper(m: Messages, store: Arc<MediaStore>, every: Duration) {
    // A zero interval would spin: at least a second apart.
    let every = every.max(Duration::from_secs(1));
    let task = async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = store.clone();
            match m.store.run(move |c| s.sweep(c)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "media past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "media retention sweep failed"),
            }
        }
    };
    tokio::spawn(tracing::Instrument::instrument(
        task,
        tracing::info_span!("media_retention_sweep"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};
    use crate::vault::keys::MasterKey;

    fn key(s: &str) -> SessionKey {
        SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse(s).unwrap())
    }

    #[test]
    fn sealed_at_rest_and_bound_to_its_session_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(
            dir.path(),
            Arc::new(VaultKeys::single("k1", MasterKey::random())),
            DEFAULT_RETENTION,
            0,
        );
        let plain = b"the plain bytes of a cat picture".repeat(100);
        store.write(&key("main"), "med_1", &plain).unwrap();
        assert_eq!(store.read(&key("main"), "med_1").unwrap().unwrap(), plain);
        let on_disk = std::fs::read(dir.path().join("media/acme/main/med_1")).unwrap();
        assert!(!on_disk.windows(20).any(|w| w == &plain[..20]), "no plain bytes on disk");
        // Moved to another session or id: refused.
        std::fs::create_dir_all(dir.path().join("media/acme/other")).unwrap();
        std::fs::copy(
            dir.path().join("media/acme/main/med_1"),
            dir.path().join("media/acme/other/med_1"),
        )
        .unwrap();
        assert!(store.read(&key("other"), "med_1").is_err());
        assert_eq!(store.read(&key("main"), "med_2").unwrap(), None);
    }
}
