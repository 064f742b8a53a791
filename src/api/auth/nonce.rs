//! Remembers the nonces of accepted requests, bounded in time and in entries, one cache per key.
//!
//! Time: a nonce is kept while its request's timestamp is inside the skew window; older requests
//! are refused by the timestamp check anyway. Entries: past `max_entries` for a key, that key's
//! entry with the oldest timestamp is dropped and its timestamp becomes the key's floor: requests
//! of that key signed at or before the floor are refused from then on, so a dropped nonce can
//! never be replayed.
//!
//! Each key has its own entries and its own floor, so a key that floods the cache (or signs far in
//! the future to push its floor up) only ever refuses its own requests: a workspace-scoped key
//! cannot lock out the host's key. Keys are the configured ones (only a verified MAC gets here),
//! so memory is bounded by keys × `max_entries`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    Replayed,
    /// Signed before the floor left by eviction under load (of this key).
    BelowFloor,
}

pub struct NonceCache {
    max_entries: usize,
    window_secs: i64,
    keys: Mutex<HashMap<String, KeyNonces>>,
}

struct KeyNonces {
    seen: HashSet<String>,
    by_time: BTreeSet<(i64, String)>,
    floor: i64,
}

impl NonceCache {
    /// `max_entries` per key.
    pub fn new(max_entries: usize, window_secs: i64) -> Self {
        Self { max_entries: max_entries.max(1), window_secs, keys: Mutex::new(HashMap::new()) }
    }

    /// Records `(key_id, nonce)` signed at `timestamp` unless it was seen; `now` in Unix seconds.
    pub fn check_and_remember(
        &self,
        key_id: &str,
        nonce: &str,
        timestamp: i64,
        now: i64,
    ) -> NonceCheck {
        // A poisoned lock only means another request panicked mid-update; the sets stay usable.
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let cache = keys.entry(key_id.to_owned()).or_insert_with(KeyNonces::new);
        cache.expire(now - self.window_secs);
        if timestamp <= cache.floor {
            return NonceCheck::BelowFloor;
        }
        if cache.seen.contains(nonce) {
            return NonceCheck::Replayed;
        }
        cache.seen.insert(nonce.to_owned());
        cache.by_time.insert((timestamp, nonce.to_owned()));
        while cache.seen.len() > self.max_entries {
            cache.evict_oldest();
        }
        NonceCheck::Fresh
    }

    /// Nonces remembered, all keys together.
    pub fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).values().map(|k| k.seen.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KeyNonces {
    fn new() -> Self {
        Self { seen: HashSet::new(), by_time: BTreeSet::new(), floor: i64::MIN }
    }

    fn expire(&mut self, before: i64) {
        while let Some((ts, _)) = self.by_time.first() {
            if *ts >= before {
                break;
            }
            if let Some((_, nonce)) = self.by_time.pop_first() {
                self.seen.remove(&nonce);
            }
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((ts, nonce)) = self.by_time.pop_first() {
            self.seen.remove(&nonce);
            self.floor = self.floor.max(ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_key() {
        let cache = NonceCache::new(10, 300);
        assert_eq!(cache.check_and_remember("k", "n1", 1000, 1000), NonceCheck::Fresh);
        assert_eq!(cache.check_and_remember("k", "n1", 1000, 1001), NonceCheck::Replayed);
        assert_eq!(cache.check_and_remember("other", "n1", 1000, 1001), NonceCheck::Fresh);
    }

    #[test]
    fn entries_expire_with_the_window() {
        let cache = NonceCache::new(10, 300);
        cache.check_and_remember("k", "n1", 1000, 1000);
        cache.check_and_remember("k", "n2", 1200, 1200);
        cache.check_and_remember("k", "n3", 1400, 1400);
        assert_eq!(cache.len(), 2, "n1 (signed at 1000) left the window at 1400");
    }

    #[test]
    fn past_the_bound_the_oldest_go_and_nothing_older_gets_in() {
        let cache = NonceCache::new(3, 300);
        for (i, ts) in [1001, 1002, 1003, 1004].into_iter().enumerate() {
            assert_eq!(
                cache.check_and_remember("k", &format!("n{i}"), ts, 1004),
                NonceCheck::Fresh
            );
        }
        assert_eq!(cache.len(), 3);
        // n0 was dropped; replaying it must still fail.
        assert_eq!(cache.check_and_remember("k", "n0", 1001, 1005), NonceCheck::BelowFloor);
        assert_eq!(cache.check_and_remember("k", "new", 1005, 1005), NonceCheck::Fresh);
    }

    #[test]
    fn one_key_flooding_future_dated_requests_cannot_lock_out_another() {
        // The review's attack: a workspace-scoped key fills the cache with requests signed at
        // now+299, so the floor would move past every honest request signed now.
        let cache = NonceCache::new(100, 600);
        let now = 10_000;
        for i in 0..=100 {
            assert_eq!(
                cache.check_and_remember("tenant", &format!("t{i}"), now + 299, now),
                NonceCheck::Fresh
            );
        }
        assert_eq!(cache.check_and_remember("host", "h1", now, now), NonceCheck::Fresh);
        assert_eq!(cache.check_and_remember("host", "h2", now + 1, now + 1), NonceCheck::Fresh);
        // The flooding key only hurt itself.
        assert_eq!(cache.check_and_remember("tenant", "t-now", now, now), NonceCheck::BelowFloor);
    }

    #[test]
    fn each_key_is_bounded_on_its_own() {
        let cache = NonceCache::new(3, 300);
        for i in 0..10 {
            cache.check_and_remember("a", &format!("n{i}"), 1000 + i, 1000);
        }
        cache.check_and_remember("b", "n0", 1000, 1000);
        assert_eq!(cache.len(), 4, "3 for a, 1 for b");
    }
}
