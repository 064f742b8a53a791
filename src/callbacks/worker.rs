//! The delivery loop: one dispatcher claims due session heads (at most one event per session in
//! flight, so a session's events go out in order) and runs each attempt as a task bounded by a
//! semaphore of `callbacks.workers`; each task records its outcome and wakes the dispatcher.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::deliver::AttemptOutcome;
use super::error::OutboxError;
use super::outbox::{now_ms, Inner};
use super::policy::{classify, Verdict};
use super::store::{self, AttemptRecord, Claimed};
use crate::events::kind;

/// After a database error the dispatcher waits this long before trying again.
const DB_ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// How often the claims of a stopped process sharing the data folder are looked for (and
/// whether one shares it at all).
const RECLAIM_EVERY: Duration = Duration::from_secs(10);
/// While another process shares the data folder, how often the outbox is read for what it
/// committed (its commits do not wake this process).
const SHARED_POLL: Duration = Duration::from_millis(250);
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
    let permits = Arc::new(Semaphore::new(inner.workers));
    let mut tasks = JoinSet::new();
    let mut last_reclaim: Option<tokio::time::Instant> = None;
    // Another live process on the data folder commits events this one is not woken for.
    let mut shared = false;
    while !inner.stopping.load(Ordering::SeqCst) {
        reap(&mut tasks);
        if !delivers(&inner).await {
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
        let wait = match claim_and_spawn(&inner, &permits, &mut tasks).await {
            Ok(true) => continue,
            Ok(false) if shared => idle_time(&inner, &permits).await.min(SHARED_POLL),
            Ok(false) => idle_time(&inner, &permits).await.min(RECLAIM_EVERY),
            Err(e) => {
                tracing::error!(error = %e, "callback dispatcher cannot read the outbox");
                DB_ERROR_BACKOFF
            }
        };
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    drain(&inner, tasks).await;
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

/// Claim as many due heads as there are free workers; `true` when all were used and more may wait.
async fn claim_and_spawn(
    inner: &Arc<Inner>,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) -> Result<bool, OutboxError> {
    let free = permits.available_permits();
    if free == 0 {
        return Ok(false);
    }
    let url = inner.global_url.clone();
    let me = inner.claimant.id();
    let claimed =
        inner.db(move |c| store::claim_due(c, url.as_deref(), me, now_ms(), free)).await?;
    let full = claimed.len() == free;
    for event in claimed {
        // Only this loop takes permits, and `free` were available.
        let Ok(permit) = permits.clone().try_acquire_owned() else { break };
        inner.metrics.in_flight.inc();
        tasks.spawn(attempt(inner.clone(), event, permit));
    }
    Ok(full)
}

/// How long to sleep: until the next due head, never past `idle_wakeup`.
async fn idle_time(inner: &Arc<Inner>, permits: &Semaphore) -> Duration {
    if permits.available_permits() == 0 {
        return inner.idle_wakeup;
    }
    let url = inner.global_url.clone();
    match inner.db(move |c| store::next_due(c, url.as_deref())).await {
        Ok(Some(at)) => Duration::from_millis((at - now_ms()).max(0) as u64).min(inner.idle_wakeup),
        Ok(None) => inner.idle_wakeup,
        Err(e) => {
            tracing::error!(error = %e, "callback dispatcher cannot read the outbox");
            DB_ERROR_BACKOFF
        }
    }
}

fn reap(tasks: &mut JoinSet<()>) {
    while let Some(done) = tasks.try_join_next() {
        if let Err(e) = done {
            tracing::error!(error = %e, "callback delivery task panicked; its event is sent again after restart");
        }
    }
}

async fn drain(inner: &Inner, mut tasks: JoinSet<()>) {
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(inner.shutdown_timeout, all_done).await.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "callback attempts still in flight at shutdown; they are sent again at the next start"
        );
        tasks.shutdown().await;
    }
    tracing::info!("callback delivery stopped");
}

/// One attempt of one claimed event, then its bookkeeping.
async fn attempt(inner: Arc<Inner>, event: Claimed, _permit: OwnedSemaphorePermit) {
    let outcome = inner.deliverer.attempt(&event.url, &event.id, &event.body).await;
    let seq = event.seq;
    if let Err(e) = record(&inner, &event, &outcome).await {
        tracing::error!(error = %e, id = %event.id, "cannot record a callback attempt; releasing the event");
        if let Err(e) = inner
            .db(move |c| {
                c.execute("UPDATE callback_outbox SET in_flight = 0 WHERE seq = ?1", [seq])
            })
            .await
        {
            tracing::error!(error = %e, "cannot release a callback; it is sent again after restart");
        }
    }
    inner.metrics.in_flight.dec();
    inner.wake.notify_one();
}

async fn record(
    inner: &Arc<Inner>,
    event: &Claimed,
    outcome: &AttemptOutcome,
) -> Result<(), OutboxError> {
    let attempts = event.attempts + 1;
    let now = now_ms();
    let log = AttemptRecord {
        at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        url: event.url.clone(),
        status: outcome.status,
        error: outcome.error.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
    };
    let seq = event.seq;
    let m = &inner.metrics;
    let verdict = classify(outcome.status);
    if verdict == Verdict::Retry
        && event.kind == kind::SESSION_QR
        && inner.db(move |c| store::drop_if_superseded(c, seq)).await?
    {
        m.queued.dec();
        m.superseded.inc();
        tracing::debug!(id = %event.id, "failed QR callback dropped: a newer QR is queued");
        return Ok(());
    }
    match verdict {
        Verdict::Delivered => {
            inner.db(move |c| store::delete_delivered(c, seq)).await?;
            m.queued.dec();
            m.delivered.inc();
            m.latency.observe((now - event.enqueued_at).max(0) as f64 / 1000.0);
        }
        Verdict::Gone => {
            let url = event.url.clone();
            if inner.db(move |c| store::disable_after_gone(c, seq, &log, now)).await? {
                m.disabled_endpoints.inc();
                tracing::warn!(url = %super::endpoint::redacted(&url), id = %event.id, "callback endpoint answered 410 Gone; disabled until re-enabled");
            }
        }
        Verdict::Refused => bury(inner, event, log, now, "refused by the endpoint").await?,
        Verdict::Retry => match inner.policy.next_delay(attempts, outcome.retry_after) {
            Some(delay) => {
                let next = now + delay.as_millis() as i64;
                inner.db(move |c| store::schedule_retry(c, seq, &log, next)).await?;
                m.retried.inc();
                tracing::debug!(id = %event.id, attempts, ?delay, error = ?outcome.error, "callback attempt failed; retrying");
            }
            None => bury(inner, event, log, now, "attempts exhausted").await?,
        },
    }
    Ok(())
}

async fn bury(
    inner: &Arc<Inner>,
    event: &Claimed,
    log: AttemptRecord,
    now: i64,
    why: &str,
) -> Result<(), OutboxError> {
    let reason = format!("{why}: {}", log.error.as_deref().unwrap_or("no response"));
    tracing::warn!(id = %event.id, kind = %event.kind, %reason, "callback moved to dead letters");
    let seq = event.seq;
    inner.db(move |c| store::bury(c, seq, &log, &reason, now)).await?;
    inner.metrics.queued.dec();
    inner.metrics.dead.inc();
    Ok(())
}
