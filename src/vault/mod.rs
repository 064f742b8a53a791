//! Sealed login profiles: AES-256-GCM at rest, unsealed only into a private runtime directory.
//!
//! The vault owns `sessions/{workspace}/{session}/profile.sealed` and
//! `{runtime_dir}/{workspace}/{session}/`; nothing else in the service reads or writes either.
//! It never touches the rest of a session's directory (`session.toml`, `lock`), never starts or
//! stops a browser, and never decides when a session has a login worth keeping: the session actor
//! calls [`VaultStore`] through [`crate::sessions::profile::ProfileStore`].
//!
//! - `format`: the sealed file (versioned header, chunked AES-256-GCM, session-bound).
//! - `keys`: master keys by id, HKDF per file and session, dev key generation.
//! - `archive`: the plaintext archive of only the login-holding profile paths.
//! - `durable`: temp file, fsync, rename, fsync dir.
//! - `store`: [`VaultStore`], the `ProfileStore` of sealed profiles; `recover`: boot-time sweep.
//! - `watcher`: [`ResealWatcher`], reseal while a session runs.
//! - `maintenance`: [`rotate_all`] and [`verify_all`] for `wa-sidecar vault rotate|verify`.
//! - `bench`: figures for `wa-sidecar bench vault`.

pub mod archive;
pub mod bench;
pub mod config;
pub mod durable;
pub mod format;
pub mod keys;
pub mod maintenance;
pub mod recover;
pub mod runtime_dir;
pub mod store;
pub mod watcher;

use std::path::{Path, PathBuf};

pub use config::VaultConfig;
pub use keys::{MasterKey, VaultKeys};
pub use maintenance::{rotate_all, verify_all, RotateReport, VerifyReport};
pub use recover::{sweep_runtime, SweepReport};
pub use store::{SealOutcome, VaultStore};
pub use watcher::{ResealWatcher, WatcherConfig, WatcherStats};

/// Everything that can go wrong in the vault. Messages never contain key material or profile data.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading sealed file: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing sealed file: {0}")]
    Write(String),
    #[error("not a sealed profile (bad magic)")]
    NotSealed,
    #[error("sealed file format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("sealed under master key id {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("sealed file is truncated")]
    Truncated,
    #[error("authentication failed: wrong key, a changed or corrupt file, or a file sealed for another session")]
    Authentication,
    #[error("profile archive: {0}")]
    Archive(String),
    #[error("{0}")]
    BadKey(String),
    #[error("no vault master key: set SIDECAR__VAULT__MASTER_KEYS or vault.master_keys_file")]
    NoMasterKey,
    #[error("watching the live profile: {0}")]
    Watch(String),
}

impl VaultError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }

    /// True when the file itself cannot be opened (as opposed to a local I/O problem).
    pub fn is_unreadable(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Read(_) | Self::Write(_) | Self::Watch(_))
    }
}

#[cfg(test)]
mod chromium_tests;
#[cfg(test)]
mod tests;
