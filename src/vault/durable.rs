//! Crash-safe replacement of one file: write a temp file in the same directory, fsync it, rename
//! it over the target, fsync the directory. At every instant the target is either the complete old
//! file or the complete new one; a crash leaves at most a stray temp file, which the next write in
//! that directory removes.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use super::VaultError;

const TMP_MARK: &str = ".tmp-";

#[cfg(test)]
pub(crate) mod crash {
    //! Test-only crash points: a panic stops the write as a killed process would, without cleanup.
    use std::cell::Cell;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum At {
        MidWrite,
        BeforeRename,
        BeforeDirSync,
    }

    thread_local!(pub static POINT: Cell<Option<At>> = const { Cell::new(None) });

    pub fn check(here: At) {
        if POINT.with(|p| p.get()) == Some(here) {
            panic!("simulated crash at {here:?}");
        }
    }
}

macro_rules! crash_point {
    ($at:ident) => {
        #[cfg(test)]
        crash::check(crash::At::$at);
    };
}

/// Creates `dir` (and parents) as 0700 if missing.
pub fn private_dir(dir: &Path) -> Result<(), VaultError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| VaultError::io(dir, e))
}

/// Replaces `target` with what `fill` writes. `fill` returns whether its content is final; when
/// it is not and attempts remain it runs again on an emptied temp file (the last attempt is kept).
pub fn replace(
    target: &Path,
    attempts: u32,
    mut fill: impl FnMut(&mut dyn Write) -> Result<bool, VaultError>,
) -> Result<(), VaultError> {
    let dir = target
        .parent()
        .ok_or_else(|| VaultError::io(target, std::io::ErrorKind::InvalidInput.into()))?;
    private_dir(dir)?;
    remove_stale_temps(target)?;
    let tmp = temp_path(target);
    let result = write_temp(&tmp, attempts, &mut fill).and_then(|()| {
        crash_point!(BeforeRename);
        std::fs::rename(&tmp, target).map_err(|e| VaultError::io(target, e))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp); // best effort; the next write removes it otherwise
        return Err(e);
    }
    crash_point!(BeforeDirSync);
    sync_dir(dir)
}

fn write_temp(
    tmp: &Path,
    attempts: u32,
    fill: &mut dyn FnMut(&mut dyn Write) -> Result<bool, VaultError>,
) -> Result<(), VaultError> {
    let io = |e| VaultError::io(tmp, e);
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp).map_err(io)?;
    for attempt in 1..=attempts.max(1) {
        let mut w = BufWriter::with_capacity(1 << 16, &mut file);
        let done = fill(&mut w)?;
        w.flush().map_err(io)?;
        drop(w);
        crash_point!(MidWrite);
        if done || attempt >= attempts {
            break;
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
    }
    file.sync_all().map_err(io)
}

fn temp_path(target: &Path) -> PathBuf {
    let mut tag = [0u8; 8];
    rand::rng().fill_bytes(&mut tag);
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{TMP_MARK}{}", hex::encode(tag)));
    target.with_file_name(name)
}

/// Removes temp files of `target` left by a crashed write. Only the writer of `target` calls it.
pub fn remove_stale_temps(target: &Path) -> Result<usize, VaultError> {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(0);
    };
    let mut prefix = name.to_os_string();
    prefix.push(TMP_MARK);
    let prefix = prefix.to_string_lossy().into_owned();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(VaultError::io(dir, e)),
    };
    let mut removed = 0;
    for entry in rd.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_file(entry.path()).map_err(|e| VaultError::io(&entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| VaultError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_text(target: &Path, text: &'static str) -> Result<(), VaultError> {
        replace(target, 1, |w| {
            w.write_all(text.as_bytes()).map_err(|e| VaultError::Write(e.to_string()))?;
            Ok(true)
        })
    }

    fn crash_during(target: &Path, at: crash::At, text: &'static str) {
        crash::POINT.with(|p| p.set(Some(at)));
        let r = std::panic::catch_unwind(|| write_text(target, text));
        crash::POINT.with(|p| p.set(None));
        assert!(r.is_err(), "the crash point {at:?} was reached");
    }

    #[test]
    fn a_crash_before_the_rename_keeps_the_old_file_and_the_next_write_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("profile.sealed");
        write_text(&target, "old").unwrap();
        let names = || std::fs::read_dir(dir.path()).unwrap().count();
        for at in [crash::At::MidWrite, crash::At::BeforeRename] {
            crash_during(&target, at, "new");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "old", "{at:?}");
            assert_eq!(names(), 2, "one temp file left behind (the earlier one was cleaned)");
        }
        write_text(&target, "newer").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "newer");
        assert_eq!(names(), 1, "stale temp files removed");
    }

    #[test]
    fn a_crash_after_the_rename_has_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("profile.sealed");
        write_text(&target, "old").unwrap();
        crash_during(&target, crash::At::BeforeDirSync, "new");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_failing_fill_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("profile.sealed");
        write_text(&target, "old").unwrap();
        let r = replace(&target, 1, |w| {
            w.write_all(b"half").unwrap();
            Err(VaultError::Archive("disk said no".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unstable_content_is_retried_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut n = 0;
        replace(&target, 3, |w| {
            n += 1;
            w.write_all(format!("attempt {n}").as_bytes()).unwrap();
            Ok(n == 2)
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "attempt 2");
        let mut m = 0;
        replace(&target, 2, |w| {
            m += 1;
            w.write_all(format!("try {m}").as_bytes()).unwrap();
            Ok(false)
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "try 2");
    }
}
