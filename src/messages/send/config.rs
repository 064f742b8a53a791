//! The `[sending]` section of the configuration. Owned by `crate::messages::send`;
//! `crate::config` only nests it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SendingConfig {
    /// A message accepted while its session is `starting` or `disconnected` (or that is still
    /// queued when the session drops) fails with `expired` after this long without a connection.
    pub expire_after_ms: u64,
    /// No server ack this long after the hand-over → the page is asked; not there or still
    /// pending → `unconfirmed` (never resent).
    pub unconfirmed_after_ms: u64,
    /// Messages waiting per session at most; past it → `429 QUEUE_FULL`.
    pub max_queued_per_session: u64,
    /// Attempts on a transient failure (page reloading, bridge timeout) before `failed`.
    pub max_attempts: u32,
    /// How long a `queryExists` answer is kept: a number on WhatsApp, and one that is not.
    pub recipient_hit_ttl_ms: u64,
    pub recipient_miss_ttl_ms: u64,
    /// WhatsApp ids generated in one page evaluation at most: a message's and those of the next
    /// pending messages to the same recipient (1 = one evaluation per message).
    pub id_batch: usize,
    pub pacing: PacingConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PacingConfig {
    /// The one switch: off → no typing, no gaps, no caps (tests, benches).
    pub enabled: bool,
    /// Typing shown before a message: `base + per_char × chars`, clamped, then jittered ±jitter.
    pub typing_base_ms: u64,
    pub typing_per_char_ms: u64,
    pub typing_min_ms: u64,
    pub typing_max_ms: u64,
    /// Fraction, 0..1.
    pub typing_jitter: f64,
    /// A random gap in [min, max] after each send of a session.
    pub gap_min_ms: u64,
    pub gap_max_ms: u64,
    /// Messages a session sends per UTC day at most (0 = no cap).
    pub daily_cap: u64,
    /// Chats a session writes to for the first time (no message in that chat before, either
    /// way) per UTC day at most, once the ramp below is over (0 = no cap).
    pub new_chat_daily_cap: u64,
    /// The new-chat cap of a young session: entry `d` is the cap on its day `d` (days since the
    /// session was created here), then `new_chat_daily_cap`. After OpenWA's ladder by session
    /// age (5 → … → 100 a day); `[]` for an account known to be old.
    pub new_chat_ramp: Vec<u64>,
    /// Consecutive failed or unconfirmed sends that pause the session's queue …
    pub breaker_failures: u32,
    /// … for this long.
    pub breaker_pause_ms: u64,
}

impl Default for SendingConfig {
    fn default() -> Self {
        Self {
            expire_after_ms: 300_000,
            unconfirmed_after_ms: 60_000,
            max_queued_per_session: 10_000,
            max_attempts: 5,
            recipient_hit_ttl_ms: 86_400_000,
            recipient_miss_ttl_ms: 900_000,
            id_batch: 32,
            pacing: PacingConfig::default(),
        }
    }
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            typing_base_ms: 200,
            typing_per_char_ms: 35,
            typing_min_ms: 1_000,
            typing_max_ms: 8_000,
            typing_jitter: 0.3,
            gap_min_ms: 1_000,
            gap_max_ms: 3_000,
            daily_cap: 1_000,
            new_chat_daily_cap: 100,
            new_chat_ramp: vec![5, 10, 20, 40, 60, 80],
            breaker_failures: 5,
            breaker_pause_ms: 900_000,
        }
    }
}

impl PacingConfig {
    /// The new-chat cap of a session `age_days` old; `None`: no cap (pacing off, or 0).
    pub fn new_chat_cap(&self, age_days: u64) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        let day = usize::try_from(age_days).unwrap_or(usize::MAX);
        let cap = self.new_chat_ramp.get(day).copied().unwrap_or(self.new_chat_daily_cap);
        (cap > 0).then_some(cap)
    }
}

impl SendingConfig {
    pub fn validate(&self, _production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, key: &str, msg: &str| {
            if !ok {
                problems.push((key.to_owned(), msg.to_owned()));
            }
        };
        let p = &self.pacing;
        need(self.expire_after_ms >= 1_000, "expire_after_ms", "must be at least 1000");
        need(self.unconfirmed_after_ms >= 100, "unconfirmed_after_ms", "must be at least 100");
        need(self.max_queued_per_session >= 1, "max_queued_per_session", "must be at least 1");
        need(self.max_attempts >= 1, "max_attempts", "must be at least 1");
        need((1..=256).contains(&self.id_batch), "id_batch", "must be 1 to 256");
        need(
            p.typing_min_ms <= p.typing_max_ms,
            "pacing.typing_max_ms",
            "must be >= typing_min_ms",
        );
        need((0.0..1.0).contains(&p.typing_jitter), "pacing.typing_jitter", "must be in [0, 1)");
        need(p.gap_min_ms <= p.gap_max_ms, "pacing.gap_max_ms", "must be >= gap_min_ms");
        need(
            p.new_chat_ramp.iter().all(|&c| c >= 1) && p.new_chat_ramp.len() <= 365,
            "pacing.new_chat_ramp",
            "every entry at least 1, at most 365 entries",
        );
        need(p.breaker_failures >= 1, "pacing.breaker_failures", "must be at least 1");
        problems
    }
}
