//! The `[vault]` section of the configuration. Owned by this module; `crate::config` only nests it.
//!
//! Master keys never live in committed config: give them through `SIDECAR__VAULT__MASTER_KEYS`
//! (entries `id:base64` separated by spaces or commas) or `vault.master_keys_file` (one entry per
//! line, `#` comments, the file must be mode 0600). `seal_key_id` names the key new seals use;
//! every configured key can still open files sealed under it, so rotation is a config change
//! followed by `wa-sidecar vault rotate`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The profile paths sealed by default: what holds a WhatsApp Web login (see docs/vault.md).
pub const DEFAULT_INCLUDE: [&str; 3] =
    ["Default/IndexedDB", "Default/Local Storage", "Default/WebStorage"];

#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultConfig {
    /// Master keys as `id:base64-of-32-bytes`. A list, or one string separated by spaces or commas.
    /// Meant for the environment (`SIDECAR__VAULT__MASTER_KEYS`), never for a committed file.
    #[serde(deserialize_with = "crate::config::serde_list::string_or_list", skip_serializing)]
    pub master_keys: Vec<String>,
    /// A file with more master keys, one `id:base64` per line; must not be readable by group or others.
    pub master_keys_file: Option<PathBuf>,
    /// The key new seals use. May be left out when exactly one key is configured.
    pub seal_key_id: Option<String>,
    /// Where live (plaintext) profiles are unsealed: `{runtime_dir}/{workspace}/{session}/`.
    /// A relative path is under `server.data_dir`. Unset (empty): development uses
    /// `{data_dir}/runtime`, production picks a tmpfs by itself (see [`super::runtime_dir`]).
    /// Must not be inside the sessions root. Production refuses one that is not a tmpfs unless
    /// `allow_disk_runtime` is set.
    pub runtime_dir: PathBuf,
    /// Production accepts a `runtime_dir` on a persistent disk (plaintext logins written there).
    pub allow_disk_runtime: bool,
    /// A running session reseals once its profile has been quiet this long.
    #[serde(with = "humantime_serde")]
    pub reseal_debounce: Duration,
    /// ... and at least this often while changes keep coming.
    #[serde(with = "humantime_serde")]
    pub reseal_max_interval: Duration,
    /// ... but never sooner than this after the previous reseal ended: bounds the disk writes of a
    /// chatty session (each reseal rewrites the whole login, tens of MB).
    #[serde(with = "humantime_serde")]
    pub reseal_min_interval: Duration,
    /// Profile paths (relative, `/`-separated) that are sealed; everything else is dropped.
    pub include: Vec<String>,
    /// Reading a live profile is retried this many times when a file other than a LevelDB log
    /// changes during the read; the last attempt is sealed as read (crash-consistent at worst).
    pub snapshot_attempts: u32,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            master_keys: Vec::new(),
            master_keys_file: None,
            seal_key_id: None,
            runtime_dir: PathBuf::new(),
            allow_disk_runtime: false,
            reseal_debounce: Duration::from_secs(5),
            reseal_max_interval: Duration::from_secs(60),
            reseal_min_interval: Duration::from_secs(15),
            include: DEFAULT_INCLUDE.iter().map(|s| (*s).to_owned()).collect(),
            snapshot_attempts: 3,
        }
    }
}

/// Every field but the master keys' text, so a logged config never leaks them.
impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("master_keys", &format_args!("[{} redacted]", self.master_keys.len()))
            .field("master_keys_file", &self.master_keys_file)
            .field("seal_key_id", &self.seal_key_id)
            .field("runtime_dir", &self.runtime_dir)
            .field("allow_disk_runtime", &self.allow_disk_runtime)
            .field("reseal_debounce", &self.reseal_debounce)
            .field("reseal_max_interval", &self.reseal_max_interval)
            .field("reseal_min_interval", &self.reseal_min_interval)
            .field("include", &self.include)
            .field("snapshot_attempts", &self.snapshot_attempts)
            .finish()
    }
}

impl VaultConfig {
    /// Problems as (key under `vault.`, what is wrong). Empty means valid.
    /// `production` is true when SIDECAR_ENV=production.
    pub fn validate(&self, production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut add = |k: &str, p: String| problems.push((k.to_owned(), p));
        if production && self.master_keys.is_empty() && self.master_keys_file.is_none() {
            add(
                "master_keys",
                "production needs a master key: set SIDECAR__VAULT__MASTER_KEYS or vault.master_keys_file".into(),
            );
        }
        for entry in &self.master_keys {
            if let Err(e) = super::keys::parse_entry(entry) {
                add("master_keys", e.to_string());
            }
        }
        if let Some(id) = &self.seal_key_id {
            if !super::keys::is_valid_key_id(id) {
                add("seal_key_id", format!("{id:?} is not a key id (1-32 of a-z, 0-9, '_', '-')"));
            }
        }
        if self.reseal_debounce.is_zero() {
            add("reseal_debounce", "must be greater than zero".into());
        }
        if self.reseal_max_interval < self.reseal_debounce {
            add("reseal_max_interval", "must be at least reseal_debounce".into());
        }
        if self.reseal_min_interval > self.reseal_max_interval {
            add("reseal_min_interval", "must be at most reseal_max_interval".into());
        }
        if self.include.is_empty() {
            add("include", "must name at least one profile path, or no login is kept".into());
        }
        for p in &self.include {
            if super::archive::split_rel_path(p.as_bytes()).is_none() {
                add("include", format!("{p:?} is not a relative path without '.' or '..'"));
            }
        }
        if self.snapshot_attempts == 0 {
            add("snapshot_attempts", "must be at least 1".into());
        }
        problems
    }
}

impl VaultConfig {
    /// A problem with `runtime_dir` relative to the sessions root (owned by `[sessions]`, so the
    /// caller that knows both asks): plaintext must never live inside it.
    pub fn runtime_dir_problem(&self, sessions_root: &std::path::Path) -> Option<(String, String)> {
        let norm = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        norm(&self.runtime_dir).starts_with(norm(sessions_root)).then(|| {
            (
                "runtime_dir".to_owned(),
                format!("must not be inside the sessions root {}", sessions_root.display()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_in_development_but_not_in_production() {
        let c = VaultConfig::default();
        assert!(c.validate(false).is_empty(), "{:?}", c.validate(false));
        let p = c.validate(true);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "master_keys");
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = VaultConfig {
            master_keys: vec!["nocolon".into()],
            include: vec!["../etc".into()],
            reseal_max_interval: Duration::from_millis(1),
            ..VaultConfig::default()
        };
        let keys: Vec<_> = c.validate(false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["master_keys", "reseal_max_interval", "reseal_min_interval", "include"]);
    }

    #[test]
    fn the_runtime_dir_may_not_be_inside_the_sessions_root() {
        let c =
            VaultConfig { runtime_dir: PathBuf::from("sessions/run"), ..VaultConfig::default() };
        assert!(c.runtime_dir_problem(std::path::Path::new("sessions")).is_some());
        assert!(VaultConfig::default()
            .runtime_dir_problem(std::path::Path::new("sessions"))
            .is_none());
    }

    #[test]
    fn keys_from_one_string_are_split() {
        let c: VaultConfig = toml::from_str(r#"master_keys = "a:AAAA, b:BBBB""#).unwrap();
        assert_eq!(c.master_keys, ["a:AAAA", "b:BBBB"]);
    }
}
