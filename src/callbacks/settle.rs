//! Settling finished attempts in batches: one transaction records what every attempt that ended
//! since the last round means (delete after a 2xx, retry, disable, dead letter) and, in the same
//! transaction, claims the next due heads. A delivered head's successor is therefore claimable in
//! the very commit that deletes it, and many deliveries share one commit instead of two each.
//!
//! Nothing here needs an fsync: losing a settled batch only sends its events again with the same
//! `webhook-id` (see [`super::outbox::Inner::db`]).

use rusqlite::{Connection, OptionalExtension};

use super::store::{self, AttemptRecord, Claimed, Result};

/// What the dispatcher decided an attempt's outcome means.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered,
    /// Try again at `next_at`. `host_ok_at`: the last 2xx from this endpoint's host (scheme, host
    /// and port) seen by this process, if any.
    Retry {
        next_at: i64,
        host_ok_at: Option<i64>,
    },
    /// 410: disable the endpoint, keep the event.
    Gone,
    /// To dead letters now, with this reason.
    Bury(String),
    /// Record nothing: make it claimable again (a panicked attempt).
    Release,
}

/// One finished attempt to record.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub seq: i64,
    /// A `session.qr`: dropped instead of retried when a newer QR of its session is queued.
    pub qr: bool,
    pub attempt: AttemptRecord,
    pub outcome: Outcome,
}

/// What recording it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    Superseded,
    Retried,
    /// 410 recorded; `true` when the endpoint was newly disabled.
    Disabled(bool),
    Buried,
    /// Moved to dead letters because it held its session's later events past `max_head_block`.
    Parked,
    Released,
}

/// The reason a parked head carries in dead letters.
pub const PARKED: &str = "held its session's later events longer than callbacks.max_head_block \
                          while its host accepted other callbacks";

/// The claim that follows the settlement, in the same transaction.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub global_url: Option<&'a str>,
    pub claimant: i64,
    pub now: i64,
    pub limit: usize,
    /// `callbacks.max_head_block` in ms; 0: heads are never parked.
    pub max_head_block: i64,
}

/// One round: settle `done`, then claim up to `claim.limit` due heads. When fewer than the limit
/// were due, also returns when the earliest eligible head becomes due.
pub fn settle_and_claim(
    conn: &mut Connection,
    done: &[Settlement],
    claim: Claim<'_>,
) -> Result<(Vec<Settled>, Vec<Claimed>, Option<i64>)> {
    let tx = conn.transaction()?;
    let settled = done.iter().map(|s| settle(&tx, s, &claim)).collect::<Result<Vec<_>>>()?;
    let claimed = store::claim_in(&tx, claim.global_url, claim.claimant, claim.now, claim.limit)?;
    let next_due =
        if claimed.len() < claim.limit { store::next_due(&tx, claim.global_url)? } else { None };
    tx.commit()?;
    Ok((settled, claimed, next_due))
}

fn settle(tx: &Connection, s: &Settlement, claim: &Claim<'_>) -> Result<Settled> {
    let now = claim.now;
    match &s.outcome {
        Outcome::Delivered => {
            store::delete_delivered(tx, s.seq)?;
            Ok(Settled::Delivered)
        }
        Outcome::Retry { .. } if s.qr && store::drop_if_superseded(tx, s.seq)? => {
            Ok(Settled::Superseded)
        }
        Outcome::Retry { next_at, host_ok_at } => {
            let head = head_state(tx, s.seq)?;
            let first_failed = head.first_failed_at.unwrap_or(now);
            let bound = claim.max_head_block;
            if should_park(first_failed, now, bound, *host_ok_at, head.later_queued) {
                store::bury_in(tx, s.seq, &s.attempt, PARKED, now)?;
                return Ok(Settled::Parked);
            }
            // A blocking head is tried again when the bound ends, so it is parked on time; past
            // it (its host was down for everything) the ladder goes on as usual.
            let park_at = first_failed.saturating_add(bound);
            let next_at = if bound > 0 && head.later_queued && now < park_at {
                (*next_at).min(park_at)
            } else {
                *next_at
            };
            store::schedule_retry(tx, s.seq, &s.attempt, next_at, now)?;
            Ok(Settled::Retried)
        }
        Outcome::Gone => Ok(Settled::Disabled(store::disable_in(tx, s.seq, &s.attempt, now)?)),
        Outcome::Bury(reason) => {
            store::bury_in(tx, s.seq, &s.attempt, reason, now)?;
            Ok(Settled::Buried)
        }
        Outcome::Release => {
            tx.prepare_cached("UPDATE callback_outbox SET in_flight = 0 WHERE seq = ?1")?
                .execute([s.seq])?;
            Ok(Settled::Released)
        }
    }
}

struct HeadState {
    first_failed_at: Option<i64>,
    /// Whether its session has a later event queued (that this head holds back).
    later_queued: bool,
}

fn head_state(tx: &Connection, seq: i64) -> Result<HeadState> {
    let row = tx
        .prepare_cached(
            "SELECT o.first_failed_at, EXISTS (SELECT 1 FROM callback_outbox n
                 WHERE n.workspace = o.workspace AND n.session = o.session AND n.seq > o.seq)
             FROM callback_outbox o WHERE o.seq = ?1",
        )?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (first_failed_at, later_queued) = row.unwrap_or((None, false));
    Ok(HeadState { first_failed_at, later_queued })
}

/// Whether a failing head moves to dead letters so its session's later events flow: it has
/// failed for at least `bound` ms (0: never), it holds something back, and its host accepted
/// another callback after it first failed. A host that is down for everything keeps the order:
/// parking heads one after another would only scramble it.
pub fn should_park(
    first_failed_at: i64,
    now: i64,
    bound: i64,
    host_ok_at: Option<i64>,
    later_queued: bool,
) -> bool {
    bound > 0
        && later_queued
        && now.saturating_sub(first_failed_at) >= bound
        && host_ok_at.is_some_and(|ok| ok > first_failed_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callbacks::store::{NewEvent, QueueBounds};

    #[test]
    fn a_head_is_parked_only_when_it_alone_fails_past_the_bound() {
        // The host accepted something after the head first failed (at 100), bound 50 ms.
        assert!(should_park(100, 150, 50, Some(120), true));
        assert!(!should_park(100, 149, 50, Some(120), true), "not yet past the bound");
        assert!(!should_park(100, 150, 50, Some(120), false), "nothing is held back");
        assert!(!should_park(100, 150, 50, Some(90), true), "the host is down for everything");
        assert!(!should_park(100, 150, 50, None, true), "no sign of life from the host");
        assert!(!should_park(100, 10_000, 0, Some(120), true), "0 never parks");
    }

    fn attempt() -> AttemptRecord {
        AttemptRecord {
            at: "x".into(),
            url: "http://h/".into(),
            status: Some(500),
            error: Some("HTTP 500".into()),
            duration_ms: 1,
        }
    }

    #[test]
    fn a_delivered_head_s_successor_is_claimed_in_the_same_round() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        for id in ["a", "b", "c"] {
            let ev = NewEvent {
                id,
                kind: "session.status",
                workspace: "w",
                session: "s",
                body: "{}",
                now: 1,
            };
            store::insert(&mut conn, &ev, false, &QueueBounds::NONE).unwrap();
        }
        let claim = Claim {
            global_url: Some("http://h/"),
            claimant: 7,
            now: 10,
            limit: 8,
            max_head_block: 0,
        };
        let (_, first, _) = settle_and_claim(&mut conn, &[], claim).unwrap();
        assert_eq!(first.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["a"]);
        let done = Settlement {
            seq: first[0].seq,
            qr: false,
            attempt: attempt(),
            outcome: Outcome::Delivered,
        };
        let (settled, next, due) = settle_and_claim(&mut conn, &[done], claim).unwrap();
        assert_eq!(settled, [Settled::Delivered]);
        assert_eq!(next.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(due, None, "the only session's head is in flight");
        // A failing head of a session with later events is retried by the bound's end at latest,
        // and parked then once its host has accepted something since.
        let claim = Claim { max_head_block: 50, ..claim };
        let retry = |now: i64, host_ok_at| Settlement {
            seq: next[0].seq,
            qr: false,
            attempt: attempt(),
            outcome: Outcome::Retry { next_at: now + 10_000, host_ok_at },
        };
        let (settled, _, due) =
            settle_and_claim(&mut conn, &[retry(10, None)], Claim { limit: 0, ..claim }).unwrap();
        assert_eq!((settled[0], due), (Settled::Retried, None));
        let at: i64 = conn
            .query_row("SELECT next_attempt_at FROM callback_outbox WHERE id = 'b'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(at, 60, "capped at first failure + bound");
        let late = Claim { now: 60, ..claim };
        let (_, again, _) = settle_and_claim(&mut conn, &[], late).unwrap();
        assert_eq!(again[0].id, "b");
        let (settled, after, _) = settle_and_claim(&mut conn, &[retry(60, Some(5))], late).unwrap();
        assert_eq!(settled, [Settled::Retried], "its host failed everything since: kept");
        assert!(after.is_empty());
        let later = Claim { now: 10_060, ..claim };
        let (_, again, _) = settle_and_claim(&mut conn, &[], later).unwrap();
        let (settled, after, _) = settle_and_claim(
            &mut conn,
            &[Settlement { seq: again[0].seq, ..retry(10_060, Some(40)) }],
            later,
        )
        .unwrap();
        assert_eq!(settled, [Settled::Parked]);
        assert_eq!(after[0].id, "c", "the later event flows in the same round");
        let reason: String = conn
            .query_row("SELECT reason FROM callback_dead WHERE id = 'b'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(reason, PARKED);
    }
}
