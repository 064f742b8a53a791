//! Operator commands over every sealed file: `wa-sidecar vault verify` and `wa-sidecar vault rotate`.
//!
//! Both walk `{sessions_root}/{workspace}/{session}/profile.sealed`. `rotate` reseals each file not
//! yet under the newest key (content unchanged, durable replace); run it after adding the new key
//! and making it `vault.seal_key_id`, then remove the old key once `verify` is clean. Running
//! sessions reseal under the newest key by themselves, so rotating while they run keeps every file
//! whole (each write replaces the file atomically); a reseal of a running session that races with
//! `rotate` in the same directory may fail once and is retried on its next change or on close.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::VaultConfig;
use super::format;
use super::keys::VaultKeys;
use super::store::VaultStore;
use super::VaultError;
use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::sessions::lock::{LockError, SessionLock};

#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Files that open, with the master key id they are sealed under.
    pub ok: Vec<(SessionKey, String)>,
    /// Files that do not open, and why.
    pub failed: Vec<(PathBuf, String)>,
    /// Files under the sessions root that are neither sealed files nor a session's `session.toml`
    /// or `lock`: nothing there should be a plaintext profile.
    pub strays: Vec<PathBuf>,
}

#[derive(Debug, Default)]
pub struct RotateReport {
    /// Resealed under the newest key, with the key id they were under before.
    pub rotated: Vec<(SessionKey, String)>,
    /// Already under the newest key.
    pub current: Vec<SessionKey>,
    /// Could not be opened or rewritten; left exactly as they were.
    pub failed: Vec<(PathBuf, String)>,
    /// Held by a running sidecar (its session `lock`): not touched, since that process may
    /// reseal the file at any moment and a rewrite of what rotate read would roll it back.
    pub in_use: Vec<SessionKey>,
}

/// Every `(key, sealed path)` under `sessions_root`, in order. Directories that are not ids are skipped.
fn sealed_files(sessions_root: &Path) -> Result<Vec<(SessionKey, PathBuf)>, VaultError> {
    let mut out = Vec::new();
    for ws in read_sorted(sessions_root)? {
        let Ok(workspace) = WorkspaceId::parse(&ws) else {
            continue;
        };
        let ws_dir = sessions_root.join(&ws);
        if !ws_dir.is_dir() {
            continue;
        }
        for s in read_sorted(&ws_dir)? {
            let Ok(session) = SessionId::parse(&s) else {
                continue;
            };
            let path = ws_dir.join(&s).join(super::store::SEALED_FILE);
            if path.is_file() {
                out.push((SessionKey::new(workspace.clone(), session), path));
            }
        }
    }
    Ok(out)
}

fn read_sorted(dir: &Path) -> Result<Vec<String>, VaultError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VaultError::io(dir, e)),
    };
    let mut names: Vec<String> =
        rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    names.sort();
    Ok(names)
}

fn store(sessions_root: &Path, keys: &VaultKeys) -> VaultStore {
    VaultStore::new(&VaultConfig::default(), sessions_root, Arc::new(keys.clone()))
}

/// Names a session directory may hold besides sealed files (owned by the sessions module).
const KNOWN_FILES: [&str; 2] = ["session.toml", "lock"];

/// Every file under `sessions_root` that is not a sealed file (`profile.sealed*`, ciphertext by
/// construction) or a known non-secret session file. Empty when no plaintext profile is there.
pub fn stray_files(sessions_root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![sessions_root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                _ if name.starts_with(super::store::SEALED_FILE)
                    || KNOWN_FILES.contains(&name.as_str()) => {}
                _ => out.push(path),
            }
        }
    }
    out.sort();
    out
}

/// Opens every sealed file completely (authenticated and archive checked) and lists stray files;
/// writes nothing.
pub fn verify_all(sessions_root: &Path, keys: &VaultKeys) -> Result<VerifyReport, VaultError> {
    let store = store(sessions_root, keys);
    let mut report = VerifyReport { strays: stray_files(sessions_root), ..VerifyReport::default() };
    for (key, path) in sealed_files(sessions_root)? {
        match store.open_sealed(&key) {
            Ok(Some(o)) => report.ok.push((key, o.key_id)),
            Ok(None) => {} // deleted meanwhile
            Err(e) => report.failed.push((path, e.to_string())),
        }
    }
    Ok(report)
}

/// Reseals every file not under the newest key. Old files stay readable until rewritten.
///
/// Each file is read and rewritten while holding its session's `lock`, the one a running sidecar
/// holds for as long as it owns the session: a session in use is skipped (`in_use`), never
/// rewritten from a copy its owner may have replaced meanwhile.
pub fn rotate_all(sessions_root: &Path, keys: &VaultKeys) -> Result<RotateReport, VaultError> {
    let store = store(sessions_root, keys);
    let mut report = RotateReport::default();
    for (key, path) in sealed_files(sessions_root)? {
        let lock_path = crate::sessions::record::session_dir(sessions_root, &key).join("lock");
        let _lock = match SessionLock::acquire(&lock_path) {
            Ok(lock) => lock,
            Err(LockError::Held(_)) => {
                report.in_use.push(key);
                continue;
            }
            Err(e) => {
                report.failed.push((path, e.to_string()));
                continue;
            }
        };
        let opened = match store.open_sealed(&key) {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(e) => {
                report.failed.push((path, e.to_string()));
                continue;
            }
        };
        if opened.key_id == keys.seal_key_id() {
            report.current.push(key);
            continue;
        }
        match store.write_plaintext(&key, &opened.plaintext) {
            Ok(()) => report.rotated.push((key, opened.key_id)),
            Err(e) => report.failed.push((path, e.to_string())),
        }
    }
    Ok(report)
}

/// Reads only a file's header: the key id it is sealed under, without any key.
pub fn sealed_key_id(path: &Path) -> Result<String, VaultError> {
    let mut f = std::fs::File::open(path).map_err(|e| VaultError::io(path, e))?;
    Ok(format::read_header(&mut f)?.key_id)
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, id) in &self.ok {
            writeln!(f, "ok      {key} (key {id})")?;
        }
        for (path, why) in &self.failed {
            writeln!(f, "FAILED  {}: {why}", path.display())?;
        }
        write!(f, "{} sealed files open, {} do not", self.ok.len(), self.failed.len())
    }
}

impl fmt::Display for RotateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, from) in &self.rotated {
            writeln!(f, "rotated {key} (was key {from})")?;
        }
        for (path, why) in &self.failed {
            writeln!(f, "FAILED  {}: {why}", path.display())?;
        }
        for key in &self.in_use {
            writeln!(f, "IN USE  {key}: run by a sidecar right now; not touched")?;
        }
        write!(
            f,
            "{} rotated, {} already current, {} failed, {} in use",
            self.rotated.len(),
            self.current.len(),
            self.failed.len(),
            self.in_use.len()
        )
    }
}
