//! The `[sessions]` section of the configuration. Owned by this module; `crate::config` only nests it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Sessions this instance runs at most (each is one Chromium, ~200 MiB and more).
    pub max_sessions: usize,
    /// Sessions one workspace may have at most, so one tenant cannot take every slot of
    /// `max_sessions`. 0: no bound of its own.
    pub max_per_workspace: usize,
    /// Start every session that was running when the sidecar stopped.
    pub restore_on_boot: bool,
    /// Backoff before the first automatic restart after a crash; doubles per attempt.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Consecutive crash restarts before the session goes to `failed{browser_crashed}`.
    pub max_recoveries: u32,
    /// WhatsApp's QR schedule, used for `attempt n/max` and `expires_at`.
    pub qr_first_ttl_ms: u64,
    pub qr_ttl_ms: u64,
    pub qr_max_attempts: u32,
    /// How long an API call waits for the session's actor to answer.
    pub command_timeout_ms: u64,
    /// At shutdown, how long every session together gets to close its browser and store its
    /// login (after the HTTP server has drained). A browser's own close is bounded by the engine's
    /// timeouts; this is the overall cap.
    pub shutdown_timeout_ms: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            max_sessions: 20,
            max_per_workspace: 0,
            restore_on_boot: true,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            max_recoveries: 5,
            qr_first_ttl_ms: 60_000,
            qr_ttl_ms: 20_000,
            qr_max_attempts: 6,
            command_timeout_ms: 60_000,
            shutdown_timeout_ms: 30_000,
        }
    }
}

impl SessionsConfig {
    /// Problems as (key under `sessions.`, what is wrong). Empty means valid.
    pub fn validate(&self, _production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, key: &str, msg: &str| {
            if !ok {
                problems.push((key.to_owned(), msg.to_owned()));
            }
        };
        need(self.max_sessions >= 1, "max_sessions", "must be at least 1");
        need(self.backoff_initial_ms >= 1, "backoff_initial_ms", "must be at least 1");
        need(
            self.backoff_max_ms >= self.backoff_initial_ms,
            "backoff_max_ms",
            "must be >= backoff_initial_ms",
        );
        need(self.qr_max_attempts >= 1, "qr_max_attempts", "must be at least 1");
        need(self.command_timeout_ms >= 100, "command_timeout_ms", "must be at least 100");
        need(self.shutdown_timeout_ms >= 100, "shutdown_timeout_ms", "must be at least 100");
        problems
    }
}
