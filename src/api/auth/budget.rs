//! The memory that unauthenticated requests may hold: bytes of request bodies read before their
//! signature is verified, bounded overall and per client address.
//!
//! The body is part of the signature, so it must be read before the MAC can be checked; without a
//! bound, anyone who can reach the port could hold `max_body_bytes` per connection for up to
//! `body_timeout_ms`. Reads that would pass either bound are refused at once (503 `SERVER_BUSY`),
//! never queued, so a slow sender cannot make honest requests wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Which bound a read would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetExhausted {
    #[error("too many unauthenticated request bytes are buffered (server.max_pending_body_bytes)")]
    Total,
    #[error("this address has too many unauthenticated request bytes buffered (server.max_pending_body_bytes_per_ip)")]
    PerPeer,
}

#[derive(Clone)]
pub struct BodyBudget {
    inner: Arc<Inner>,
}

struct Inner {
    total_max: usize,
    per_peer_max: usize,
    used: Mutex<Used>,
}

#[derive(Default)]
struct Used {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

impl BodyBudget {
    pub fn new(total_max: usize, per_peer_max: usize) -> Self {
        let inner = Inner { total_max, per_peer_max, used: Mutex::new(Used::default()) };
        Self { inner: Arc::new(inner) }
    }

    /// An empty reservation for one request from `peer`; grow it as bytes arrive.
    pub fn reservation(&self, peer: Option<IpAddr>) -> Reservation {
        Reservation { budget: self.clone(), peer: peer.map(|ip| ip.to_canonical()), held: 0 }
    }

    /// Bytes held by all reservations (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.inner.lock().total
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Used> {
        // Plain counters: a panic mid-update cannot leave them inconsistent in a harmful way.
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bytes held for one request; released when dropped.
pub struct Reservation {
    budget: BodyBudget,
    peer: Option<IpAddr>,
    held: usize,
}

impl Reservation {
    /// Holds `bytes` more, or refuses without holding anything.
    pub fn grow(&mut self, bytes: usize) -> Result<(), BudgetExhausted> {
        let inner = &self.budget.inner;
        let mut used = inner.lock();
        if used.total + bytes > inner.total_max {
            return Err(BudgetExhausted::Total);
        }
        if let Some(peer) = self.peer {
            let mine = used.by_peer.entry(peer).or_insert(0);
            if *mine + bytes > inner.per_peer_max {
                if *mine == 0 {
                    used.by_peer.remove(&peer);
                }
                return Err(BudgetExhausted::PerPeer);
            }
            *mine += bytes;
        }
        used.total += bytes;
        self.held += bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        let mut used = self.budget.inner.lock();
        used.total = used.total.saturating_sub(self.held);
        if let Some(peer) = self.peer {
            if let Some(mine) = used.by_peer.get_mut(&peer) {
                *mine = mine.saturating_sub(self.held);
                if *mine == 0 {
                    used.by_peer.remove(&peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_overall_and_per_address_and_are_released_on_drop() {
        let budget = BodyBudget::new(100, 60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let mut first = budget.reservation(Some(a));
        first.grow(50).unwrap();
        let mut second = budget.reservation(Some(a));
        assert_eq!(second.grow(20), Err(BudgetExhausted::PerPeer));
        let mut other = budget.reservation(Some(b));
        other.grow(50).unwrap();
        assert_eq!(budget.reservation(None).grow(1), Err(BudgetExhausted::Total));
        drop(first);
        second.grow(20).unwrap();
        assert_eq!(budget.in_use(), 70);
        drop((second, other));
        assert_eq!(budget.in_use(), 0);
        assert!(budget.inner.lock().by_peer.is_empty());
    }
}
