//! The `[callbacks]` section of the configuration. Owned by this module; `crate::config` only nests it.
//!
//! Secrets never live in committed config: give them through `SIDECAR__CALLBACKS__SECRETS`
//! (space- or comma-separated) or `callbacks.secrets_file` (one per line). The first secret is the
//! current one; the others are kept only while the host rotates keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::endpoint;
use super::sign::{Secret, SecretError};

#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    /// The host's webhook endpoint for every session without its own `callback_url`. Empty: none,
    /// and events wait in the outbox until an endpoint exists.
    pub url: String,
    /// `whsec_…` secrets; one `v1` signature each. A list, or one string separated by spaces or commas.
    #[serde(deserialize_with = "crate::config::serde_list::string_or_list")]
    pub secrets: Vec<String>,
    /// A file holding more secrets, one per line (`#` comments and blank lines ignored).
    pub secrets_file: Option<PathBuf>,
    /// Also send spatie's `Signature` header: hex HMAC-SHA256 of the body keyed with the first
    /// secret's full `whsec_…` text, so `spatie/laravel-webhook-client` verifies it as is.
    pub spatie_signature: bool,
    /// Whole-request timeout of one delivery attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries in flight at once (each session still sends one at a time). 16 by default: a
    /// round settles about half of them in one commit, so fewer workers means more commits per
    /// event (docs/performance.md, "Draining a backlog").
    pub workers: usize,
    /// Delay before each retry, after the first attempt; attempts = 1 + its length. Standard
    /// Webhooks ladder by default (about 3 days).
    #[serde(with = "duration_list")]
    pub retry_schedule: Vec<Duration>,
    /// ± share of each scheduled delay chosen at random, so a recovering host is not stampeded.
    pub jitter: f64,
    /// A receiver's `Retry-After` replaces the scheduled delay, clamped to these bounds.
    #[serde(with = "humantime_serde")]
    pub retry_after_min: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_after_max: Duration,
    /// Longest time the dispatcher sleeps without being woken (a safety net, not a poll rate).
    #[serde(with = "humantime_serde")]
    pub idle_wakeup: Duration,
    /// How long shutdown waits for deliveries in flight before leaving them to the next start.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// How long received media are kept under data/media (then deleted; `status: "expired"`).
    #[serde(with = "humantime_serde")]
    pub media_retention: Duration,
    /// How often the media retention sweep runs (it also runs at startup).
    #[serde(with = "humantime_serde")]
    pub media_sweep_interval: Duration,
    /// Media up to this many bytes also travel in the callback as base64 (`media.data`). 0: off.
    pub inline_media_max_bytes: u64,
    /// Dead letters older than this are deleted (checked every minute).
    #[serde(with = "humantime_serde")]
    pub dead_letter_max_age: Duration,
    /// Each workspace keeps at most this many dead letters, its newest.
    pub dead_letters_per_workspace: usize,
    /// Events one workspace may have queued. Checked when an event is committed: past it the
    /// event is refused (see [`super::outbox::Outbox::enqueue`]).
    pub max_queued_per_workspace: usize,
    /// Bytes of event bodies one workspace may have queued, checked the same way.
    pub max_queued_bytes_per_workspace: u64,
    /// Bytes of event bodies the whole outbox may hold queued, all workspaces together.
    pub max_queued_bytes: u64,
    /// A session's head event that has been failing for this long while its session has later
    /// events queued moves to dead letters (redeliverable), so the later ones flow, but only
    /// when its endpoint's host accepted another callback since the head first failed (an event
    /// the host keeps refusing, not a host that is down). `0`: never; order is kept whatever the
    /// wait, up to the end of the retry ladder.
    #[serde(with = "humantime_serde")]
    pub max_head_block: Duration,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        let mins = |m: u64| Duration::from_secs(m * 60);
        let hours = |h: u64| Duration::from_secs(h * 3600);
        Self {
            url: String::new(),
            secrets: Vec::new(),
            secrets_file: None,
            spatie_signature: false,
            timeout: Duration::from_secs(15),
            workers: 16,
            retry_schedule: vec![
                Duration::from_secs(5),
                mins(5),
                mins(30),
                hours(2),
                hours(5),
                hours(10),
                hours(14),
                hours(20),
                hours(24),
            ],
            jitter: 0.2,
            retry_after_min: Duration::from_secs(1),
            retry_after_max: hours(1),
            idle_wakeup: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
            media_retention: hours(30 * 24),
            media_sweep_interval: hours(1),
            inline_media_max_bytes: 0,
            dead_letter_max_age: hours(24 * 30),
            dead_letters_per_workspace: 10_000,
            max_queued_per_workspace: 100_000,
            max_queued_bytes_per_workspace: 256 << 20,
            max_queued_bytes: 1 << 30,
            max_head_block: hours(1),
        }
    }
}

/// Every field but the secrets' text, so a logged config never leaks them.
impl std::fmt::Debug for CallbacksConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbacksConfig")
            .field("url", &self.url)
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("secrets_file", &self.secrets_file)
            .field("spatie_signature", &self.spatie_signature)
            .field("timeout", &self.timeout)
            .field("workers", &self.workers)
            .field("retry_schedule", &self.retry_schedule)
            .field("jitter", &self.jitter)
            .field("retry_after_min", &self.retry_after_min)
            .field("retry_after_max", &self.retry_after_max)
            .field("idle_wakeup", &self.idle_wakeup)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("media_retention", &self.media_retention)
            .field("media_sweep_interval", &self.media_sweep_interval)
            .field("inline_media_max_bytes", &self.inline_media_max_bytes)
            .field("dead_letter_max_age", &self.dead_letter_max_age)
            .field("dead_letters_per_workspace", &self.dead_letters_per_workspace)
            .field("max_queued_per_workspace", &self.max_queued_per_workspace)
            .field("max_queued_bytes_per_workspace", &self.max_queued_bytes_per_workspace)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("max_head_block", &self.max_head_block)
            .finish()
    }
}

/// Why the callbacks configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("callbacks.secrets_file {path}: {source}")]
    SecretsFile { path: PathBuf, source: std::io::Error },
    #[error("callbacks.secrets: {0}")]
    Secret(#[from] SecretError),
    #[error("callbacks.url: {0}")]
    Url(#[from] endpoint::InvalidEndpoint),
}

impl CallbacksConfig {
    /// Problems as (key under `callbacks.`, what is wrong). Empty means valid.
    /// `production` is true when SIDECAR_ENV=production.
    pub fn validate(&self, production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, problem: String| problems.push((key.to_owned(), problem));
        if !self.url.is_empty() {
            if let Err(e) = endpoint::parse(&self.url) {
                bad("url", e.to_string());
            }
        }
        match self.load_secrets() {
            Err(ConfigError::SecretsFile { source, .. }) => bad("secrets_file", source.to_string()),
            Err(e) => bad("secrets", e.to_string()),
            // Sessions may name their own callback_url at any time: nothing unsigned goes out.
            Ok(s) if s.is_empty() && production => bad(
                "secrets",
                "at least one whsec_ secret is required in production, so no callback goes out \
                 unsigned (SIDECAR__CALLBACKS__SECRETS or callbacks.secrets_file)"
                    .into(),
            ),
            Ok(_) => {}
        }
        if let Some(problem) = self.exposed_secrets_file().filter(|_| production) {
            bad("secrets_file", problem);
        }
        if self.workers == 0 || self.workers > 1024 {
            bad("workers", "must be between 1 and 1024".into());
        }
        if self.timeout.is_zero() {
            bad("timeout", "must be greater than zero".into());
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            bad("jitter", "must be between 0.0 and 0.5".into());
        }
        if self.retry_after_min > self.retry_after_max {
            bad("retry_after_min", "must not exceed retry_after_max".into());
        }
        if self.dead_letter_max_age.is_zero() {
            bad("dead_letter_max_age", "must be greater than zero".into());
        }
        if self.dead_letters_per_workspace == 0 {
            bad("dead_letters_per_workspace", "must be at least 1".into());
        }
        if self.max_queued_per_workspace == 0 {
            bad("max_queued_per_workspace", "must be at least 1".into());
        }
        if self.max_queued_bytes_per_workspace == 0 {
            bad("max_queued_bytes_per_workspace", "must be at least 1".into());
        }
        if self.max_queued_bytes < self.max_queued_bytes_per_workspace {
            bad("max_queued_bytes", "must be at least max_queued_bytes_per_workspace".into());
        }
        if self.idle_wakeup.is_zero() {
            bad("idle_wakeup", "must be greater than zero".into());
        }
        problems
    }

    /// Every configured secret, decoded: `secrets` first, then `secrets_file`.
    pub fn load_secrets(&self) -> Result<Vec<Secret>, ConfigError> {
        let mut texts = self.secrets.clone();
        if let Some(path) = &self.secrets_file {
            let content = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::SecretsFile { path: path.clone(), source })?;
            texts.extend(
                content
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        Ok(texts.iter().map(|t| Secret::parse(t)).collect::<Result<_, _>>()?)
    }

    /// Like every secret file: one readable by group or others is refused in production.
    fn exposed_secrets_file(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.secrets_file.as_ref()?;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        let what = crate::config::secret_file_exposure(mode)?;
        Some(format!("{} is {what}; run chmod 600 on it", path.display()))
    }

    /// Total attempts per event: the first one plus one per schedule step.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule.len()).unwrap_or(u32::MAX - 1) + 1
    }
}

/// `["5s", "5m"]` in TOML, or `"5s 5m"` / `"5s,5m"` from the environment.
mod duration_list {
    use std::time::Duration;

    use humantime_serde::Serde;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| Serde::from(*d)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<Serde<Duration>>),
        }
        match OneOrMany::deserialize(d)? {
            OneOrMany::Many(v) => Ok(v.into_iter().map(Serde::into_inner).collect()),
            OneOrMany::One(s) => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    humantime_serde::re::humantime::parse_duration(p)
                        .map_err(serde::de::Error::custom)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_production_asks_for_a_secret_even_without_a_url() {
        let mut cfg = CallbacksConfig::default();
        assert!(cfg.validate(false).is_empty());
        // Per-session callback_urls would otherwise get unsigned callbacks.
        let problems = cfg.validate(true);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "secrets");
        cfg.url = "https://host.test/hook".into();
        assert!(cfg.validate(false).is_empty());
        assert_eq!(cfg.validate(true).len(), 1);
        cfg.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()];
        assert!(cfg.validate(true).is_empty());
        assert_eq!(cfg.max_attempts(), 10);
    }

    #[test]
    fn secrets_come_from_one_string_or_a_list_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        std::fs::write(&file, "# rotated in\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\n").unwrap();
        let cfg: CallbacksConfig = toml::from_str(&format!(
            "secrets = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD, whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\n\
             secrets_file = {file:?}\nurl = \"https://host.test/hook\"\nretry_schedule = [\"5ms\"]"
        ))
        .unwrap();
        assert_eq!(cfg.load_secrets().unwrap().len(), 3);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            cfg.validate(true)[0].0,
            "secrets_file",
            "world-readable is refused in production"
        );
        assert!(cfg.validate(false).is_empty());
        // One rule for every secret file: the group may not read it either.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(cfg.validate(true)[0].1.contains("group"), "{:?}", cfg.validate(true));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!format!("{cfg:?}").contains("C2FV"), "Debug never shows a secret");
        assert!(cfg.validate(true).is_empty());
        assert_eq!(cfg.max_attempts(), 2);
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let cfg = CallbacksConfig {
            url: "ftp://user:pw@host/x".into(),
            secrets: vec!["not-a-secret".into()],
            workers: 0,
            ..Default::default()
        };
        let keys: Vec<String> = cfg.validate(false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["url", "secrets", "workers"]);
    }
}
