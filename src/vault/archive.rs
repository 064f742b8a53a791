//! Our archive of the login-holding part of a profile: the plaintext that gets sealed.
//!
//! Layout (all integers big-endian): `WAPA` + version byte, then entries in path order, each a
//! tag (`D` directory, `F` file), a u16 path length and the `/`-separated path bytes, and for a
//! file a u64 length and its bytes; then `E` and a u32 entry count. The same directory content
//! always gives the same bytes (sorted, no times, no owners), so two archives can be compared by
//! digest. Paths are checked again on the way out: nothing can land outside the target directory.

use std::ffi::OsStr;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::VaultError;

const MAGIC: &[u8; 5] = b"WAPA\x01";
const MAX_PATH: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// Length, modification time (ns) and inode: enough to notice a change without reading.
    File {
        len: u64,
        mtime_ns: i128,
        ino: u64,
    },
}

/// One path under the profile root, `/`-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rel: Vec<u8>,
    pub kind: Kind,
}

/// What a profile's included paths hold right now, in archive order.
pub type Listing = Vec<Entry>;

/// Splits a relative path into its components, refusing anything that could leave the root.
pub fn split_rel_path(p: &[u8]) -> Option<Vec<&[u8]>> {
    if p.is_empty() || p.len() > MAX_PATH || p.contains(&0) {
        return None;
    }
    let parts: Vec<&[u8]> = p.split(|b| *b == b'/').collect();
    let ok = parts.iter().all(|c| !c.is_empty() && *c != b"." && *c != b"..");
    ok.then_some(parts)
}

fn to_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// Lists the included paths under `root` (missing ones are skipped). Symlinks and special files
/// are never followed or kept: Chromium's login data is plain files and directories.
pub fn list(root: &Path, include: &[String]) -> Result<Listing, VaultError> {
    let mut out = Vec::new();
    let mut roots: Vec<&String> = include.iter().collect();
    roots.sort();
    roots.dedup();
    for inc in roots {
        walk(root, inc.as_bytes().to_vec(), &mut out)?;
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.dedup_by(|a, b| a.rel == b.rel);
    Ok(out)
}

fn walk(root: &Path, rel: Vec<u8>, out: &mut Listing) -> Result<(), VaultError> {
    let path = to_path(root, &rel);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VaultError::io(&path, e)),
    };
    if meta.is_file() {
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        out.push(Entry { rel, kind: Kind::File { len: meta.len(), mtime_ns, ino: meta.ino() } });
    } else if meta.is_dir() {
        let rd = match std::fs::read_dir(&path) {
            Ok(rd) => rd,
            // Removed between stat and read (LevelDB compaction): nothing to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(VaultError::io(&path, e)),
        };
        out.push(Entry { rel: rel.clone(), kind: Kind::Dir });
        for child in rd {
            let child = child.map_err(|e| VaultError::io(&path, e))?;
            let mut r = rel.clone();
            r.push(b'/');
            r.extend_from_slice(child.file_name().as_bytes());
            walk(root, r, out)?;
        }
    }
    Ok(())
}

/// Writes the archive of `listing` to `w`. Each file is read whole, so every file in the archive
/// is one consistent read; a file that vanished since listing is left out and reported through
/// the returned flag (`false`: the profile changed while it was read).
pub fn write<W: Write>(root: &Path, listing: &Listing, w: &mut W) -> Result<bool, VaultError> {
    let mut stable = true;
    let mut count: u32 = 0;
    let werr = |e| VaultError::Archive(format!("writing archive: {e}"));
    w.write_all(MAGIC).map_err(werr)?;
    for e in listing {
        let len16 =
            u16::try_from(e.rel.len()).map_err(|_| VaultError::Archive("path too long".into()))?;
        match e.kind {
            Kind::Dir => {
                w.write_all(b"D").map_err(werr)?;
                w.write_all(&len16.to_be_bytes()).map_err(werr)?;
                w.write_all(&e.rel).map_err(werr)?;
            }
            Kind::File { .. } => {
                let path = to_path(root, &e.rel);
                let data = match std::fs::read(&path) {
                    Ok(d) => zeroize::Zeroizing::new(d),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        stable = false;
                        continue;
                    }
                    Err(err) => return Err(VaultError::io(&path, err)),
                };
                w.write_all(b"F").map_err(werr)?;
                w.write_all(&len16.to_be_bytes()).map_err(werr)?;
                w.write_all(&e.rel).map_err(werr)?;
                w.write_all(&(data.len() as u64).to_be_bytes()).map_err(werr)?;
                w.write_all(&data).map_err(werr)?;
            }
        }
        count += 1;
    }
    w.write_all(b"E").map_err(werr)?;
    w.write_all(&count.to_be_bytes()).map_err(werr)?;
    Ok(stable)
}

/// Whether a profile read between listings `before` and `after` is a consistent snapshot: the
/// same files, and only LevelDB write-ahead logs (`*.log`, and the `LOG` info log) changed.
/// LevelDB only appends to its log and drops a torn tail record on recovery, so any prefix of a
/// log is a valid state; a table or MANIFEST that changed, appeared or vanished is not.
pub fn settled(before: &Listing, after: &Listing) -> bool {
    before.len() == after.len()
        && before.iter().zip(after).all(|(a, b)| {
            a.rel == b.rel
                && match (&a.kind, &b.kind) {
                    (Kind::Dir, Kind::Dir) => true,
                    (Kind::File { ino: i, .. }, Kind::File { ino: j, .. }) => {
                        a.kind == b.kind || (i == j && is_log(&a.rel))
                    }
                    _ => false,
                }
        })
}

fn is_log(rel: &[u8]) -> bool {
    let name = rel.rsplit(|b| *b == b'/').next().unwrap_or(rel);
    name.ends_with(b".log") || name == b"LOG"
}

/// Whether the archive holds at least one file (an archive of empty directories is no login).
pub fn has_files(listing: &Listing) -> bool {
    listing.iter().any(|e| matches!(e.kind, Kind::File { .. }))
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VaultError> {
        if self.0.len() < n {
            return Err(VaultError::Archive("archive ends early".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, VaultError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, VaultError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, VaultError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Checks an archive completely without writing anything. Returns the number of files.
pub fn check(bytes: &[u8]) -> Result<usize, VaultError> {
    parse(bytes, |_, _| Ok(()))
}

/// Writes an archive into `target` (an empty directory): directories 0700, files 0600.
/// Call [`check`] first so that a bad archive writes nothing.
pub fn extract(bytes: &[u8], target: &Path) -> Result<usize, VaultError> {
    let mut dirs = DirBuilder::new();
    dirs.recursive(true).mode(0o700);
    parse(bytes, |rel, data| {
        let path = to_path(target, rel);
        let io = |e| VaultError::io(&path, e);
        match data {
            None => dirs.create(&path).map_err(io),
            Some(data) => {
                if let Some(parent) = path.parent() {
                    dirs.create(parent).map_err(io)?;
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                f.write_all(data).map_err(io)
            }
        }
    })
}

/// Walks an archive, calling `visit(path, None)` for a directory and `visit(path, Some(bytes))`
/// for a file, after validating the entry's path.
fn parse(
    bytes: &[u8],
    mut visit: impl FnMut(&[u8], Option<&[u8]>) -> Result<(), VaultError>,
) -> Result<usize, VaultError> {
    let mut c = Cursor(bytes);
    if c.take(MAGIC.len())? != MAGIC {
        return Err(VaultError::Archive("not an archive of this version".into()));
    }
    let (mut entries, mut files) = (0u32, 0usize);
    loop {
        let tag = c.take(1)?[0];
        if tag == b'E' {
            let n = c.u32()?;
            if n != entries || !c.0.is_empty() {
                return Err(VaultError::Archive(
                    "entry count or trailing bytes do not match".into(),
                ));
            }
            return Ok(files);
        }
        let len = usize::from(c.u16()?);
        let rel = c.take(len)?;
        if split_rel_path(rel).is_none() {
            return Err(VaultError::Archive(format!(
                "unsafe path {:?}",
                String::from_utf8_lossy(rel)
            )));
        }
        match tag {
            b'D' => visit(rel, None)?,
            b'F' => {
                let n = usize::try_from(c.u64()?)
                    .map_err(|_| VaultError::Archive("file too large".into()))?;
                visit(rel, Some(c.take(n)?))?;
                files += 1;
            }
            other => return Err(VaultError::Archive(format!("unknown entry tag {other}"))),
        }
        entries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn include() -> Vec<String> {
        super::super::config::DEFAULT_INCLUDE.iter().map(|s| (*s).to_owned()).collect()
    }

    fn put(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn archive(root: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(write(root, &list(root, &include()).unwrap(), &mut out).unwrap());
        out
    }

    #[test]
    fn keeps_only_included_paths_and_round_trips_with_private_modes() {
        let src = tempfile::tempdir().unwrap();
        put(src.path(), "Default/IndexedDB/x.indexeddb.leveldb/000003.log", b"idb");
        put(src.path(), "Default/Local Storage/leveldb/CURRENT", b"MANIFEST-1\n");
        std::fs::create_dir_all(src.path().join("Default/IndexedDB/empty")).unwrap();
        put(src.path(), "Default/Cache/Cache_Data/data_0", b"cache");
        put(src.path(), "Default/Service Worker/Database/x", b"sw");
        put(src.path(), "SingletonLock", b"lock");
        let bytes = archive(src.path());
        assert_eq!(check(&bytes).unwrap(), 2);

        let dst = tempfile::tempdir().unwrap();
        extract(&bytes, dst.path()).unwrap();
        let log = dst.path().join("Default/IndexedDB/x.indexeddb.leveldb/000003.log");
        assert_eq!(std::fs::read(&log).unwrap(), b"idb");
        assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
        let d = dst.path().join("Default/IndexedDB/empty");
        assert_eq!(std::fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(!dst.path().join("Default/Cache").exists());
        assert!(!dst.path().join("Default/Service Worker").exists());
        assert!(!dst.path().join("SingletonLock").exists());
        assert_eq!(archive(dst.path()), bytes, "same content, same bytes");
    }

    #[test]
    fn only_log_appends_count_as_settled() {
        let src = tempfile::tempdir().unwrap();
        put(src.path(), "Default/IndexedDB/db/000003.log", b"a");
        put(src.path(), "Default/IndexedDB/db/000005.ldb", b"t");
        let before = list(src.path(), &include()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(src.path().join("Default/IndexedDB/db/000003.log"))
            .unwrap();
        f.write_all(b"more").unwrap();
        assert!(settled(&before, &list(src.path(), &include()).unwrap()));
        put(src.path(), "Default/IndexedDB/db/000005.ldb", b"rewritten");
        assert!(!settled(&before, &list(src.path(), &include()).unwrap()));
        std::fs::remove_file(src.path().join("Default/IndexedDB/db/000005.ldb")).unwrap();
        assert!(!settled(&before, &list(src.path(), &include()).unwrap()));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in [&b"../x"[..], b"/etc/passwd", b"a//b", b"a/./b", b"", b"a\0b"] {
            assert!(split_rel_path(bad).is_none(), "{bad:?}");
        }
        let mut evil = MAGIC.to_vec();
        evil.extend_from_slice(b"F\x00\x05../ab");
        evil.extend_from_slice(&1u64.to_be_bytes());
        evil.extend_from_slice(b"xE\x00\x00\x00\x01");
        let dst = tempfile::tempdir().unwrap();
        assert!(check(&evil).is_err());
        assert!(extract(&evil, &dst.path().join("t")).is_err());
        assert!(!dst.path().join("ab").exists());
    }

    #[test]
    fn a_cut_archive_is_refused() {
        let src = tempfile::tempdir().unwrap();
        put(src.path(), "Default/IndexedDB/a", b"0123456789");
        let bytes = archive(src.path());
        for n in 0..bytes.len() {
            assert!(check(&bytes[..n]).is_err(), "cut at {n}");
        }
    }
}
