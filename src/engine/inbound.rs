//! What the page may push through the binding, before it is parsed: a size bound per payload and
//! a token bucket per page, both counted and warned about when they drop something. Anything in
//! the page's main world can call the binding (WhatsApp's code, the wa-js bundle, an XSS, a
//! DevTools client), so nothing it says is trusted further than this and the checks after it:
//! [`BridgeMsg`](super::bridge::BridgeMsg) parsing, QR shape in the tracker, QR only while one is
//! expected (`sessions::state`), and a logout only once WhatsApp Web itself reports no login
//! ([`CONFIRM_LOGGED_OUT`], evaluated by the pump).

use std::time::Instant;

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

/// Why a payload was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Oversize,
    RateLimited,
}

/// The per-page gate. Counters only grow; a warning is logged for the first drop of each kind and
/// then every 1,000th.
#[derive(Debug)]
pub struct Gate {
    tokens: f64,
    last: Instant,
    pub dropped_oversize: u64,
    pub dropped_rate: u64,
}

impl Gate {
    pub fn new(now: Instant) -> Self {
        Self { tokens: BURST, last: now, dropped_oversize: 0, dropped_rate: 0 }
    }

    pub fn admit(&mut self, payload_len: usize, now: Instant) -> Result<(), Dropped> {
        if payload_len > MAX_PAYLOAD_BYTES {
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
    fn only_qr_shaped_text_is_a_qr() {
        assert!(plausible_qr("2@AbC+/=,x1,y2,z3"));
        assert!(!plausible_qr("ATTACKER"));
        assert!(!plausible_qr("2@with space"));
        assert!(!plausible_qr(&format!("2@{}", "a".repeat(MAX_QR_BYTES))));
    }
}
