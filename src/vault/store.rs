//! [`VaultStore`]: the `ProfileStore` that keeps each login sealed under `sessions/` and hands
//! Chromium a plaintext copy only inside the private runtime directory.
//!
//! Paths: `{sessions_root}/{workspace}/{session}/profile.sealed` and
//! `{runtime_dir}/{workspace}/{session}/`. Unsealing goes through a `.unseal-*` sibling that is
//! renamed into place, and wiping renames the live directory to a `.wipe-*` sibling before
//! deleting it, so a half-made or half-deleted directory is never mistaken for a live profile by
//! the boot sweep (`recover.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::RngCore;

use super::archive::{self, Listing};
use super::config::VaultConfig;
use super::durable;
use super::format::{self, Opened, SealWriter};
use super::keys::VaultKeys;
use super::VaultError;
use crate::ids::SessionKey;
use crate::sessions::profile::{ProfileError, ProfileStore};

pub const SEALED_FILE: &str = "profile.sealed";

/// What a reseal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealOutcome {
    /// A new sealed file of this many bytes replaced the old one.
    Sealed { bytes: u64 },
    /// Nothing changed since the last seal of this process; the file was left alone.
    Unchanged,
    /// The live profile holds no login files; the sealed file (if any) was left alone.
    Empty,
}

#[derive(Default)]
pub(crate) struct KeyState {
    /// What the live directory looked like when it was last sealed or unsealed.
    pub(crate) last_sealed: Option<Listing>,
}

pub struct VaultStore {
    sessions_root: PathBuf,
    runtime_root: PathBuf,
    keys: Arc<VaultKeys>,
    include: Vec<String>,
    attempts: u32,
    chunk: usize,
    state: Mutex<HashMap<SessionKey, Arc<Mutex<KeyState>>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-updated that matters: state is a cache.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn to_profile(key: &SessionKey, e: VaultError) -> ProfileError {
    match e {
        VaultError::Io { source, .. } | VaultError::Read(source) => {
            ProfileError::Io { key: key.clone(), source }
        }
        other => ProfileError::Unreadable { key: key.clone(), reason: other.to_string() },
    }
}

impl VaultStore {
    pub fn new(cfg: &VaultConfig, sessions_root: impl Into<PathBuf>, keys: Arc<VaultKeys>) -> Self {
        Self {
            sessions_root: sessions_root.into(),
            runtime_root: cfg.runtime_dir.clone(),
            keys,
            include: cfg.include.clone(),
            attempts: cfg.snapshot_attempts.max(1),
            chunk: format::DEFAULT_CHUNK,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub fn sealed_path(&self, key: &SessionKey) -> PathBuf {
        self.sessions_root.join(key.workspace.as_str()).join(key.session.as_str()).join(SEALED_FILE)
    }

    pub fn runtime_path(&self, key: &SessionKey) -> PathBuf {
        self.runtime_root.join(key.workspace.as_str()).join(key.session.as_str())
    }

    pub fn runtime_root(&self) -> &Path {
        &self.runtime_root
    }

    pub fn keys(&self) -> &VaultKeys {
        &self.keys
    }

    pub(crate) fn include(&self) -> &[String] {
        &self.include
    }

    pub(crate) fn key_state(&self, key: &SessionKey) -> Arc<Mutex<KeyState>> {
        lock(&self.state).entry(key.clone()).or_default().clone()
    }

    /// Opens the sealed file of `key`; `None` when there is none.
    pub fn open_sealed(&self, key: &SessionKey) -> Result<Option<Opened>, VaultError> {
        let path = self.sealed_path(key);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(VaultError::io(&path, e)),
        };
        let len = file.metadata().map_err(|e| VaultError::io(&path, e))?.len();
        let opened = format::open(file, &self.keys, key, usize::try_from(len).unwrap_or(0))?;
        archive::check(&opened.plaintext)?;
        Ok(Some(opened))
    }

    /// Seals the login paths of `dir` as `key`'s sealed file, now, under the newest key.
    pub fn reseal(&self, key: &SessionKey, dir: &Path) -> Result<SealOutcome, VaultError> {
        let state = self.key_state(key);
        let mut state = lock(&state);
        self.seal_locked(key, dir, &mut state, false)
    }

    pub(crate) fn seal_locked(
        &self,
        key: &SessionKey,
        dir: &Path,
        st: &mut KeyState,
        force: bool,
    ) -> Result<SealOutcome, VaultError> {
        let listing = archive::list(dir, &self.include)?;
        if !archive::has_files(&listing) {
            return Ok(SealOutcome::Empty);
        }
        let target = self.sealed_path(key);
        // Same names, sizes, mtimes and inodes: nothing to do. LevelDB never rewrites a file in
        // place at the same size (logs grow, tables are new files, CURRENT is renamed over).
        if !force && st.last_sealed.as_ref() == Some(&listing) && target.exists() {
            return Ok(SealOutcome::Unchanged);
        }
        let mut sealed_listing = None;
        durable::replace(&target, self.attempts, |w| {
            let before = archive::list(dir, &self.include)?;
            let mut sw = SealWriter::new(w, &self.keys, key, self.chunk)?;
            let read_whole = archive::write(dir, &before, &mut sw)?;
            sw.finish()?;
            let stable =
                read_whole && archive::settled(&before, &archive::list(dir, &self.include)?);
            sealed_listing = Some(before);
            Ok(stable)
        })?;
        st.last_sealed = sealed_listing;
        let bytes = std::fs::metadata(&target).map_err(|e| VaultError::io(&target, e))?.len();
        tracing::debug!(session = %key, bytes, "profile sealed");
        Ok(SealOutcome::Sealed { bytes })
    }

    /// Seals `plaintext` (a checked archive) as `key`'s file under the newest key.
    pub(crate) fn write_plaintext(
        &self,
        key: &SessionKey,
        plaintext: &[u8],
    ) -> Result<(), VaultError> {
        durable::replace(&self.sealed_path(key), 1, |w| {
            let mut sw = SealWriter::new(w, &self.keys, key, self.chunk)?;
            sw.write_all(plaintext).map_err(|e| VaultError::Write(e.to_string()))?;
            sw.finish()?;
            Ok(true)
        })
    }

    fn unseal_locked(&self, key: &SessionKey, st: &mut KeyState) -> Result<PathBuf, VaultError> {
        let live = self.runtime_path(key);
        if live.exists() {
            // Left by a crash or a failed close: keep whatever login it holds, then start clean.
            super::recover::recover_live_dir(self, key, st)?;
        }
        let parent = live
            .parent()
            .ok_or_else(|| VaultError::io(&live, std::io::ErrorKind::InvalidInput.into()))?;
        durable::private_dir(parent)?;
        // Everything is authenticated and checked in memory before the first byte reaches disk.
        match self.open_sealed(key)? {
            None => durable::private_dir(&live)?,
            Some(opened) => {
                let stage = sibling(&live, ".unseal-");
                durable::private_dir(&stage)?;
                if let Err(e) = archive::extract(&opened.plaintext, &stage) {
                    let _ = std::fs::remove_dir_all(&stage);
                    return Err(e);
                }
                std::fs::rename(&stage, &live).map_err(|e| VaultError::io(&live, e))?;
            }
        }
        st.last_sealed = Some(archive::list(&live, &self.include)?);
        Ok(live)
    }

    /// Removes a live directory: renamed away first, so a crash mid-delete leaves only a `.wipe-*`.
    pub(crate) fn wipe(&self, live: &Path) -> Result<(), VaultError> {
        if !live.exists() {
            return Ok(());
        }
        let doomed = sibling(live, ".wipe-");
        std::fs::rename(live, &doomed).map_err(|e| VaultError::io(live, e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| VaultError::io(&doomed, e))
    }

    fn destroy_locked(&self, key: &SessionKey, st: &mut KeyState) -> Result<(), VaultError> {
        let sealed = self.sealed_path(key);
        match std::fs::remove_file(&sealed) {
            Ok(()) => durable::sync_dir(sealed.parent().unwrap_or(Path::new(".")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(VaultError::io(&sealed, e)),
        }
        durable::remove_stale_temps(&sealed)?;
        st.last_sealed = None;
        self.wipe(&self.runtime_path(key))
    }
}

/// `{parent}/{prefix}{name}-{random}`: a hidden sibling in the same directory (same filesystem).
fn sibling(path: &Path, prefix: &str) -> PathBuf {
    let mut tag = [0u8; 6];
    rand::rng().fill_bytes(&mut tag);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{prefix}{name}-{}", hex::encode(tag)))
}

impl ProfileStore for VaultStore {
    fn open(&self, key: &SessionKey) -> Result<PathBuf, ProfileError> {
        let state = self.key_state(key);
        let mut st = lock(&state);
        self.unseal_locked(key, &mut st).map_err(|e| to_profile(key, e))
    }

    fn checkpoint(&self, key: &SessionKey) -> Result<(), ProfileError> {
        let live = self.runtime_path(key);
        if !live.exists() {
            return Ok(()); // nothing live, so nothing newer than the sealed file
        }
        self.reseal(key, &live).map(|_| ()).map_err(|e| to_profile(key, e))
    }

    fn close(&self, key: &SessionKey) -> Result<(), ProfileError> {
        let state = self.key_state(key);
        let mut st = lock(&state);
        let live = self.runtime_path(key);
        if live.exists() {
            // On failure the live directory stays: the next open or boot sweep reseals it.
            self.seal_locked(key, &live, &mut st, false).map_err(|e| to_profile(key, e))?;
            self.wipe(&live).map_err(|e| to_profile(key, e))?;
        }
        st.last_sealed = None;
        Ok(())
    }

    fn destroy(&self, key: &SessionKey) -> Result<(), ProfileError> {
        let state = self.key_state(key);
        let mut st = lock(&state);
        self.destroy_locked(key, &mut st).map_err(|e| to_profile(key, e))
    }

    fn has_login(&self, key: &SessionKey) -> bool {
        self.sealed_path(key).is_file()
    }
}
