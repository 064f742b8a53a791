//! Where live (plaintext) profiles are unsealed when `vault.runtime_dir` is not set.
//!
//! Development keeps them under `{data_dir}/runtime`, so one folder holds everything a local run
//! (or a test) made. Every other mode looks for a memory file system by itself, so a plaintext
//! login never reaches a disk unless the operator says so: `/run/wa-sidecar` when it exists, is
//! ours and is a tmpfs (systemd's `RuntimeDirectory=`, a Docker `--tmpfs`), else
//! `/dev/shm/wa-sidecar-{uid}` (created 0700). Inside it, one directory per instance, named from
//! the data directory and the bind address, so two processes sharing a data directory (blue-green)
//! never sweep each other's live profiles, and a restart finds what its crashed run left. The
//! choice reads only fixed paths, never the environment, so `wa-sidecar reap` run from a shell
//! picks the same directory as the service. With no usable tmpfs it falls back to
//! `{data_dir}/runtime`, which production then refuses unless `vault.allow_disk_runtime` is set.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::VaultConfig;

/// The directory unsealed profiles go to, as `serve`, `reap` and the vault CLI resolve it.
pub fn resolve(cfg: &VaultConfig, data_dir: &Path, bind: &str, production: bool) -> PathBuf {
    if !cfg.runtime_dir.as_os_str().is_empty() {
        return data_dir.join(&cfg.runtime_dir);
    }
    let fallback = data_dir.join("runtime");
    if !production {
        return fallback;
    }
    // SAFETY: geteuid(2) cannot fail and has no side effects.
    let uid = unsafe { libc::geteuid() };
    let candidates =
        [PathBuf::from("/run/wa-sidecar"), PathBuf::from(format!("/dev/shm/wa-sidecar-{uid}"))];
    let instance = instance_name(data_dir, bind);
    candidates
        .iter()
        .find(|base| usable_base(base, uid))
        .map(|base| base.join(&instance))
        .unwrap_or(fallback)
}

/// `i-` and 16 hex digits of SHA-256 over the absolute data directory and the bind address.
pub fn instance_name(data_dir: &Path, bind: &str) -> String {
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let mut hash = Sha256::new();
    hash.update(data_dir.as_os_str().as_encoded_bytes());
    hash.update([0]);
    hash.update(bind.as_bytes());
    format!("i-{}", &hex::encode(hash.finalize())[..16])
}

/// A base is usable when it is on a memory file system and is a directory of ours that nobody
/// else may enter. `/dev/shm/wa-sidecar-{uid}` is created when missing; a base someone else made
/// first, or made open, is passed over (another user could swap what is inside).
fn usable_base(base: &Path, uid: u32) -> bool {
    let Some(parent) = base.parent() else { return false };
    if !base.exists() {
        let creatable = parent.starts_with("/dev/shm") && in_memory(parent).unwrap_or(false);
        if !creatable || std::fs::DirBuilder::new().mode(0o700).create(base).is_err() {
            return false;
        }
    }
    let Ok(meta) = std::fs::symlink_metadata(base) else { return false };
    if !meta.is_dir() || meta.uid() != uid {
        return false;
    }
    if meta.mode() & 0o077 != 0
        && std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700)).is_err()
    {
        return false;
    }
    in_memory(base).unwrap_or(false)
}

/// Whether `path` is on a tmpfs or a ramfs.
pub fn in_memory(path: &Path) -> std::io::Result<bool> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: statfs(2) fills the zeroed struct we own from a NUL-terminated path.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut fs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // f_type and the magic numbers are both `c_long`-sized on Linux.
    #[allow(clippy::unnecessary_cast)]
    let (kind, tmpfs) = (fs.f_type as i64, libc::TMPFS_MAGIC as i64);
    // ramfs(7) has no constant in libc.
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    Ok(kind == tmpfs || kind == RAMFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_differ_by_data_dir_and_bind_and_are_stable() {
        let a = instance_name(Path::new("/var/lib/wa"), "127.0.0.1:8787");
        assert_eq!(a, instance_name(Path::new("/var/lib/wa"), "127.0.0.1:8787"));
        assert_ne!(a, instance_name(Path::new("/var/lib/wa"), "127.0.0.1:8788"));
        assert_ne!(a, instance_name(Path::new("/var/lib/wb"), "127.0.0.1:8787"));
        assert!(a.starts_with("i-") && a.len() == 18, "{a}");
    }

    #[test]
    fn a_set_runtime_dir_and_development_keep_the_rule_they_had() {
        let set = VaultConfig { runtime_dir: "/x/live".into(), ..VaultConfig::default() };
        assert_eq!(resolve(&set, Path::new("/d"), "b", true), PathBuf::from("/x/live"));
        let rel = VaultConfig { runtime_dir: "live".into(), ..VaultConfig::default() };
        assert_eq!(resolve(&rel, Path::new("/d"), "b", true), PathBuf::from("/d/live"));
        let unset = VaultConfig::default();
        assert_eq!(resolve(&unset, Path::new("/d"), "b", false), PathBuf::from("/d/runtime"));
    }
}
