//! Remembers the nonces of accepted requests, bounded in time and in entries.
//!
//! Time: a nonce is kept while its request's timestamp is inside the skew window; older requests
//! are refused by the timestamp check anyway. Entries: past `max_entries` the entry with the
//! oldest timestamp is dropped and its timestamp becomes a floor: requests signed at or before the
//! floor are refused from then on, so a dropped nonce can never be replayed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    Replayed,
    /// Signed before the floor left by eviction under load.
    BelowFloor,
}

pub struct NonceCache {
    max_entries: usize,
    window_secs: i64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<String>,
    by_time: BTreeSet<(i64, String)>,
    floor: i64,
}

impl NonceCache {
    pub fn new(max_entries: usize, window_secs: i64) -> Self {
        Self {
            max_entries: max_entries.max(1),
            window_secs,
            inner: Mutex::new(Inner { floor: i64::MIN, ..Default::default() }),
        }
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
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.expire(now - self.window_secs);
        if timestamp <= inner.floor {
            return NonceCheck::BelowFloor;
        }
        let entry = format!("{key_id}\n{nonce}");
        if inner.seen.contains(&entry) {
            return NonceCheck::Replayed;
        }
        inner.seen.insert(entry.clone());
        inner.by_time.insert((timestamp, entry));
        while inner.seen.len() > self.max_entries {
            inner.evict_oldest();
        }
        NonceCheck::Fresh
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn expire(&mut self, before: i64) {
        while let Some((ts, _)) = self.by_time.first() {
            if *ts >= before {
                break;
            }
            if let Some((_, entry)) = self.by_time.pop_first() {
                self.seen.remove(&entry);
            }
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((ts, entry)) = self.by_time.pop_first() {
            self.seen.remove(&entry);
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
}
