//! The plain profile store: the live Chromium profile sits under `sessions/{ws}/{s}/profile`.
//! Only for development without a vault; the vault's store replaces it in normal operation.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use super::profile::{ProfileError, ProfileStore};
use super::record::session_dir;
use crate::ids::SessionKey;

pub struct PlainProfileStore {
    root: PathBuf,
}

impl PlainProfileStore {
    pub fn new(sessions_root: PathBuf) -> Self {
        Self { root: sessions_root }
    }

    fn dir(&self, key: &SessionKey) -> PathBuf {
        session_dir(&self.root, key).join("profile")
    }
}

impl ProfileStore for PlainProfileStore {
    fn open(&self, key: &SessionKey) -> Result<PathBuf, ProfileError> {
        let dir = self.dir(key);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| ProfileError::Io { key: key.clone(), source })?;
        Ok(dir)
    }

    fn checkpoint(&self, _key: &SessionKey) -> Result<(), ProfileError> {
        Ok(())
    }

    fn close(&self, _key: &SessionKey) -> Result<(), ProfileError> {
        Ok(())
    }

    fn destroy(&self, key: &SessionKey) -> Result<(), ProfileError> {
        match fs::remove_dir_all(self.dir(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ProfileError::Io { key: key.clone(), source: e })
            }
            _ => Ok(()),
        }
    }

    fn has_login(&self, key: &SessionKey) -> bool {
        fs::read_dir(self.dir(key).join("Default").join("IndexedDB"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }
}
