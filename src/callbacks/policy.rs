//! What a delivery attempt's outcome means, and how long to wait before the next one.
//!
//! Standard Webhooks: any 2xx is delivered; 410 disables the endpoint; other 4xx are the
//! receiver refusing this event for good, except 408 and 429 which say "later". Everything else
//! (3xx, 5xx, timeouts, refused connections) is retried on the configured ladder.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The meaning of one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again later (transport error, 3xx, 5xx, 408, 429).
    Retry,
    /// 410: stop sending to this endpoint until an operator re-enables it.
    Gone,
    /// Any other 4xx: retrying cannot help; the event goes to dead letters now.
    Refused,
}

/// Classify an HTTP status; a transport error (no status) is [`Verdict::Retry`].
pub fn classify(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        Some(408 | 429) => Verdict::Retry,
        Some(400..=499) => Verdict::Refused,
        _ => Verdict::Retry,
    }
}

/// The retry ladder, its jitter and the bounds on a receiver's `Retry-After`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub schedule: Vec<Duration>,
    pub jitter: f64,
    pub retry_after_min: Duration,
    pub retry_after_max: Duration,
}

impl RetryPolicy {
    /// Delay before the next attempt after `attempts` failed ones, or `None` when they are used up.
    /// A `Retry-After` replaces the scheduled delay (clamped, no jitter: the receiver asked for it).
    pub fn next_delay(&self, attempts: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let step = usize::try_from(attempts).ok()?.checked_sub(1)?;
        let base = *self.schedule.get(step)?;
        if let Some(asked) = retry_after {
            return Some(asked.clamp(self.retry_after_min, self.retry_after_max));
        }
        Some(jittered(base, self.jitter))
    }
}

fn jittered(base: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 || base.is_zero() {
        return base;
    }
    let factor = rand::rng().random_range((1.0 - jitter)..=(1.0 + jitter));
    base.mul_f64(factor)
}

/// `Retry-After` as seconds or an HTTP date; `None` when absent or unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: vec![Duration::from_secs(10), Duration::from_secs(100)],
            jitter: 0.2,
            retry_after_min: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(60),
        }
    }

    #[test]
    fn classifies_like_standard_webhooks() {
        assert_eq!(classify(Some(204)), Verdict::Delivered);
        assert_eq!(classify(Some(410)), Verdict::Gone);
        assert_eq!(classify(Some(408)), Verdict::Retry);
        assert_eq!(classify(Some(429)), Verdict::Retry);
        assert_eq!(classify(Some(400)), Verdict::Refused);
        assert_eq!(classify(Some(404)), Verdict::Refused);
        assert_eq!(classify(Some(301)), Verdict::Retry);
        assert_eq!(classify(Some(503)), Verdict::Retry);
        assert_eq!(classify(None), Verdict::Retry);
    }

    #[test]
    fn walks_the_ladder_with_bounded_jitter_then_stops() {
        let p = policy();
        for _ in 0..200 {
            let d = p.next_delay(1, None).unwrap();
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12), "{d:?}");
        }
        assert!(p.next_delay(2, None).unwrap() >= Duration::from_secs(80));
        assert_eq!(p.next_delay(3, None), None);
        assert_eq!(p.next_delay(0, None), None);
    }

    #[test]
    fn retry_after_replaces_the_delay_within_bounds() {
        let p = policy();
        assert_eq!(p.next_delay(1, Some(Duration::from_secs(30))), Some(Duration::from_secs(30)));
        assert_eq!(p.next_delay(1, Some(Duration::from_secs(3600))), Some(Duration::from_secs(60)));
        assert_eq!(p.next_delay(1, Some(Duration::ZERO)), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(3, Some(Duration::from_secs(5))), None);
    }

    #[test]
    fn reads_retry_after_as_seconds_or_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
