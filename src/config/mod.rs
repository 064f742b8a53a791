//! Layered configuration, owned here: `config/default.toml` → `config/{SIDECAR_ENV}.toml` →
//! environment `SIDECAR__SECTION__KEY` → `--config FILE`, merged by the `config` crate, then
//! validated as a whole. Every problem names the key it is about.
//!
//! This module owns `[server]`, `[auth]` and `[log]`. The other sections are owned by their modules
//! (`engine`, `sessions`, `vault`, `callbacks`, `broadcast`); we only nest them and call their
//! `validate`.

mod auth;
mod load;
mod redact;
pub mod serde_list;
mod server;

use serde::{Deserialize, Serialize};

pub use auth::{
    load_keys, AuthConfig, KeyConfig, KeyScope, LoadedKeys, SecretKey, DEV_KEY_FILE, DEV_KEY_ID,
};
pub use load::{LoadError, LoadOptions, DEFAULT_TOML};
pub use redact::redacted_toml;
pub use server::{LogConfig, LogFormat, ServerConfig};

use crate::broadcast::BroadcastConfig;
use crate::callbacks::CallbacksConfig;
use crate::engine::EngineConfig;
use crate::messages::send::SendingConfig;
use crate::net::NetConfig;
use crate::sessions::SessionsConfig;
use crate::vault::VaultConfig;

/// The whole configuration. `Default` equals `config/default.toml` (a unit test keeps them equal).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub engine: EngineConfig,
    pub sessions: SessionsConfig,
    pub vault: VaultConfig,
    pub callbacks: CallbacksConfig,
    pub sending: SendingConfig,
    /// Incoming calls (`[calls] reject = true` declines every call as it rings).
    pub calls: crate::messages::inbound::CallsConfig,
    pub broadcast: BroadcastConfig,
    pub net: NetConfig,
    /// From `SIDECAR_ENV`, never from a file.
    #[serde(skip)]
    pub mode: RunMode,
    /// The configuration files merged into these settings, in order (set by [`Settings::load`]),
    /// so their own modes can be checked when they hold secrets.
    #[serde(skip)]
    pub files: Vec<std::path::PathBuf>,
}

/// `SIDECAR_ENV`. Only `development` (the default) is lenient: any other name, `production`
/// included, gets the strict checks, so a typo in a deploy script fails safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMode(String);

impl Default for RunMode {
    fn default() -> Self {
        Self::development()
    }
}

impl RunMode {
    pub fn development() -> Self {
        Self("development".into())
    }

    pub fn production() -> Self {
        Self("production".into())
    }

    pub fn named(name: &str) -> Self {
        match name.trim() {
            "" => Self::development(),
            other => Self(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    pub fn is_production(&self) -> bool {
        self.0 != "development"
    }
}

/// One thing wrong with the configuration: the dotted key and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// All problems at once, so an operator fixes the file in one go.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct InvalidConfig(pub Vec<Problem>);

impl Settings {
    /// Loads and merges every layer (see [`LoadOptions`]); does not validate.
    pub fn load(options: &LoadOptions) -> Result<Self, LoadError> {
        load::load(options)
    }

    /// Every problem of every section, keys prefixed with their section. Reads secret files (to
    /// check permissions and length) but creates nothing.
    pub fn validate(&self) -> Vec<Problem> {
        let production = self.mode.is_production();
        let mut problems = self.server.validate(production);
        problems.extend(self.log.validate());
        problems.extend(self.auth.validate(production));
        if let Err(mut key_problems) = auth::load_keys(self, false) {
            problems.append(&mut key_problems);
        }
        let sections = [
            ("engine", self.engine.validate(production)),
            ("sessions", self.sessions.validate(production)),
            ("vault", self.vault.validate(production)),
            ("callbacks", self.callbacks.validate(production)),
            ("sending", self.sending.validate(production)),
            ("broadcast", self.broadcast.validate(production)),
            ("net", self.net.validate(production)),
        ];
        for (section, found) in sections {
            problems.extend(
                found
                    .into_iter()
                    .map(|(key, problem)| Problem { key: format!("{section}.{key}"), problem }),
            );
        }
        problems.extend(self.callbacks_url_refused());
        problems
    }

    /// `callbacks.url` with an IP-literal host the outbound policy refuses would never be
    /// delivered to: say so at start rather than in dead letters.
    fn callbacks_url_refused(&self) -> Option<Problem> {
        let url = crate::callbacks::endpoint::parse(&self.callbacks.url).ok()?;
        let refused = self.net.policy(self.mode.is_production()).check_url(&url).err()?;
        Some(problem("callbacks.url", refused.to_string()))
    }

    /// [`Settings::validate`] as a `Result`.
    pub fn check(&self) -> Result<(), InvalidConfig> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(problems))
        }
    }
}

/// The one rule for every secret file (HMAC keys, callback secrets, vault keys): nobody but its
/// owner may read or write it. `None` when `mode` is private, else what is wrong with it.
pub fn secret_file_exposure(mode: u32) -> Option<String> {
    let mode = mode & 0o777;
    match mode {
        m if m & 0o007 != 0 => Some(format!("world-readable (mode {m:o})")),
        m if m & 0o070 != 0 => Some(format!("accessible to its group (mode {m:o})")),
        _ => None,
    }
}

pub(crate) fn problem(key: impl Into<String>, problem: impl Into<String>) -> Problem {
    Problem { key: key.into(), problem: problem.into() }
}
