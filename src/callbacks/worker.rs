//! The delivery loop: one dispatcher claims due session heads (at most one event per session in
//! flight, so a session's events go out in order) and runs each attempt as a task, at most
//! `callbacks.workers` at once. Attempts only talk HTTP; the dispatcher records their outcomes
//! in rounds ([`super::settle`]): every attempt that ended since the last round is settled, and
//! the next due heads claimed, in one transaction on the blocking pool.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinSet};

use super::deliver::AttemptOutcome;
use super::error::OutboxError;
use super::outbox::{now_ms, Inner};
use super::policy::{classify, Verdict};
use super::settle::{self, Claim, Outcome, Settled, Settlement};
use super::store::{AttemptRecord, Claimed};
use crate::events::kind;

/// After a database error the dispatcher waits this long before trying again.
const DB_ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// How often the claims of a stopped process sharing the data folder are looked for (and
/// whether one shares it at all).
const RECLAIM_EVERY: Duration = Duration::from_secs(10);
/// While another process shares the data folder, how often the outbox is read for what it
/// committed (its commits do not wake this process).
const SHARED_POLL: Duration = Duration::from_millis(250);
/// After an attempt ends while others run, how long the dispatcher waits for more to end so they
/// share one commit (every commit rewrites the same index pages; settling several at once costs
/// little more than settling one).
const GATHER: Duration = Duration::from_millis(2);
/// How often a process that does not deliver checks whether the deliverer stopped.
const FOLLOWER_POLL: Duration = Duration::from_secs(1);

/// A panic boundary around [`dispatch`]: if it dies, its attempts die with it (the `JoinSet` aborts
/// them), so their claims are released and a fresh dispatcher takes over after a pause.
pub(super) async fn supervise(inner: Arc<Inner>) {
    loop {
        let Err(panic) = tokio::spawn(dispatch(inner.clone())).await else { return };
        tracing::error!(error = %panic, "callback dispatcher panicked; restarting it");
        tokio::time::sleep(DB_ERROR_BACKOFF).await;
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        inner.metrics.in_flight.set(0);
        let me = inner.clone();
        if let Err(e) = inner.db(move |c| me.claimant.release_own(c)).await {
            tracing::error!(error = %e, "cannot release the dead dispatcher's claims; they wait for a restart");
        }
    }
}

async fn dispatch(inner: Arc<Inner>) {
    let endpoint = inner.global_url.as_deref().map(super::endpoint::redacted);
    tracing::info!(workers = inner.workers, ?endpoint, "callback delivery started");
    let mut d = Dispatcher::new(inner.clone());
    let mut last_reclaim: Option<tokio::time::Instant> = None;
    // Another live process on the data folder commits events this one is not woken for.
    let mut shared = false;
    while !inner.stopping.load(Ordering::SeqCst) {
        d.reap();
        if d.tasks.is_empty() && d.done.is_empty() && !delivers(&inner).await {
            // Another process sharing the data folder delivers (a blue-green deploy); this one
            // takes over when that one stops.
            tokio::select! {
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(FOLLOWER_POLL) => {}
            }
            continue;
        }
        if last_reclaim.is_none_or(|at| at.elapsed() >= RECLAIM_EVERY) {
            last_reclaim = Some(tokio::time::Instant::now());
            // A process sharing the data folder stopped or was killed with claims in flight.
            let me = inner.clone();
            if let Err(e) = inner.db(move |c| me.claimant.release_dead(c)).await {
                tracing::error!(error = %e, "cannot free the claims of a stopped process");
            }
            let me = inner.clone();
            shared = tokio::task::spawn_blocking(move || me.claimant.neighbours() > 0)
                .await
                .unwrap_or(false);
        }
        let wait = match d.round(inner.workers - d.tasks.len()).await {
            Ok(Round::Full) => inner.idle_wakeup,
            Ok(Round::NextDue(at)) => {
                let until = at.map_or(inner.idle_wakeup, |at| {
                    Duration::from_millis((at - now_ms()).max(0) as u64)
                });
                until.min(inner.idle_wakeup).min(if shared { SHARED_POLL } else { RECLAIM_EVERY })
            }
            Err(e) => {
                tracing::error!(error = %e, "callback dispatcher cannot read the outbox");
                DB_ERROR_BACKOFF
            }
        };
        if !d.done.is_empty() || wait.is_zero() {
            continue;
        }
        tokio::select! {
            Some(finished) = d.tasks.join_next_with_id() => {
                d.finished(finished);
                d.gather().await;
            }
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    d.drain().await;
}

/// Whether this process delivers (see [`super::claims`]); free once it does.
async fn delivers(inner: &Arc<Inner>) -> bool {
    if inner.delivering.load(Ordering::Relaxed) {
        return true;
    }
    let me = inner.clone();
    let now = tokio::task::spawn_blocking(move || me.claimant.delivers()).await.unwrap_or(false);
    inner.delivering.store(now, Ordering::Relaxed);
    now
}

/// How a round ended.
enum Round {
    /// Every worker is busy.
    Full,
    /// Workers are free and nothing more is due; the earliest eligible head is due then.
    NextDue(Option<i64>),
}

type Finished = Result<(Id, (Claimed, AttemptOutcome)), tokio::task::JoinError>;

struct Dispatcher {
    inner: Arc<Inner>,
    tasks: JoinSet<(Claimed, AttemptOutcome)>,
    /// The claim each running attempt holds, to release it if the attempt panics.
    running: HashMap<Id, Claimed>,
    /// Attempts finished and not yet settled.
    done: Vec<(Claimed, Settlement)>,
    /// Per endpoint host (scheme, host, port): when it last answered 2xx (Unix ms).
    host_ok: HashMap<String, i64>,
}

impl Dispatcher {
    fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            done: Vec::new(),
            host_ok: HashMap::new(),
        }
    }

    /// Wait up to [`GATHER`] until half the attempts that were running have ended, so they
    /// settle in one commit. With one attempt running (a quiet outbox) this does not wait.
    async fn gather(&mut self) {
        let want = (self.tasks.len() + self.done.len()) / 2;
        let deadline = tokio::time::Instant::now() + GATHER;
        while self.done.len() < want {
            tokio::select! {
                Some(finished) = self.tasks.join_next_with_id() => self.finished(finished),
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.reap();
    }

    /// Collect every attempt that has finished, without waiting.
    fn reap(&mut self) {
        while let Some(finished) = self.tasks.try_join_next_with_id() {
            self.finished(finished);
        }
    }

    fn finished(&mut self, finished: Finished) {
        match finished {
            Ok((id, (event, outcome))) => {
                self.running.remove(&id);
                let settlement = self.judge(&event, &outcome);
                self.done.push((event, settlement));
            }
            Err(e) => {
                tracing::error!(error = %e, "callback delivery task panicked; its event is released");
                if let Some(event) = self.running.remove(&e.id()) {
                    let attempt = record_of(&event, &AttemptOutcome::default());
                    let release = Settlement {
                        seq: event.seq,
                        qr: false,
                        attempt,
                        outcome: Outcome::Release,
                    };
                    self.done.push((event, release));
                }
            }
        }
    }

    /// What an attempt's outcome means for its event.
    fn judge(&mut self, event: &Claimed, outcome: &AttemptOutcome) -> Settlement {
        let now = now_ms();
        let host = host_of(&event.url);
        let outcome_is = match classify(outcome.status) {
            Verdict::Delivered => {
                self.host_ok.insert(host, now);
                Outcome::Delivered
            }
            Verdict::Gone => Outcome::Gone,
            Verdict::Refused => Outcome::Bury(reason("refused by the endpoint", outcome)),
            Verdict::Retry => {
                match self.inner.policy.next_delay(event.attempts + 1, outcome.retry_after) {
                    Some(delay) => Outcome::Retry {
                        next_at: now + delay.as_millis() as i64,
                        host_ok_at: self.host_ok.get(&host).copied(),
                    },
                    None => Outcome::Bury(reason("attempts exhausted", outcome)),
                }
            }
        };
        Settlement {
            seq: event.seq,
            qr: event.kind == kind::SESSION_QR,
            attempt: record_of(event, outcome),
            outcome: outcome_is,
        }
    }

    /// Settle what finished and claim up to `free` due heads, in one transaction; start them.
    async fn round(&mut self, free: usize) -> Result<Round, OutboxError> {
        let done = std::mem::take(&mut self.done);
        let settlements: Vec<Settlement> = done.iter().map(|(_, s)| s.clone()).collect();
        let url = self.inner.global_url.clone();
        let me = self.inner.claimant.id();
        let block = i64::try_from(self.inner.max_head_block.as_millis()).unwrap_or(i64::MAX);
        let result = self
            .inner
            .db(move |c| {
                let claim = Claim {
                    global_url: url.as_deref(),
                    claimant: me,
                    now: now_ms(),
                    limit: free,
                    max_head_block: block,
                };
                settle::settle_and_claim(c, &settlements, claim)
            })
            .await;
        self.inner.rounds.fetch_add(1, Ordering::Relaxed);
        let (settled, claimed, next_due) = match result {
            Ok(round) => round,
            Err(e) => {
                self.release(&done).await;
                return Err(e);
            }
        };
        for ((event, s), what) in done.iter().zip(settled) {
            self.account(event, s, what);
        }
        let full = claimed.len() == free;
        for event in claimed {
            self.inner.metrics.in_flight.inc();
            let inner = self.inner.clone();
            let handle = self.tasks.spawn(attempt(inner, event.clone()));
            self.running.insert(handle.id(), event);
        }
        Ok(if full { Round::Full } else { Round::NextDue(next_due) })
    }

    /// After a failed round: make its events claimable again (they are sent again).
    async fn release(&self, done: &[(Claimed, Settlement)]) {
        self.inner.metrics.in_flight.dec_by(done.len() as i64);
        let seqs: Vec<i64> = done.iter().map(|(e, _)| e.seq).collect();
        let released = self
            .inner
            .db(move |c| {
                let mut stmt =
                    c.prepare_cached("UPDATE callback_outbox SET in_flight = 0 WHERE seq = ?1")?;
                seqs.iter().try_for_each(|seq| stmt.execute([seq]).map(drop))
            })
            .await;
        if let Err(e) = released {
            tracing::error!(error = %e, "cannot release callbacks; they are sent again after restart");
        }
    }

    /// Metrics and logs of one settled attempt.
    fn account(&self, event: &Claimed, s: &Settlement, what: Settled) {
        let m = &self.inner.metrics;
        m.in_flight.dec();
        match what {
            Settled::Delivered => {
                m.queued.dec();
                m.delivered.inc();
                m.latency.observe((now_ms() - event.enqueued_at).max(0) as f64 / 1000.0);
            }
            Settled::Superseded => {
                m.queued.dec();
                m.superseded.inc();
                tracing::debug!(id = %event.id, "failed QR callback dropped: a newer QR is queued");
            }
            Settled::Retried => {
                m.retried.inc();
                tracing::debug!(id = %event.id, attempts = event.attempts + 1, error = ?s.attempt.error, "callback attempt failed; retrying");
            }
            Settled::Disabled(newly) => {
                if newly {
                    m.disabled_endpoints.inc();
                    tracing::warn!(url = %super::endpoint::redacted(&event.url), id = %event.id, "callback endpoint answered 410 Gone; disabled until re-enabled");
                }
            }
            Settled::Buried | Settled::Parked => {
                m.queued.dec();
                m.dead.inc();
                if what == Settled::Parked {
                    m.parked.inc();
                }
                let reason = match &s.outcome {
                    Outcome::Bury(reason) => reason.as_str(),
                    _ => settle::PARKED,
                };
                tracing::warn!(id = %event.id, kind = %event.kind, %reason, "callback moved to dead letters");
            }
            Settled::Released => {}
        }
    }

    /// At shutdown: wait for attempts in flight (bounded by `shutdown_timeout`) and settle them.
    async fn drain(mut self) {
        let limit = self.inner.shutdown_timeout;
        let all_done = async {
            while let Some(finished) = self.tasks.join_next_with_id().await {
                self.finished(finished);
            }
        };
        if tokio::time::timeout(limit, all_done).await.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "callback attempts still in flight at shutdown; they are sent again at the next start"
            );
            self.tasks.shutdown().await;
        }
        self.reap();
        if !self.done.is_empty() {
            if let Err(e) = self.round(0).await {
                tracing::error!(error = %e, "cannot record the last callback attempts; they are sent again at the next start");
            }
        }
        tracing::info!("callback delivery stopped");
    }
}

/// One attempt of one claimed event: HTTP only; the dispatcher records it.
async fn attempt(inner: Arc<Inner>, event: Claimed) -> (Claimed, AttemptOutcome) {
    let outcome = inner.deliverer.attempt(&event.url, &event.id, &event.body).await;
    (event, outcome)
}

fn record_of(event: &Claimed, outcome: &AttemptOutcome) -> AttemptRecord {
    AttemptRecord {
        at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        url: event.url.clone(),
        status: outcome.status,
        error: outcome.error.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
    }
}

fn reason(why: &str, outcome: &AttemptOutcome) -> String {
    format!("{why}: {}", outcome.error.as_deref().unwrap_or("no response"))
}

/// The endpoint's scheme, host and port: "the host is up" is judged per origin, so sessions with
/// their own URLs on one host count for each other.
fn host_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}
