//! Where a session's login profile lives. Sessions never touch profile paths themselves: they ask
//! a [`ProfileStore`] for a live directory before launch and hand it back after the browser is gone.
//! The plain store keeps the profile under `sessions/{workspace}/{session}/`; the vault replaces it
//! with sealed files and a private runtime directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ids::SessionKey;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile I/O for {key}: {source}")]
    Io { key: SessionKey, source: std::io::Error },
    /// The stored login could not be opened (wrong key, corrupt file, other session's file).
    #[error("stored login of {key} cannot be opened: {reason}")]
    Unreadable { key: SessionKey, reason: String },
}

/// Called only by the session's own actor, so calls for one key never overlap.
pub trait ProfileStore: Send + Sync {
    /// A live profile directory ready for Chromium, holding the stored login if there is one.
    fn open(&self, key: &SessionKey) -> Result<PathBuf, ProfileError>;
    /// Persist what the live directory holds now (while the browser runs, or after it stopped).
    fn checkpoint(&self, key: &SessionKey) -> Result<(), ProfileError>;
    /// The browser is gone: persist, then remove any plaintext copy.
    fn close(&self, key: &SessionKey) -> Result<(), ProfileError>;
    /// Forget the login: the stored copy and any live directory. Idempotent.
    fn destroy(&self, key: &SessionKey) -> Result<(), ProfileError>;
    /// Whether a stored login exists (a restart should then reach `connected` without a QR).
    fn has_login(&self, key: &SessionKey) -> bool;
}

/// Starts keeping the stored copy of a live profile fresh while its browser runs (the vault
/// reseals on change). The returned guard stops it when dropped; dropping may block while a
/// reseal finishes, so the actor drops it on a blocking thread. `None`: nothing to watch.
pub type ProfileWatch = Arc<dyn Fn(&SessionKey, &Path) -> Option<Box<dyn Send>> + Send + Sync>;
