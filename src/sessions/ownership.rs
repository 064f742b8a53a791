//! Session ownership: which process runs a session. A process runs a session only while it holds
//! its [`Lease`]; dropping the lease releases it, and only then may another process claim it.
//! This is what moves in a blue-green handover (see docs/operations.md): the old process closes
//! the browser, seals the login and drops the lease; the new one claims it and starts.
//!
//! Today the lease is the session's `flock` on `sessions/{ws}/{s}/lock` ([`LocalOwnership`]):
//! the kernel drops it when the process dies, so a crash leaves nothing stale. A multi-machine
//! mode implements [`Ownership`] with a lease row in PostgreSQL (../shared/reference/scale-out.md)
//! and nothing else changes. Each claim also carries a generation, one more than the previous
//! claim's, the fencing token that mode needs.

use std::path::{Path, PathBuf};

use super::lock::{LockError, SessionLock};
use super::record;
use crate::ids::SessionKey;

/// Claims sessions for this process.
pub trait Ownership: Send + Sync {
    /// Takes the session, or [`LockError::Held`] when another owner holds it.
    fn claim(&self, key: &SessionKey) -> Result<Lease, LockError>;

    /// Whether some owner (this process included) holds the session right now.
    fn is_held(&self, key: &SessionKey) -> bool;
}

/// A claimed session. Held by the session's actor for as long as it runs; dropped, released.
pub struct Lease {
    generation: u64,
    // Released by drop.
    _held: Box<dyn Send + Sync>,
}

impl Lease {
    pub fn new(generation: u64, held: Box<dyn Send + Sync>) -> Self {
        Self { generation, _held: held }
    }

    /// One more than the previous claim of the same session.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("generation", &self.generation).finish()
    }
}

/// One machine: the session's `flock` on `sessions/{ws}/{s}/lock`, whose content is the
/// generation of the last claim.
pub struct LocalOwnership {
    sessions_root: PathBuf,
}

impl LocalOwnership {
    pub fn new(sessions_root: PathBuf) -> Self {
        Self { sessions_root }
    }
}

impl Ownership for LocalOwnership {
    fn claim(&self, key: &SessionKey) -> Result<Lease, LockError> {
        let path = record::session_dir(&self.sessions_root, key).join("lock");
        let lock = SessionLock::acquire(&path)?;
        let generation = bump_generation(&path)
            .map_err(|source| LockError::Io { path: path.clone(), source })?;
        Ok(Lease::new(generation, Box::new(lock)))
    }

    fn is_held(&self, key: &SessionKey) -> bool {
        SessionLock::is_held(&record::session_dir(&self.sessions_root, key).join("lock"))
    }
}

/// Reads, increments and writes back the counter in the lock file (only the holder of its
/// `flock` calls this; the lock is on the descriptor, not the content). An unreadable count
/// starts again at 1: on one machine the flock, not the number, is what keeps owners apart.
fn bump_generation(path: &Path) -> std::io::Result<u64> {
    let previous: u64 = std::fs::read_to_string(path)?.trim().parse().unwrap_or(0);
    let next = previous + 1;
    std::fs::write(path, format!("{next}\n"))?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};

    #[test]
    fn one_owner_at_a_time_and_each_claim_is_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let key =
            SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap());
        std::fs::create_dir_all(record::session_dir(dir.path(), &key)).unwrap();
        let blue = LocalOwnership::new(dir.path().to_owned());
        let green = LocalOwnership::new(dir.path().to_owned());
        let first = blue.claim(&key).unwrap();
        assert_eq!(first.generation(), 1);
        assert!(matches!(green.claim(&key), Err(LockError::Held(_))));
        assert!(green.is_held(&key));
        drop(first);
        assert!(!green.is_held(&key));
        let second = green.claim(&key).unwrap();
        assert_eq!(second.generation(), 2);
    }
}
