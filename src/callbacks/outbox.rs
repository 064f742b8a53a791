//! The outbox handle: commits events, answers the API, and owns the delivery task's lifecycle.
//!
//! Durability contract: [`Outbox::enqueue`] (and so [`EventSink::accept`]) returns only after the
//! event's row is committed with a full fsync. A row leaves the outbox only after a 2xx or when
//! it moves to dead letters in the same transaction.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::Notify;
use url::Url;

use super::claims::Claimant;
use super::config::CallbacksConfig;
use super::dead::{self, DeadFilter, DeadPage};
use super::deliver::Deliverer;
use super::error::OutboxError;
use super::metrics::{BoundLabel, Metrics};
use super::policy::RetryPolicy;
use super::sign::{Secret, Signer};
use super::store::{self, Counts, DisabledEndpoint, Inserted, NewEvent, QueueBounds, Redelivered};
use super::{endpoint, worker};
use crate::events::{kind, Event, EventSink};
use crate::ids::SessionKey;

/// The `type` of the event `POST /v1/callbacks/test` sends.
pub const CALLBACK_TEST: &str = "callback.test";

#[derive(Clone)]
pub struct Outbox {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    conn: Mutex<Connection>,
    pub(super) global_url: Option<String>,
    pub(super) policy: RetryPolicy,
    pub(super) workers: usize,
    pub(super) idle_wakeup: Duration,
    pub(super) shutdown_timeout: Duration,
    pub(super) max_head_block: Duration,
    bounds: QueueBounds,
    pub(super) deliverer: Deliverer,
    /// Shares its secrets with the deliverer's signer: replaced on SIGHUP.
    signer: Signer,
    /// Seal sessions' own secrets in the database.
    keys: Arc<crate::vault::VaultKeys>,
    pub(super) metrics: Metrics,
    /// Rouses the dispatcher: new event, finished attempt, endpoint change, shutdown.
    pub(super) wake: Notify,
    pub(super) stopping: AtomicBool,
    /// This process's claim stamp (another sidecar may share the data folder).
    pub(super) claimant: Claimant,
    /// Set once this process holds the delivery lock (kept until it ends).
    pub(super) delivering: AtomicBool,
    /// Settle/claim transactions made (the bench reads it).
    pub(super) rounds: AtomicU64,
    started: AtomicBool,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What was committed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub workspace: String,
    pub session: String,
    /// RFC 3339.
    pub timestamp: String,
}

/// `GET /v1/callbacks/stats`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    #[serde(flatten)]
    pub counts: Counts,
    pub delivered_since_start: u64,
    pub retried_since_start: u64,
    pub dead_since_start: u64,
    pub disabled_endpoints: Vec<DisabledEndpoint>,
    /// `callbacks.url`, if any.
    pub default_endpoint: Option<String>,
}

/// The callback body. Field order is the documented one.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: &'a str,
    workspace: &'a str,
    session: &'a str,
    data: &'a serde_json::Value,
}

impl Outbox {
    /// Open the database at `db_path`, load secrets, and make earlier claims claimable again.
    /// Nothing is sent until [`Outbox::start`].
    /// `net` decides which addresses deliveries may reach (see [`crate::net`]).
    /// `keys` seal sessions' own callback secrets in the database ([`super::session_secrets`]).
    pub fn open(
        cfg: &CallbacksConfig,
        db_path: &Path,
        net: Arc<crate::net::NetPolicy>,
        keys: Arc<crate::vault::VaultKeys>,
    ) -> Result<Self, OutboxError> {
        let global_url = match cfg.url.trim() {
            "" => None,
            url => Some(endpoint::parse(url)?.to_string()),
        };
        let secrets = cfg.load_secrets()?;
        if secrets.is_empty() {
            tracing::warn!("no callbacks.secrets configured: callbacks are sent unsigned");
        }
        let signer = Signer::with_session_secrets(
            secrets,
            cfg.spatie_signature,
            db_path.to_owned(),
            keys.clone(),
        );
        let conn = crate::db::open(db_path)?;
        super::session_secrets::create(&conn)?;
        let resealed = super::session_secrets::reseal(&conn, &keys)?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                key = keys.seal_key_id(),
                "sessions' callback secrets sealed again under the newest vault key"
            );
        }
        signer.reload_sessions(|_, keys| super::session_secrets::load(&conn, keys))?;
        // A long backlog's b-trees outgrow SQLite's default 2 MiB page cache; every claim and
        // deletion then reads pages back through syscalls. Up to 64 MiB, used only as it fills.
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Pages missing from that cache are read through a memory map instead of a `pread` each.
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        let data_dir = db_path.parent().unwrap_or(Path::new("."));
        let claimant = Claimant::register(data_dir).map_err(|e| {
            OutboxError::Setup(format!("cannot register in {}: {e}", data_dir.display()))
        })?;
        let released = claimant.release_dead(&conn)?;
        if released > 0 {
            tracing::info!(released, "callbacks claimed by a stopped run are queued again");
        }
        let metrics = Metrics::default();
        let counts = store::counts(&conn)?;
        metrics.queued.set(counts.queued);
        metrics.disabled_endpoints.set(store::disabled_endpoints(&conn)?.len() as i64);
        let inner = Inner {
            conn: Mutex::new(conn),
            global_url,
            policy: RetryPolicy {
                schedule: cfg.retry_schedule.clone(),
                jitter: cfg.jitter,
                retry_after_min: cfg.retry_after_min,
                retry_after_max: cfg.retry_after_max,
            },
            workers: cfg.workers.max(1),
            idle_wakeup: cfg.idle_wakeup,
            shutdown_timeout: cfg.shutdown_timeout,
            max_head_block: cfg.max_head_block,
            bounds: QueueBounds {
                events_per_workspace: i64::try_from(cfg.max_queued_per_workspace)
                    .unwrap_or(i64::MAX),
                bytes_per_workspace: i64::try_from(cfg.max_queued_bytes_per_workspace)
                    .unwrap_or(i64::MAX),
                bytes_total: i64::try_from(cfg.max_queued_bytes).unwrap_or(i64::MAX),
            },
            deliverer: Deliverer::new(signer.clone(), cfg.timeout, net)?,
            signer,
            keys,
            metrics,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            claimant,
            delivering: AtomicBool::new(false),
            rounds: AtomicU64::new(0),
            started: AtomicBool::new(false),
            dispatcher: Mutex::new(None),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Re-reads `callbacks.secrets` and `callbacks.secrets_file` (SIGHUP): attempts from now on
    /// are signed with them. On an error the secrets in use stay. Returns how many there are.
    pub fn reload_secrets(&self, cfg: &CallbacksConfig) -> Result<usize, OutboxError> {
        let secrets = cfg.load_secrets()?;
        let count = secrets.len();
        self.inner.signer.replace(secrets);
        Ok(count)
    }

    /// Start delivering on the current tokio runtime. Calling it again does nothing.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let task = tokio::spawn(worker::supervise(self.inner.clone()));
        *self.inner.dispatcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Ask delivery to stop without waiting: no new claims; attempts in flight finish within
    /// `shutdown_timeout`, or are sent again at the next start (same `webhook-id`).
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// [`Outbox::shutdown`], then wait for the dispatcher (bounded by `shutdown_timeout` plus a
    /// margin for the last bookkeeping).
    pub async fn stop(&self) {
        self.shutdown();
        let task = self.inner.dispatcher.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let limit = self.inner.shutdown_timeout + Duration::from_secs(2);
            if tokio::time::timeout(limit, task).await.is_err() {
                tracing::warn!("callback dispatcher did not stop in time");
            }
        }
    }

    /// Commit one event; returns after the commit. A `session.qr` replaces the session's older
    /// undelivered QR events that are not in flight.
    ///
    /// An event that would take its workspace past `callbacks.max_queued_per_workspace` or
    /// `max_queued_bytes_per_workspace`, or the outbox past `max_queued_bytes`, is refused with
    /// [`OutboxError::QueueFull`]: nothing is written, the refusal is counted in
    /// `callbacks_refused_total{bound}` and logged. Session events refused this way are lost to
    /// the host (the event bus logs them); the API answers `503 CALLBACK_QUEUE_FULL`.
    pub fn enqueue(
        &self,
        kind: &str,
        key: &SessionKey,
        data: &serde_json::Value,
        at: SystemTime,
    ) -> Result<Enqueued, OutboxError> {
        self.enqueue_as(None, kind, key, data, at)
    }

    /// [`Outbox::enqueue`] with the event's id chosen by the caller (a message event's
    /// deterministic id), so a repeat is the same `webhook-id`; a repeat still queued is not added.
    pub fn enqueue_as(
        &self,
        id: Option<&str>,
        kind: &str,
        key: &SessionKey,
        data: &serde_json::Value,
        at: SystemTime,
    ) -> Result<Enqueued, OutboxError> {
        let id = match id {
            Some(id) => id.to_owned(),
            None => format!("msg_{}", uuid::Uuid::now_v7().simple()),
        };
        let timestamp = humantime::format_rfc3339_millis(at).to_string();
        let (workspace, session) = (key.workspace.as_str(), key.session.as_str());
        let body = serde_json::to_string(&Body {
            id: &id,
            kind,
            timestamp: &timestamp,
            workspace,
            session,
            data,
        })?;
        let ev = NewEvent { id: &id, kind, workspace, session, body: &body, now: now_ms() };
        let inserted = store::insert(
            &mut *self.inner.durable()?,
            &ev,
            kind == kind::SESSION_QR,
            &self.inner.bounds,
        )?;
        let m = &self.inner.metrics;
        match inserted {
            Inserted::Added { dropped } => {
                m.queued.inc();
                if dropped > 0 {
                    m.queued.dec_by(dropped as i64);
                    m.superseded.inc_by(dropped as u64);
                }
            }
            Inserted::AlreadyQueued => {}
            Inserted::Refused(bound) => {
                return Err(self.inner.refused(bound, workspace, &id, kind))
            }
        }
        self.inner.wake.notify_one();
        Ok(Enqueued {
            id,
            kind: kind.to_owned(),
            workspace: workspace.to_owned(),
            session: session.to_owned(),
            timestamp,
        })
    }

    /// Set (or with `None`, remove) a session's own endpoint, persisted. Call at session create.
    pub fn set_session_endpoint(
        &self,
        key: &SessionKey,
        url: Option<&Url>,
    ) -> Result<(), OutboxError> {
        if let Some(url) = url {
            endpoint::check(url)?;
        }
        let conn = self.inner.durable()?;
        store::set_session_endpoint(
            &conn,
            key.workspace.as_str(),
            key.session.as_str(),
            url.map(Url::as_str),
        )?;
        drop(conn);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Set (or with `None`, remove) a session's own signing secret, persisted. Call at session
    /// create, before its first event.
    pub fn set_session_secret(
        &self,
        key: &SessionKey,
        secret: Option<&Secret>,
    ) -> Result<(), OutboxError> {
        let (workspace, session) = (key.workspace.as_str(), key.session.as_str());
        let keys = self.inner.keys.clone();
        super::session_secrets::set(&*self.inner.durable()?, &keys, workspace, session, secret)?;
        self.inner.signer.set_session(workspace, session, secret.cloned());
        Ok(())
    }

    /// The endpoint this session's events go to: its own, else `callbacks.url`.
    pub fn endpoint_for(&self, key: &SessionKey) -> Result<Option<String>, OutboxError> {
        let own = store::session_endpoint(
            &self.inner.lock(),
            key.workspace.as_str(),
            key.session.as_str(),
        )?;
        Ok(own.or_else(|| self.inner.global_url.clone()))
    }

    /// Re-enable one endpoint (or all with `None`); their queued events go out again.
    pub fn enable_endpoints(&self, url: Option<&str>) -> Result<Vec<String>, OutboxError> {
        let enabled = store::enable(&mut *self.inner.durable()?, url)?;
        self.inner.metrics.disabled_endpoints.dec_by(enabled.len() as i64);
        for url in &enabled {
            tracing::info!(url = %endpoint::redacted(url), "callback endpoint enabled again");
        }
        self.inner.wake.notify_one();
        Ok(enabled)
    }

    pub fn dead_letters(&self, filter: &DeadFilter) -> Result<DeadPage, OutboxError> {
        Ok(dead::page(&self.inner.lock(), filter)?)
    }

    /// Queue a dead letter again, same `id`, at the end of its session's queue.
    pub fn redeliver(&self, id: &str) -> Result<(), OutboxError> {
        match store::redeliver(&mut *self.inner.durable()?, id, now_ms(), &self.inner.bounds)? {
            Redelivered::Queued => {}
            Redelivered::NotFound => {
                return Err(OutboxError::DeadLetterNotFound(id.chars().take(80).collect()))
            }
            Redelivered::Refused(bound) => {
                return Err(OutboxError::QueueFull { bound: bound.key(), workspace: None })
            }
        }
        self.inner.metrics.queued.inc();
        self.inner.wake.notify_one();
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats, OutboxError> {
        let conn = self.inner.lock();
        let m = &self.inner.metrics;
        Ok(Stats {
            counts: store::counts(&conn)?,
            delivered_since_start: m.delivered.get(),
            retried_since_start: m.retried.get(),
            dead_since_start: m.dead.get(),
            disabled_endpoints: store::disabled_endpoints(&conn)?,
            default_endpoint: self.inner.global_url.clone(),
        })
    }

    /// Add the `callbacks_…` metrics to the process registry.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }
}

impl Inner {
    /// Count and log an event refused at a queue bound; the error its producer gets.
    fn refused(&self, bound: store::Bound, workspace: &str, id: &str, kind: &str) -> OutboxError {
        self.metrics.refused.get_or_create(&BoundLabel { bound: bound.label() }).inc();
        tracing::warn!(%workspace, %id, %kind, bound = bound.key(), "callback refused: queue bound reached");
        OutboxError::QueueFull { bound: bound.key(), workspace: Some(workspace.to_owned()) }
    }

    /// The connection. A panic while it was held leaves no open transaction (rusqlite rolls back
    /// on drop), so a poisoned lock is still safe to use.
    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection, with commits fsynced before they return (see [`Inner::db`] for the
    /// exception). Set on every use so a failed reset elsewhere can never weaken a promise.
    pub(super) fn durable(&self) -> Result<MutexGuard<'_, Connection>, OutboxError> {
        let conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    }

    /// Run delivery bookkeeping off the async threads, committed without waiting for fsync.
    ///
    /// Only [`Outbox::enqueue`] and the API's changes need a commit that survives a power cut.
    /// Everything the dispatcher writes (claims, retries, deletions after a 2xx, moves to dead
    /// letters) is safe to lose: the event is simply sent again with the same `webhook-id`. WAL
    /// with `synchronous=NORMAL` still survives a process crash and never corrupts; the next
    /// fsynced commit makes these durable too.
    pub(super) async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.clone();
        let run = move || {
            let mut conn = inner.lock();
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let result = f(&mut conn);
            conn.pragma_update(None, "synchronous", "FULL")?;
            result
        };
        Ok(tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| OutboxError::Task(e.to_string()))??)
    }
}

impl EventSink for Outbox {
    fn accept(&self, event: &Event) -> anyhow::Result<()> {
        self.enqueue_as(event.id.as_deref(), event.kind, &event.key, &event.data, event.at)?;
        Ok(())
    }
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
