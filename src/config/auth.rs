//! `[auth]`: the HMAC keys the host signs with, their workspace scopes, clock skew, the nonce cache
//! and the IP allow-list. Turning key entries into secret bytes ([`load_keys`]) lives here too,
//! because it is where production refuses weak or exposed keys.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{problem, Problem, Settings};
use crate::ids::WorkspaceId;

/// Shortest accepted key, in bytes (HMAC-SHA256's output size).
pub const MIN_KEY_BYTES: usize = 32;
/// Id of the key development mode generates when none is configured.
pub const DEV_KEY_ID: &str = "dev";
/// File name, inside `server.data_dir`, of the generated development key.
pub const DEV_KEY_FILE: &str = "dev-hmac.key";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Largest accepted |now - X-Timestamp|, in seconds.
    pub max_skew_secs: u64,
    /// CIDRs (or single addresses) allowed to call anything but /health/*; empty allows all.
    pub allow_ips: Vec<String>,
    /// Upper bound of remembered nonces per key; past it that key's oldest are dropped and its
    /// requests signed before the dropped ones are refused, so no replay gets through. Other keys
    /// are not affected.
    pub nonce_cache_entries: usize,
    pub keys: Vec<KeyConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_skew_secs: 300,
            allow_ips: Vec::new(),
            nonce_cache_entries: 100_000,
            keys: Vec::new(),
        }
    }
}

/// One `[[auth.keys]]` entry. Exactly one of `secret`, `secret_file`, `secret_env` is set.
/// `Debug` never shows an inline `secret`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KeyConfig {
    /// Sent by the host as `X-Key-Id`.
    pub id: String,
    /// Base64 key bytes, inline. Prefer `secret_file` or `secret_env` outside development.
    pub secret: Option<String>,
    /// A file holding the base64 key; must be private to its owner (0600) in production.
    pub secret_file: Option<PathBuf>,
    /// The name of an environment variable holding the base64 key.
    pub secret_env: Option<String>,
    /// Workspace ids this key may use, or `["*"]` for all (and for routes outside a workspace).
    pub workspaces: Vec<String>,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("workspaces", &self.workspaces)
            .finish()
    }
}

impl AuthConfig {
    pub fn validate(&self, _production: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !(1..=3600).contains(&self.max_skew_secs) {
            problems.push(problem("auth.max_skew_secs", "must be between 1 and 3600"));
        }
        if self.nonce_cache_entries < 100 {
            problems.push(problem("auth.nonce_cache_entries", "must be at least 100"));
        }
        for (i, net) in self.allow_ips.iter().enumerate() {
            if parse_net(net).is_none() {
                problems.push(problem(
                    format!("auth.allow_ips[{i}]"),
                    format!(
                        "{net:?} is not a CIDR or IP address, e.g. \"10.0.0.0/8\" or \"127.0.0.1\""
                    ),
                ));
            }
        }
        problems
    }

    /// The allow-list, parsed. Entries that do not parse were reported by `validate`.
    pub fn allow_nets(&self) -> Vec<ipnet::IpNet> {
        self.allow_ips.iter().filter_map(|n| parse_net(n)).collect()
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Which workspaces a key may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    All,
    Only(HashSet<WorkspaceId>),
}

impl KeyScope {
    pub fn allows(&self, workspace: &WorkspaceId) -> bool {
        match self {
            KeyScope::All => true,
            KeyScope::Only(set) => set.contains(workspace),
        }
    }
}

/// A usable key: id, secret bytes (wiped on drop) and scope. `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey {
    pub id: String,
    pub secret: Zeroizing<Vec<u8>>,
    pub scope: KeyScope,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What [`load_keys`] found.
#[derive(Debug)]
pub struct LoadedKeys {
    pub keys: Vec<SecretKey>,
    /// Set when development mode generated (or reused) its key file.
    pub generated: Option<PathBuf>,
    /// Accepted in development, refused in production (e.g. a short key).
    pub warnings: Vec<Problem>,
    /// Accepted in every mode but worth a warning (an inline secret in production).
    pub notices: Vec<Problem>,
}

/// Resolves every configured key into bytes. With no key configured, development mode uses
/// `{data_dir}/dev-hmac.key` (created 0600 when `generate` is true); production refuses.
/// A configuration file holding a secret inline is held to the rule of secret files.
pub fn load_keys(settings: &Settings, generate: bool) -> Result<LoadedKeys, Vec<Problem>> {
    let exposed = exposed_config_files(&settings.files);
    match resolve_keys(settings, generate) {
        Err(mut problems) if settings.mode.is_production() => {
            problems.extend(exposed);
            Err(problems)
        }
        Ok(_) if settings.mode.is_production() && !exposed.is_empty() => Err(exposed),
        Ok(mut keys) => {
            keys.warnings.extend(exposed);
            Ok(keys)
        }
        Err(problems) => Err(problems),
    }
}

/// Configuration files that hold a secret inline (`auth.keys[].secret`, `callbacks.secrets`,
/// `vault.master_keys`) and are readable or writable by group or others: the secret-file rule
/// ([`super::secret_file_exposure`]) applies to them as to any file holding a secret.
fn exposed_config_files(files: &[PathBuf]) -> Vec<Problem> {
    files
        .iter()
        .filter_map(|path| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode();
            let what = super::secret_file_exposure(mode)?;
            let table: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
            let held = inline_secrets(&table);
            (!held.is_empty()).then(|| {
                problem(
                    held.join(", "),
                    format!(
                        "configuration file {} holds a secret and is {what}; run chmod 600 on it \
                         (or move the secret to a *_file or *_env setting)",
                        path.display()
                    ),
                )
            })
        })
        .collect()
}

/// The secret-bearing keys a configuration file sets inline.
fn inline_secrets(table: &toml::Table) -> Vec<&'static str> {
    let section = |name: &str| table.get(name).and_then(toml::Value::as_table);
    let set = |v: Option<&toml::Value>| match v {
        Some(toml::Value::String(s)) => !s.trim().is_empty(),
        Some(toml::Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    let keys = section("auth").and_then(|a| a.get("keys")).and_then(toml::Value::as_array);
    let mut held = Vec::new();
    if keys.is_some_and(|keys| keys.iter().any(|k| k.get("secret").is_some())) {
        held.push("auth.keys[].secret");
    }
    if set(section("callbacks").and_then(|c| c.get("secrets"))) {
        held.push("callbacks.secrets");
    }
    if set(section("vault").and_then(|v| v.get("master_keys"))) {
        held.push("vault.master_keys");
    }
    held
}

fn resolve_keys(settings: &Settings, generate: bool) -> Result<LoadedKeys, Vec<Problem>> {
    let production = settings.mode.is_production();
    let auth = &settings.auth;
    if auth.keys.is_empty() {
        if production {
            return Err(vec![problem(
                "auth.keys",
                "no HMAC key configured; production needs at least one [[auth.keys]] entry with id, \
                 secret_file (or secret_env) and workspaces (make a key with `wa-sidecar keygen`)",
            )]);
        }
        return dev_key(&settings.server.data_dir, generate);
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut notices = Vec::new();
    let mut keys = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, entry) in auth.keys.iter().enumerate() {
        let at = format!("auth.keys[{i}]");
        if production && entry.secret.is_some() {
            notices.push(problem(
                format!("{at}.secret"),
                format!(
                    "key {:?} is given inline in the configuration; prefer secret_file (0600) or \
                     secret_env, which keep it out of the file, its copies and its backups",
                    entry.id
                ),
            ));
        }
        if !valid_key_id(&entry.id) {
            problems.push(problem(
                format!("{at}.id"),
                format!(
                    "{:?} is not a key id: use 1-64 visible ASCII characters, no comma",
                    entry.id
                ),
            ));
        } else if !seen.insert(entry.id.clone()) {
            problems
                .push(problem(format!("{at}.id"), format!("key id {:?} is used twice", entry.id)));
        }
        let scope = scope_of(entry, &at, &mut problems);
        let secret = secret_of(entry, &at, production, &mut problems, &mut warnings);
        if let (Some(scope), Some(secret)) = (scope, secret) {
            keys.push(SecretKey { id: entry.id.clone(), secret, scope });
        }
    }
    if problems.is_empty() {
        Ok(LoadedKeys { keys, generated: None, warnings, notices })
    } else {
        Err(problems)
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn scope_of(entry: &KeyConfig, at: &str, problems: &mut Vec<Problem>) -> Option<KeyScope> {
    let key = format!("{at}.workspaces");
    if entry.workspaces.is_empty() {
        problems.push(problem(
            key,
            format!(
                "key {:?} lists no workspace; list workspace ids, or [\"*\"] for all",
                entry.id
            ),
        ));
        return None;
    }
    if entry.workspaces.iter().any(|w| w == "*") {
        return Some(KeyScope::All);
    }
    let mut set = HashSet::new();
    for ws in &entry.workspaces {
        match WorkspaceId::parse(ws) {
            Ok(id) => {
                set.insert(id);
            }
            Err(e) => problems.push(problem(key.clone(), e.to_string())),
        }
    }
    Some(KeyScope::Only(set))
}

fn secret_of(
    entry: &KeyConfig,
    at: &str,
    production: bool,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<Zeroizing<Vec<u8>>> {
    let id = &entry.id;
    let (key, text) = match (&entry.secret, &entry.secret_file, &entry.secret_env) {
        (Some(s), None, None) => (format!("{at}.secret"), Zeroizing::new(s.clone())),
        (None, Some(path), None) => {
            let key = format!("{at}.secret_file");
            match read_secret_file(id, path, &key) {
                Ok((text, exposed)) => {
                    match exposed {
                        Some(p) if production => problems.push(p),
                        Some(p) => warnings.push(p),
                        None => {}
                    }
                    (key, text)
                }
                Err(p) => {
                    problems.push(p);
                    return None;
                }
            }
        }
        (None, None, Some(var)) => match std::env::var(var) {
            Ok(v) => (format!("{at}.secret_env"), Zeroizing::new(v)),
            Err(_) => {
                problems.push(problem(
                    format!("{at}.secret_env"),
                    format!("key {id:?}: environment variable {var} is not set"),
                ));
                return None;
            }
        },
        _ => {
            problems.push(problem(
                at,
                format!("key {id:?}: set exactly one of secret, secret_file, secret_env"),
            ));
            return None;
        }
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(b) => Zeroizing::new(b),
        Err(_) => {
            problems.push(problem(key, format!("key {id:?} is not valid base64")));
            return None;
        }
    };
    if bytes.len() < MIN_KEY_BYTES {
        let short = problem(
            key,
            format!("key {id:?} is {} bytes; use at least {MIN_KEY_BYTES} (`wa-sidecar keygen` makes one)", bytes.len()),
        );
        if production {
            problems.push(short);
            return None;
        }
        warnings.push(short);
    }
    Some(bytes)
}

/// Reads a secret file, and reports (separately) when it is world-readable: production refuses
/// that, development only warns.
fn read_secret_file(
    id: &str,
    path: &Path,
    key: &str,
) -> Result<(Zeroizing<String>, Option<Problem>), Problem> {
    let unreadable = |e: std::io::Error| {
        problem(key, format!("key {id:?}: cannot read {}: {e}", path.display()))
    };
    let mode = std::fs::metadata(path).map_err(unreadable)?.permissions().mode() & 0o777;
    let exposed = super::secret_file_exposure(mode).map(|what| {
        let message =
            format!("key {id:?}: secret file {} is {what}; run chmod 600 on it", path.display());
        problem(key, message)
    });
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    Ok((Zeroizing::new(text), exposed))
}

/// Development only: reuse `{data_dir}/dev-hmac.key`, or create it (0600) when `generate`.
fn dev_key(data_dir: &Path, generate: bool) -> Result<LoadedKeys, Vec<Problem>> {
    let path = data_dir.join(DEV_KEY_FILE);
    let fail = |e: std::io::Error| {
        vec![problem(
            "server.data_dir",
            format!("cannot create the development key {}: {e}", path.display()),
        )]
    };
    if !path.exists() {
        if !generate {
            return Ok(LoadedKeys {
                keys: Vec::new(),
                generated: Some(path),
                warnings: Vec::new(),
                notices: Vec::new(),
            });
        }
        std::fs::create_dir_all(data_dir).map_err(fail)?;
        let mut bytes = Zeroizing::new([0u8; MIN_KEY_BYTES]);
        rand::fill(&mut bytes[..]);
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        file.write_all(format!("{}\n", text.as_str()).as_bytes()).map_err(fail)?;
    }
    let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(fail)?);
    let secret = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| {
        vec![problem(
            "server.data_dir",
            format!("{} is not valid base64; delete it to get a new key", path.display()),
        )]
    })?;
    let key =
        SecretKey { id: DEV_KEY_ID.into(), secret: Zeroizing::new(secret), scope: KeyScope::All };
    Ok(LoadedKeys {
        keys: vec![key],
        generated: Some(path),
        warnings: Vec::new(),
        notices: Vec::new(),
    })
}
