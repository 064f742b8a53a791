//! `sessions/{workspace}/{session}/lock`: held with `flock` by the one process that runs the
//! session. The kernel drops it when the process dies (even by SIGKILL), so a crash leaves no
//! stale lock; a second sidecar on the same data sees the session as taken.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("session is run by another process (lock {0} is held)")]
    Held(PathBuf),
    #[error("lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Debug)]
pub struct SessionLock {
    // Kept open: closing the file releases the lock.
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io { path: path.to_owned(), source };
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) => LockError::Held(path.to_owned()),
                _ => io(err),
            });
        }
        Ok(Self { _file: file, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether some process holds the lock at `path` right now.
    pub fn is_held(path: &Path) -> bool {
        matches!(Self::acquire(path), Err(LockError::Held(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = SessionLock::acquire(&path).unwrap();
        assert!(matches!(SessionLock::acquire(&path), Err(LockError::Held(_))));
        drop(first);
        assert!(!SessionLock::is_held(&path));
        assert!(SessionLock::acquire(&path).is_ok());
    }
}
