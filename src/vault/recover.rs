//! What happens to live profiles a crashed run left in the runtime directory.
//!
//! Rule: a leftover live directory is resealed when its login content differs from what the
//! sealed file holds (or there is no sealed file, or it cannot be opened), then wiped. "Differs"
//! is decided by the SHA-256 of the archive each would produce; archives are deterministic, so an
//! untouched unsealed copy matches its sealed file exactly. A differing live copy is always the
//! newer one: the sealed file is only ever written from that live directory (or by `rotate`, which
//! keeps the content), and the sweep runs before any session starts. A sealed file that cannot be
//! opened is renamed to `profile.sealed.unreadable-{unix time}`, never deleted. Half-made
//! (`.unseal-*`) and half-deleted (`.wipe-*`) directories are removed without a look.
//!
//! Call [`sweep_runtime`] at boot, after any browser of the previous run is gone.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::archive;
use super::store::{lock, KeyState, VaultStore};
use super::VaultError;
use crate::ids::{SessionId, SessionKey, WorkspaceId};

/// What became of one leftover live directory (it is wiped in every case but an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// It held a newer login: now sealed.
    Resealed,
    /// The sealed file already holds exactly this content.
    AlreadySealed,
    /// It held no login files.
    NoLogin,
    /// The old sealed file could not be opened; it was kept at this path and the live copy sealed.
    SetAside(PathBuf),
}

#[derive(Debug, Default)]
pub struct SweepReport {
    pub recovered: Vec<(SessionKey, Recovered)>,
    /// `.unseal-*` / `.wipe-*` leftovers removed.
    pub leftovers_removed: usize,
    /// Paths that could not be handled, and why; a live directory that failed to reseal is kept.
    pub failed: Vec<(PathBuf, String)>,
}

struct HashSink(Sha256);

impl Write for HashSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn digest_of_dir(dir: &Path, listing: &archive::Listing) -> Result<[u8; 32], VaultError> {
    let mut sink = HashSink(Sha256::new());
    archive::write(dir, listing, &mut sink)?;
    Ok(sink.0.finalize().into())
}

/// Reseals `key`'s live directory if it holds a newer login, then wipes it. Caller holds the key's lock.
pub(crate) fn recover_live_dir(
    store: &VaultStore,
    key: &SessionKey,
    st: &mut KeyState,
) -> Result<Recovered, VaultError> {
    let live = store.runtime_path(key);
    let listing = archive::list(&live, store.include())?;
    let outcome = if !archive::has_files(&listing) {
        Recovered::NoLogin
    } else {
        let live_digest = digest_of_dir(&live, &listing)?;
        match store.open_sealed(key) {
            Ok(Some(o)) if <[u8; 32]>::from(Sha256::digest(&o.plaintext[..])) == live_digest => {
                Recovered::AlreadySealed
            }
            Ok(_) => {
                store.seal_locked(key, &live, st, true)?;
                Recovered::Resealed
            }
            Err(e) if e.is_unreadable() => {
                let aside = set_aside(&store.sealed_path(key))?;
                tracing::warn!(session = %key, error = %e, kept = %aside.display(), "sealed file unreadable; sealing the live copy");
                store.seal_locked(key, &live, st, true)?;
                Recovered::SetAside(aside)
            }
            Err(e) => return Err(e),
        }
    };
    store.wipe(&live)?;
    st.last_sealed = None;
    Ok(outcome)
}

fn set_aside(sealed: &Path) -> Result<PathBuf, VaultError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = sealed.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".unreadable-{secs}"));
    let aside = sealed.with_file_name(name);
    std::fs::rename(sealed, &aside).map_err(|e| VaultError::io(sealed, e))?;
    Ok(aside)
}

fn is_leftover(name: &str) -> bool {
    name.starts_with(".unseal-") || name.starts_with(".wipe-")
}

/// Boot-time sweep of `{runtime_dir}`: every live directory is considered for resealing, then wiped.
pub fn sweep_runtime(store: &VaultStore) -> SweepReport {
    let mut report = SweepReport::default();
    let root = store.runtime_root();
    let Ok(workspaces) = std::fs::read_dir(root) else {
        return report;
    }; // no runtime dir: nothing left
    for ws in workspaces.flatten() {
        let ws_path = ws.path();
        // The engine's shared browsers (pooled mode) hold no login; the engine sweeps them.
        if ws.file_name() == crate::engine::POOL_DIR {
            continue;
        }
        let Some(workspace) = ws.file_name().to_str().and_then(|n| WorkspaceId::parse(n).ok())
        else {
            report.failed.push((ws_path, "not a workspace id; left alone".into()));
            continue;
        };
        let entries = match std::fs::read_dir(&ws_path) {
            Ok(e) => e,
            Err(e) => {
                report.failed.push((ws_path, e.to_string()));
                continue;
            }
        };
        for entry in entries.flatten() {
            sweep_entry(store, &workspace, &entry.path(), &mut report);
        }
    }
    report
}

fn sweep_entry(store: &VaultStore, workspace: &WorkspaceId, path: &Path, report: &mut SweepReport) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_leftover(name) {
        match std::fs::remove_dir_all(path) {
            Ok(()) => report.leftovers_removed += 1,
            Err(e) => report.failed.push((path.to_owned(), e.to_string())),
        }
        return;
    }
    let Ok(session) = SessionId::parse(name) else {
        report.failed.push((path.to_owned(), "not a session id; left alone".into()));
        return;
    };
    let key = SessionKey::new(workspace.clone(), session);
    let state = store.key_state(&key);
    let mut st = lock(&state);
    match recover_live_dir(store, &key, &mut st) {
        Ok(r) => {
            tracing::info!(session = %key, outcome = ?r, "swept live profile left by a previous run");
            report.recovered.push((key, r));
        }
        Err(e) => report.failed.push((path.to_owned(), e.to_string())),
    }
}
