//! The `[broadcast]` section (docs/broadcast.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BroadcastConfig {
    pub enabled: bool,
    /// Base URL of the Pusher HTTP API: scheme, host and port only (Reverb: its host and port;
    /// Pusher: `https://api-{cluster}.pusher.com`).
    pub url: String,
    pub app_id: String,
    pub key: String,
    /// The app secret. Never in a committed file: `SIDECAR__BROADCAST__SECRET`.
    pub secret: String,
    /// Channel per workspace; `{workspace}` and `{session}` are replaced. Laravel's
    /// `PrivateChannel('workspace.7')` is `private-workspace.7`.
    pub channel: String,
    /// Event types published (their names are the event names: Echo `.listen('.session.qr')`).
    pub events: Vec<String>,
    /// Whole-request timeout of one attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts after the first one, for network errors, 429 and 5xx (a 4xx is final).
    pub retries: u32,
    /// Wait before the first retry; doubles per retry.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
}

/// Pusher's limit on `data`, in bytes.
pub const MAX_DATA_BYTES: usize = 10 * 1024;

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            app_id: String::new(),
            key: String::new(),
            secret: String::new(),
            channel: "private-workspace.{workspace}".to_owned(),
            events: vec!["session.qr".to_owned(), "session.status".to_owned()],
            timeout: Duration::from_secs(5),
            retries: 3,
            retry_backoff: Duration::from_millis(500),
        }
    }
}

impl BroadcastConfig {
    pub fn validate(&self, _production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !self.enabled {
            return problems;
        }
        let mut bad =
            |key: &str, problem: &str| problems.push((key.to_owned(), problem.to_owned()));
        match url::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if u.path() != "/" || u.query().is_some() || !u.username().is_empty() {
                    bad("url", "must be scheme://host[:port] only, without a path, query or user");
                }
            }
            _ => bad("url", "must be an absolute http(s) URL, e.g. http://127.0.0.1:8080"),
        }
        if self.app_id.is_empty()
            || !self.app_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bad("app_id", "is required (letters, digits, -)");
        }
        if self.key.is_empty() {
            bad("key", "is required");
        }
        if self.secret.is_empty() {
            bad("secret", "is required: set SIDECAR__BROADCAST__SECRET");
        }
        let sample = self.channel.replace("{workspace}", "w").replace("{session}", "s");
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-=@,.;".contains(c);
        if sample.is_empty() || !sample.chars().all(allowed) || self.channel.len() > 100 {
            bad(
                "channel",
                "must be a Pusher channel name ([A-Za-z0-9_-=@,.;], at most 100 characters)",
            );
        }
        if self.events.is_empty() {
            bad("events", "must name at least one event type");
        }
        if self.timeout.is_zero() {
            bad("timeout", "must be more than 0");
        }
        problems
    }

    /// The channel of one session's events.
    pub fn channel_for(&self, workspace: &str, session: &str) -> String {
        self.channel.replace("{workspace}", workspace).replace("{session}", session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> BroadcastConfig {
        BroadcastConfig {
            enabled: true,
            url: "http://127.0.0.1:6001".into(),
            app_id: "1001".into(),
            key: "app-key".into(),
            secret: "app-secret".into(),
            ..BroadcastConfig::default()
        }
    }

    #[test]
    fn off_by_default_and_valid_when_complete() {
        assert!(!BroadcastConfig::default().enabled);
        assert!(BroadcastConfig::default().validate(true).is_empty());
        assert!(enabled().validate(true).is_empty());
        assert_eq!(enabled().channel_for("acme", "main"), "private-workspace.acme");
    }

    #[test]
    fn names_every_missing_or_wrong_key() {
        let cfg = BroadcastConfig {
            url: "http://127.0.0.1:6001/prefix".into(),
            secret: String::new(),
            channel: "private workspace".into(),
            ..enabled()
        };
        let keys: Vec<String> = cfg.validate(false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["url", "secret", "channel"]);
    }
}
