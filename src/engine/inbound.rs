//! What the page may push through the binding, before it is parsed: a size bound per payload and
//! a token bucket per page, both counted and warned about when they drop something. Anything in
//! the page's main world can call the binding (WhatsApp's code, the wa-js bundle, an XSS, a
//! DevTools client), so nothing it says is trusted further than this and the checks after it:
//! [`BridgeMsg`](super::bridge::BridgeMsg) parsing, QR shape in the tracker, QR only while one is
//! expected (`sessions::state`), and a logout only once WhatsApp Web itself reports no login
//! ([`CONFIRM_LOGGED_OUT`], evaluated by the pump).

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Largest binding payload kept; bigger ones are dropped unread. Message events carry text and
/// small previews; 512 KiB is far above any of them.
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;
/// Sustained binding calls per second per page, and the burst above it (a history catch-up).
pub const RATE_PER_SEC: f64 = 200.0;
pub const BURST: f64 = 2_000.0;
/// Longest QR text accepted (WhatsApp's are about 250 characters).
pub const MAX_QR_BYTES: usize = 1024;

/// Evaluated in the page when it reports a logout: only WhatsApp Web's own state, read by us,
/// makes the engine report `LoggedOut` (which deletes the stored login).
pub const CONFIRM_LOGGED_OUT: &str =
    "(() => { try { return WPP.conn.isRegistered() === false && WPP.conn.isAuthenticated() === false; } catch (e) { return null; } })()";

/// Why a payload was dropped: the `reason` label of `engine_bridge_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Over [`MAX_PAYLOAD_BYTES`], dropped unread.
    Oversize,
    /// Over the page's token bucket.
    RateLimited,
    /// Not JSON.
    Unparseable,
    /// JSON, but not one of the bridge's message types.
    UnexpectedType,
    /// Called from another context than the top frame's main world (an iframe, an isolated
    /// world, a context that is gone).
    ForeignContext,
}

impl Dropped {
    pub const ALL: [Dropped; 5] = [
        Dropped::Oversize,
        Dropped::RateLimited,
        Dropped::Unparseable,
        Dropped::UnexpectedType,
        Dropped::ForeignContext,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Dropped::Oversize => "oversize",
            Dropped::RateLimited => "rate",
            Dropped::Unparseable => "unparseable",
            Dropped::UnexpectedType => "unexpected_type",
            Dropped::ForeignContext => "foreign_context",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Process-wide (one sidecar per process), every page's drops together.
static DROPPED: LazyLock<Family<ReasonLabels, Counter>> = LazyLock::new(Family::default);

/// `engine_bridge_dropped_total{reason}`, every reason shown from the start (at 0).
pub fn register(registry: &mut Registry) {
    for reason in Dropped::ALL {
        let _ = DROPPED.get_or_create(&ReasonLabels { reason: reason.label() });
    }
    registry.register(
        "engine_bridge_dropped",
        "Messages from the page to the sidecar dropped before use, by reason",
        DROPPED.clone(),
    );
}

/// How many messages this process dropped for `reason`.
pub fn dropped_total(reason: Dropped) -> u64 {
    DROPPED.get_or_create(&ReasonLabels { reason: reason.label() }).get()
}

/// The per-page gate. Counters only grow; a warning is logged for the first drop of each kind and
/// then every 1,000th.
#[derive(Debug)]
pub struct Gate {
    tokens: f64,
    last: Instant,
    pub dropped_oversize: u64,
    pub dropped_rate: u64,
    /// Unparseable, unexpected type, foreign context.
    pub dropped_other: u64,
}

impl Gate {
    pub fn new(now: Instant) -> Self {
        Self { tokens: BURST, last: now, dropped_oversize: 0, dropped_rate: 0, dropped_other: 0 }
    }

    /// A message dropped after the gate let it in (its shape, its context): counted, and
    /// warned about the first time and every 1,000th.
    pub fn refuse(&mut self, reason: Dropped, detail: &dyn std::fmt::Display) {
        count(reason);
        self.dropped_other += 1;
        if self.dropped_other % 1000 == 1 {
            tracing::warn!(
                reason = reason.label(),
                dropped = self.dropped_other,
                "message from the page dropped: {detail}"
            );
        }
    }

    pub fn admit(&mut self, payload_len: usize, now: Instant) -> Result<(), Dropped> {
        if payload_len > MAX_PAYLOAD_BYTES {
            count(Dropped::Oversize);
            self.dropped_oversize += 1;
            if self.dropped_oversize % 1000 == 1 {
                tracing::warn!(
                    bytes = payload_len,
                    limit = MAX_PAYLOAD_BYTES,
                    dropped = self.dropped_oversize,
                    "oversize message from the page dropped"
                );
            }
            return Err(Dropped::Oversize);
        }
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * RATE_PER_SEC).min(BURST);
        if self.tokens < 1.0 {
            count(Dropped::RateLimited);
            self.dropped_rate += 1;
            if self.dropped_rate % 1000 == 1 {
                tracing::warn!(
                    rate = RATE_PER_SEC,
                    burst = BURST,
                    dropped = self.dropped_rate,
                    "the page sends faster than allowed; messages dropped"
                );
            }
            return Err(Dropped::RateLimited);
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

fn count(reason: Dropped) {
    DROPPED.get_or_create(&ReasonLabels { reason: reason.label() }).inc();
}

/// Which execution context may call the binding: the top frame's main world. Learned from
/// `Runtime.executionContextCreated` (its `auxData` says `isDefault` and the frame), forgotten
/// when that context is destroyed or all are cleared (a navigation).
#[derive(Debug, Default)]
pub struct MainWorld {
    current: Option<(i64, String)>,
}

impl MainWorld {
    /// A context was created; `top_frame` is the page's own frame id (its target id).
    pub fn created(
        &mut self,
        id: i64,
        unique_id: &str,
        aux: Option<&serde_json::Value>,
        top_frame: &str,
    ) {
        let aux = aux.cloned().unwrap_or_default();
        let main = aux["isDefault"] == true && aux["frameId"].as_str() == Some(top_frame);
        if main {
            self.current = Some((id, unique_id.to_owned()));
        }
    }

    pub fn destroyed(&mut self, unique_id: &str) {
        if self.current.as_ref().is_some_and(|(_, u)| u == unique_id) {
            self.current = None;
        }
    }

    pub fn cleared(&mut self) {
        self.current = None;
    }

    /// Whether a binding call from context `id` comes from the top frame's main world.
    pub fn admits(&self, id: i64) -> bool {
        self.current.as_ref().is_some_and(|(main, _)| *main == id)
    }
}

/// A QR as WhatsApp Web makes them: `2@…`, comma-separated fields, printable ASCII, bounded.
pub fn plausible_qr(code: &str) -> bool {
    code.len() <= MAX_QR_BYTES
        && code.starts_with("2@")
        && code.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn oversize_payloads_are_dropped_and_counted() {
        let now = Instant::now();
        let mut g = Gate::new(now);
        assert_eq!(g.admit(MAX_PAYLOAD_BYTES + 1, now), Err(Dropped::Oversize));
        assert_eq!(g.admit(50 * 1024 * 1024, now), Err(Dropped::Oversize));
        assert_eq!(g.dropped_oversize, 2);
        assert_eq!(g.admit(MAX_PAYLOAD_BYTES, now), Ok(()));
    }

    #[test]
    fn a_flood_is_cut_to_the_bucket_and_refills_at_the_rate() {
        let now = Instant::now();
        let mut g = Gate::new(now);
        let admitted = (0..10_000).filter(|_| g.admit(100, now).is_ok()).count();
        assert_eq!(admitted, BURST as usize);
        assert_eq!(g.dropped_rate, 10_000 - BURST as u64);
        let later = now + Duration::from_secs(1);
        let again = (0..10_000).filter(|_| g.admit(100, later).is_ok()).count();
        assert_eq!(again, RATE_PER_SEC as usize);
    }

    #[test]
    fn only_the_top_frame_s_main_world_may_call() {
        let top = "TOPFRAME";
        let mut w = MainWorld::default();
        assert!(!w.admits(1), "nothing before the main world is known");
        let aux = |default: bool, frame: &str| serde_json::json!({"isDefault": default, "type": if default {"default"} else {"isolated"}, "frameId": frame});
        w.created(1, "u1", Some(&aux(true, top)), top);
        w.created(2, "u2", Some(&aux(false, top)), top);
        w.created(3, "u3", Some(&aux(true, "IFRAME")), top);
        w.created(4, "u4", None, top);
        assert!(w.admits(1));
        assert!(!w.admits(2), "an isolated world");
        assert!(!w.admits(3), "an iframe's main world");
        assert!(!w.admits(4), "a context without frame data");
        w.destroyed("u3");
        assert!(w.admits(1));
        w.destroyed("u1");
        assert!(!w.admits(1), "a destroyed main world");
        w.created(5, "u5", Some(&aux(true, top)), top);
        w.cleared();
        assert!(!w.admits(5), "a navigation clears every context");
    }

    #[test]
    fn every_drop_is_counted_by_its_reason() {
        let before: Vec<u64> = Dropped::ALL.iter().map(|r| dropped_total(*r)).collect();
        let now = Instant::now();
        let mut g = Gate::new(now);
        let _ = g.admit(MAX_PAYLOAD_BYTES + 1, now);
        g.refuse(Dropped::ForeignContext, &"test");
        g.refuse(Dropped::Unparseable, &"test");
        let after: Vec<u64> = Dropped::ALL.iter().map(|r| dropped_total(*r)).collect();
        let grew: Vec<_> = Dropped::ALL
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a > b)
            .map(|(r, _)| r.label())
            .collect();
        for reason in ["oversize", "unparseable", "foreign_context"] {
            assert!(grew.contains(&reason), "{reason} not counted: {grew:?}");
        }
    }

    #[test]
    fn only_qr_shaped_text_is_a_qr() {
        assert!(plausible_qr("2@AbC+/=,x1,y2,z3"));
        assert!(!plausible_qr("ATTACKER"));
        assert!(!plausible_qr("2@with space"));
        assert!(!plausible_qr(&format!("2@{}", "a".repeat(MAX_QR_BYTES))));
    }
}
