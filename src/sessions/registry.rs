//! The registry: session keys to handles, and nothing else. Creating, restoring and deleting
//! sessions goes through here; everything about one session goes to its actor.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use tracing::Instrument as _;

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::time::timeout;

use crate::callbacks::sign::Secret;

use super::actor::{Actor, ActorParts, Command, PageObserver, Reply};
use super::error::SessionError;
use super::lock::LockError;
use super::ownership::{Lease, LocalOwnership, Ownership};
use super::profile::{ProfileStore, ProfileWatch};
use super::record::{self, Desired, Halted, SessionRecord};
use super::snapshot::{unix_ms, Snapshot};
use super::SessionsConfig;
use crate::engine::wpp::WppCall;
use crate::engine::Engine;
use crate::events::EventBus;
use crate::ids::{PhoneNumber, SessionId, SessionKey, WorkspaceId};

/// Builds the engine for one session (Chromium in production and tests).
pub type EngineFactory = Arc<dyn Fn(&SessionKey) -> Box<dyn Engine> + Send + Sync>;

/// Told of each new session before it publishes anything, so what is set up per session (the
/// callbacks endpoint) is in place for its first event. An error undoes the create.
pub trait SessionObserver: Send + Sync {
    fn created(&self, key: &SessionKey, callback_url: Option<&str>) -> anyhow::Result<()>;

    /// The session's own callback signing secret, told once at create (`None`: the global one).
    fn callback_secret(&self, _key: &SessionKey, _secret: Option<&Secret>) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
pub struct SessionHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Snapshot>,
    /// Set before `Delete` is sent: a call that finds the actor gone then answers "not found".
    deleting: Arc<AtomicBool>,
}

/// Panics of one session's actor restarted before it is left `failed` (until a host starts it).
const MAX_ACTOR_RESTARTS: u32 = 3;

/// What the host may set when it creates a session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub start: bool,
    pub callback_url: Option<String>,
    /// Signs this session's callbacks instead of `callbacks.secrets` (its `Debug` is redacted).
    pub callback_secret: Option<Secret>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: DashMap<SessionKey, SessionHandle>,
    config: Arc<SessionsConfig>,
    sessions_root: PathBuf,
    engines: EngineFactory,
    profiles: Arc<dyn ProfileStore>,
    watch: Option<ProfileWatch>,
    observer: Option<Arc<dyn SessionObserver>>,
    /// The messages part, set once after both are built (it needs the manager to reach actors).
    page: std::sync::OnceLock<Arc<dyn PageObserver>>,
    /// Who runs which session (today: each session's flock).
    ownership: Arc<dyn Ownership>,
    bus: EventBus,
    /// Serialises create/delete so the limit and "exists" checks cannot race.
    membership: Mutex<()>,
    /// Set by [`SessionManager::shutdown`]: a call to a closed actor is then `SHUTTING_DOWN`.
    stopping: AtomicBool,
    /// The runtime the registry was built on. Actors run there, not on the HTTP worker that
    /// happened to handle `create`: a worker's runtime ends with the HTTP server, and the
    /// actors must outlive it to close their browsers and store their logins.
    runtime: tokio::runtime::Handle,
}

impl SessionManager {
    /// Must be called inside the Tokio runtime the sessions should live on.
    pub fn new(
        config: SessionsConfig,
        sessions_root: PathBuf,
        engines: EngineFactory,
        profiles: Arc<dyn ProfileStore>,
        watch: Option<ProfileWatch>,
        observer: Option<Arc<dyn SessionObserver>>,
        bus: EventBus,
    ) -> Self {
        let inner = Inner {
            sessions: DashMap::new(),
            config: Arc::new(config),
            ownership: Arc::new(LocalOwnership::new(sessions_root.clone())),
            sessions_root,
            engines,
            profiles,
            watch,
            observer,
            page: std::sync::OnceLock::new(),
            bus,
            membership: Mutex::new(()),
            stopping: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    pub fn count(&self) -> usize {
        self.inner.sessions.len()
    }

    pub fn count_in(&self, workspace: &WorkspaceId) -> usize {
        self.inner.sessions.iter().filter(|e| &e.key().workspace == workspace).count()
    }

    /// Whether the session is not here but another process owns it now (it moved there in a
    /// blue-green handover): what this process kept running for it should stop.
    pub fn owned_elsewhere(&self, key: &SessionKey) -> bool {
        !self.inner.sessions.contains_key(key) && self.inner.ownership.is_held(key)
    }

    pub fn get(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        Ok(self.handle(key)?.snapshot.borrow().clone())
    }

    pub fn list(&self, workspace: &WorkspaceId) -> Vec<Snapshot> {
        let mut all: Vec<Snapshot> = self
            .inner
            .sessions
            .iter()
            .filter(|e| &e.key().workspace == workspace)
            .map(|e| e.value().snapshot.borrow().clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Every session, all workspaces, by workspace then id.
    pub fn list_all(&self) -> Vec<Snapshot> {
        let mut all: Vec<Snapshot> =
            self.inner.sessions.iter().map(|e| e.value().snapshot.borrow().clone()).collect();
        all.sort_by(|a, b| {
            (a.workspace.as_str(), a.id.as_str()).cmp(&(b.workspace.as_str(), b.id.as_str()))
        });
        all
    }

    /// Create a session: validated first, then its folder, lock and record, then its actor.
    /// Any failure removes what was made, so nothing is half-created.
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        new: NewSession,
    ) -> Result<Snapshot, SessionError> {
        let key = SessionKey::new(workspace, new.id.clone());
        {
            let _guard = self.inner.membership.lock().await;
            if self.inner.sessions.contains_key(&key) {
                return Err(SessionError::Exists);
            }
            if self.inner.sessions.len() >= self.inner.config.max_sessions {
                return Err(SessionError::LimitReached(self.inner.config.max_sessions));
            }
            let per_workspace = self.inner.config.max_per_workspace;
            if per_workspace > 0 && self.count_in(&key.workspace) >= per_workspace {
                return Err(SessionError::WorkspaceLimitReached(per_workspace));
            }
            let dir = record::session_dir(&self.inner.sessions_root, &key);
            if dir.join("session.toml").exists() {
                // Files of a session this process does not run: another sidecar owns them.
                return Err(SessionError::Exists);
            }
            let made = self.make_session(&key, &new);
            if made.is_err() {
                let _ = std::fs::remove_dir_all(&dir);
                if let Some(ws_dir) = dir.parent() {
                    let _ = std::fs::remove_dir(ws_dir);
                }
            }
            let (record, lock) = made?;
            self.spawn(record, lock);
        }
        if new.start {
            self.call(&key, Command::Start).await?;
        }
        self.get(&key)
    }

    fn make_session(
        &self,
        key: &SessionKey,
        new: &NewSession,
    ) -> Result<(SessionRecord, Lease), SessionError> {
        let dir = record::session_dir(&self.inner.sessions_root, key);
        std::fs::create_dir_all(&dir)?;
        let lock = self.inner.ownership.claim(key)?;
        let record = SessionRecord {
            workspace: key.workspace.clone(),
            id: key.session.clone(),
            desired: Desired::Stopped,
            callback_url: new.callback_url.clone(),
            metadata: new.metadata.clone(),
            created_at_ms: unix_ms(SystemTime::now()),
            halted: None,
            phone: None,
        };
        record::save(&self.inner.sessions_root, &record)?;
        if let Some(observer) = &self.inner.observer {
            observer
                .created(key, new.callback_url.as_deref())
                .and_then(|()| observer.callback_secret(key, new.callback_secret.as_ref()))
                .map_err(|e| SessionError::Setup(e.to_string()))?;
        }
        Ok((record, lock))
    }

    /// Start a session's actor under [`SessionManager::supervise`], inside a `session` span.
    fn spawn(&self, record: SessionRecord, lock: Lease) {
        let key = record.key();
        let deleting = Arc::new(AtomicBool::new(false));
        let (actor, rx) = self.install(record, lock, &deleting);
        let span = tracing::info_span!("session", session = %key);
        let supervised = self.clone().supervise(key, actor, rx, deleting);
        self.inner.runtime.spawn(supervised.instrument(span));
    }

    /// Build the actor and put its handle in the map (replacing a dead one's).
    fn install(
        &self,
        record: SessionRecord,
        lock: Lease,
        deleting: &Arc<AtomicBool>,
    ) -> (Actor, mpsc::Receiver<Command>) {
        let key = record.key();
        let parts = ActorParts {
            record,
            lock,
            engine: (self.inner.engines)(&key),
            profiles: self.inner.profiles.clone(),
            watch: self.inner.watch.clone(),
            bus: self.inner.bus.clone(),
            config: self.inner.config.clone(),
            sessions_root: self.inner.sessions_root.clone(),
            page: self.inner.page.get().cloned(),
        };
        let (actor, snapshot) = Actor::new(parts);
        let (commands, rx) = mpsc::channel(16);
        let handle = SessionHandle { commands, snapshot, deleting: deleting.clone() };
        self.inner.sessions.insert(key, handle);
        (actor, rx)
    }

    /// The panic boundary of one actor. A panic drops the actor (its lock, its browser through
    /// the engine's drop net); the session is then rebuilt from its record on disk and, if it
    /// was meant to run, started again. Past [`MAX_ACTOR_RESTARTS`] it stays `failed` with the
    /// panic as its reason, until a host starts it.
    async fn supervise(
        self,
        key: SessionKey,
        mut actor: Actor,
        mut rx: mpsc::Receiver<Command>,
        deleting: Arc<AtomicBool>,
    ) {
        let mut panics = 0;
        loop {
            let Err(panic) = AssertUnwindSafe(actor.run(rx)).catch_unwind().await else { return };
            panics += 1;
            let reason = panic_text(panic.as_ref());
            tracing::error!(%reason, panics, "session actor panicked");
            if self.inner.stopping.load(Ordering::SeqCst) || deleting.load(Ordering::SeqCst) {
                return;
            }
            match self.revive(&key, panics, &reason, &deleting) {
                Ok((a, r)) => (actor, rx) = (a, r),
                Err(e) => {
                    tracing::error!(error = %e, "cannot rebuild the session after its actor panicked");
                    return;
                }
            }
        }
    }

    fn revive(
        &self,
        key: &SessionKey,
        panics: u32,
        reason: &str,
        deleting: &Arc<AtomicBool>,
    ) -> Result<(Actor, mpsc::Receiver<Command>), SessionError> {
        let dir = record::session_dir(&self.inner.sessions_root, key);
        let mut record = record::load(&dir.join("session.toml"))?;
        let lock = self.inner.ownership.claim(key)?;
        let restart = panics <= MAX_ACTOR_RESTARTS && record.desired == Desired::Running;
        if panics > MAX_ACTOR_RESTARTS {
            record.desired = Desired::Stopped;
            record.halted = Some(Halted {
                state: "failed".into(),
                reason: Some(format!("actor_panicked: {reason}")),
            });
            record::save(&self.inner.sessions_root, &record)?;
        }
        let (actor, rx) = self.install(record, lock, deleting);
        if restart {
            let (tx, _) = oneshot::channel();
            let handle = self.handle(key)?;
            // A fresh channel of 16 has room; the reply is not awaited.
            let _ = handle.commands.try_send(Command::Start(tx));
            tracing::warn!(panics, "session actor restarted after a panic");
        }
        Ok((actor, rx))
    }

    /// Take over every session found on disk; start those that were running.
    /// Returns the keys started. A session locked by another process is skipped and logged.
    pub async fn restore(&self) -> Vec<SessionKey> {
        let mut to_start = Vec::new();
        for loaded in record::load_all(&self.inner.sessions_root) {
            let record = match loaded {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "skipping an unreadable session record");
                    continue;
                }
            };
            let key = record.key();
            let lock = match self.inner.ownership.claim(&key) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(session = %key, error = %e, "not restoring a session");
                    continue;
                }
            };
            let running = record.desired == Desired::Running;
            self.spawn(record, lock);
            if running && self.inner.config.restore_on_boot {
                to_start.push(key);
            }
        }
        tracing::info!(
            found = self.count(),
            starting = to_start.len(),
            "sessions restored from disk"
        );
        // Start one after another in the background: launching many browsers at once on a small
        // machine makes every one of them slow.
        let manager = self.clone();
        let keys = to_start.clone();
        self.inner.runtime.spawn(async move {
            for key in keys {
                if let Err(e) = manager.call(&key, Command::Start).await {
                    tracing::error!(session = %key, error = %e, "restoring session failed to start");
                }
            }
        });
        to_start
    }

    pub async fn start(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        self.act(key, Command::Start).await
    }

    pub async fn stop(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        self.act(key, Command::Stop).await
    }

    pub async fn restart(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        self.act(key, Command::Restart).await
    }

    pub async fn logout(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        self.act(key, Command::Logout).await
    }

    /// A command that changes the session, answered with the session as it is afterwards.
    async fn act(
        &self,
        key: &SessionKey,
        make: fn(Reply<()>) -> Command,
    ) -> Result<Snapshot, SessionError> {
        self.call(key, make).await?;
        self.get(key)
    }

    pub async fn pairing_code(
        &self,
        key: &SessionKey,
        phone: PhoneNumber,
    ) -> Result<String, SessionError> {
        self.call(key, |r| Command::PairingCode(phone, r)).await
    }

    /// Sets who hears the sessions' page events and connects. Call before sessions are created
    /// or restored; a second call is ignored.
    pub fn set_page_observer(&self, observer: Arc<dyn PageObserver>) {
        if self.inner.page.set(observer).is_err() {
            tracing::warn!("page observer already set; keeping the first");
        }
    }

    /// One bridge call on the session's page, through its actor (refused unless the bridge is up).
    pub async fn bridge_call(
        &self,
        key: &SessionKey,
        call: WppCall,
    ) -> Result<serde_json::Value, SessionError> {
        self.call(key, |r| Command::Call(call, r)).await
    }

    pub async fn screenshot(&self, key: &SessionKey) -> Result<Vec<u8>, SessionError> {
        self.call(key, Command::Screenshot).await
    }

    /// Stop, unlink and remove a session. Deleting an unknown session is not an error.
    pub async fn delete(&self, key: &SessionKey) -> Result<(), SessionError> {
        let _guard = self.inner.membership.lock().await;
        if !self.inner.sessions.contains_key(key) {
            return Ok(());
        }
        if let Ok(handle) = self.handle(key) {
            handle.deleting.store(true, Ordering::SeqCst);
        }
        let result = self.call(key, Command::Delete).await;
        if !matches!(result, Err(SessionError::Timeout(_))) {
            self.inner.sessions.remove(key);
        }
        result
    }

    /// Hands a session over (blue-green): closes its browser, seals its login from the quiescent
    /// profile, and releases its ownership, keeping its desired state on disk; the session then
    /// leaves this process. Another process takes it with [`SessionManager::adopt`].
    pub async fn release(&self, key: &SessionKey) -> Result<(), SessionError> {
        let _guard = self.inner.membership.lock().await;
        let handle = self.handle(key)?;
        let (tx, rx) = oneshot::channel();
        if handle.commands.send(Command::Shutdown(tx)).await.is_err() {
            return Err(self.closed(&handle));
        }
        let wait = Duration::from_millis(self.inner.config.shutdown_timeout_ms);
        match timeout(wait, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => {}
            Err(_) => return Err(SessionError::Timeout(self.inner.config.shutdown_timeout_ms)),
        }
        self.inner.sessions.remove(key);
        // The actor drops its lease when its task ends, just after it answered: wait for that,
        // so the caller may tell the next owner at once.
        let deadline = tokio::time::Instant::now() + wait;
        while self.inner.ownership.is_held(key) {
            if tokio::time::Instant::now() >= deadline {
                return Err(SessionError::Timeout(self.inner.config.shutdown_timeout_ms));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(session = %key, "session released to another owner");
        Ok(())
    }

    /// Takes over a session another process released (or that is on disk and free): claims it,
    /// and starts it if it was running, as a boot does. Waits up to `sessions.command_timeout_ms`
    /// for the previous owner to let go.
    pub async fn adopt(&self, key: &SessionKey) -> Result<Snapshot, SessionError> {
        {
            let _guard = self.inner.membership.lock().await;
            if self.inner.sessions.contains_key(key) {
                return self.get(key);
            }
            let dir = record::session_dir(&self.inner.sessions_root, key);
            let record = match record::load(&dir.join("session.toml")) {
                Ok(r) => r,
                Err(_) if !dir.join("session.toml").exists() => return Err(SessionError::NotFound),
                Err(e) => return Err(e.into()),
            };
            let wait = Duration::from_millis(self.inner.config.command_timeout_ms);
            let deadline = tokio::time::Instant::now() + wait;
            let lease = loop {
                match self.inner.ownership.claim(key) {
                    Ok(lease) => break lease,
                    Err(LockError::Held(_)) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some(observer) = &self.inner.observer {
                // Its callbacks endpoint, in case this process keeps its outbox elsewhere.
                observer
                    .created(key, record.callback_url.as_deref())
                    .map_err(|e| SessionError::Setup(e.to_string()))?;
            }
            let running = record.desired == Desired::Running;
            tracing::info!(session = %key, generation = lease.generation(), running, "session adopted");
            self.spawn(record, lease);
            if !running {
                return self.get(key);
            }
        }
        self.act(key, Command::Start).await
    }

    /// Close every browser, persisting logins, within `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let keys: Vec<SessionKey> = self.inner.sessions.iter().map(|e| e.key().clone()).collect();
        let closing = keys.iter().map(|key| async move {
            let (tx, rx) = oneshot::channel();
            if let Ok(handle) = self.handle(key) {
                if handle.commands.send(Command::Shutdown(tx)).await.is_ok() {
                    let _ = rx.await;
                }
            }
        });
        if timeout(deadline, futures::future::join_all(closing)).await.is_err() {
            tracing::error!("sessions did not all close within {:?}", deadline);
        }
        self.inner.sessions.clear();
    }

    /// A watch on a session's snapshot, for tests and streaming.
    pub fn watch(&self, key: &SessionKey) -> Result<watch::Receiver<Snapshot>, SessionError> {
        Ok(self.handle(key)?.snapshot)
    }

    fn handle(&self, key: &SessionKey) -> Result<SessionHandle, SessionError> {
        self.inner.sessions.get(key).map(|h| h.value().clone()).ok_or(SessionError::NotFound)
    }

    async fn call<T>(
        &self,
        key: &SessionKey,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, SessionError> {
        let handle = self.handle(key)?;
        let (tx, rx) = oneshot::channel();
        let wait = Duration::from_millis(self.inner.config.command_timeout_ms);
        if handle.commands.send(make(tx)).await.is_err() {
            return Err(self.closed(&handle));
        }
        match answer(&handle.commands, rx, wait).await {
            Answer::Reply(result) => result,
            Answer::Closed => Err(self.closed(&handle)),
            Answer::TimedOut => Err(SessionError::Timeout(self.inner.config.command_timeout_ms)),
        }
    }

    /// Why an actor took no command or dropped its reply: the process is shutting down, the
    /// session was deleted meanwhile (so it is not found, as a moment later), or the actor panicked.
    fn closed(&self, handle: &SessionHandle) -> SessionError {
        if self.inner.stopping.load(Ordering::SeqCst) {
            SessionError::Gone
        } else if handle.deleting.load(Ordering::SeqCst) {
            SessionError::NotFound
        } else {
            SessionError::Crashed
        }
    }
}

enum Answer<T> {
    Reply(Result<T, SessionError>),
    /// The actor ended without answering.
    Closed,
    TimedOut,
}

/// The actor's answer to one command, or that it ended without one. Waiting on the reply alone is
/// not enough: a caller that took a channel permit just before the actor ended (a stop racing a
/// DELETE) pushes its command after the receiver was dropped and drained, and tokio keeps that
/// command, with its reply sender, in the closed channel until the last sender is gone, which the
/// caller itself holds. So the channel closing counts as "ended" too.
async fn answer<T>(
    commands: &mpsc::Sender<Command>,
    reply: oneshot::Receiver<Result<T, SessionError>>,
    wait: Duration,
) -> Answer<T> {
    let settled = async {
        tokio::select! {
            biased;
            got = reply => got.ok(),
            () = commands.closed() => None,
        }
    };
    match timeout(wait, settled).await {
        Ok(Some(result)) => Answer::Reply(result),
        Ok(None) => Answer::Closed,
        Err(_) => Answer::TimedOut,
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use futures::future::BoxFuture;

    use super::*;
    use crate::engine::{EngineError, EngineEvent, StartSpec};
    use crate::sessions::plain_profile::PlainProfileStore;
    use crate::sessions::State;

    /// An engine whose `start` panics while `panics` is above zero, then succeeds.
    struct PanickyEngine {
        panics: Arc<AtomicU32>,
    }

    impl Engine for PanickyEngine {
        fn start(
            &mut self,
            _: StartSpec,
            _: mpsc::Sender<EngineEvent>,
        ) -> BoxFuture<'_, Result<(), EngineError>> {
            let left =
                self.panics.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            Box::pin(async move {
                if left.is_ok() {
                    panic!("engine exploded");
                }
                Ok(())
            })
        }
        fn stop(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
            Box::pin(async { Ok(()) })
        }
        fn logout(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
            Box::pin(async { Ok(()) })
        }
        fn refresh_qr(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
            Box::pin(async { Ok(()) })
        }
        fn pairing_code(&mut self, _: &PhoneNumber) -> BoxFuture<'_, Result<String, EngineError>> {
            Box::pin(async { Err(EngineError::NotRunning) })
        }
        fn call(
            &mut self,
            _: &'static str,
            _: String,
        ) -> BoxFuture<'_, Result<serde_json::Value, EngineError>> {
            Box::pin(async { Err(EngineError::NotRunning) })
        }
        fn screenshot(&mut self) -> BoxFuture<'_, Result<Vec<u8>, EngineError>> {
            Box::pin(async { Err(EngineError::NotRunning) })
        }
        fn pgid(&self) -> Option<i32> {
            None
        }
    }

    fn manager(root: &std::path::Path, panics: u32) -> SessionManager {
        let panics = Arc::new(AtomicU32::new(panics));
        let engines: EngineFactory = Arc::new(move |_| {
            Box::new(PanickyEngine { panics: panics.clone() }) as Box<dyn Engine>
        });
        SessionManager::new(
            SessionsConfig::default(),
            root.to_owned(),
            engines,
            Arc::new(PlainProfileStore::new(root.to_owned())),
            None,
            None,
            EventBus::new(Vec::new()),
        )
    }

    /// The cause of the rare `504 SESSION_TIMEOUT` of a stop racing its session's DELETE
    /// (`errors::a_call_that_races_its_sessions_delete_is_not_found_never_shutting_down`): the
    /// command lands in the channel after the actor ended, and its reply is neither sent nor
    /// dropped. The caller hears "ended" at once instead of waiting out its timeout.
    #[tokio::test]
    async fn a_command_stranded_in_a_closed_channel_is_answered_at_once() {
        let (commands, actor_end) = mpsc::channel::<Command>(4);
        let permit = commands.reserve().await.unwrap();
        drop(actor_end);
        let (reply, mut rx) = oneshot::channel();
        permit.send(Command::Stop(reply));
        assert!(
            timeout(Duration::from_millis(200), &mut rx).await.is_err(),
            "the reply sender is kept alive in the closed channel"
        );
        let started = std::time::Instant::now();
        let got = answer(&commands, rx, Duration::from_secs(30)).await;
        assert!(matches!(got, Answer::<()>::Closed));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    async fn started(m: &SessionManager) -> (SessionKey, Result<Snapshot, SessionError>) {
        let ws = WorkspaceId::parse("w").unwrap();
        let new = NewSession {
            id: SessionId::parse("s").unwrap(),
            start: true,
            callback_url: None,
            callback_secret: None,
            metadata: BTreeMap::new(),
        };
        let key = SessionKey::new(ws.clone(), new.id.clone());
        (key, m.create(ws, new).await)
    }

    async fn until(
        m: &SessionManager,
        key: &SessionKey,
        want: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let wait = async {
            loop {
                if let Ok(s) = m.get(key) {
                    if want(&s) {
                        return s;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        timeout(Duration::from_secs(10), wait).await.expect("the session settles")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_actor_is_rebuilt_and_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), 1);
        let (key, created) = started(&m).await;
        assert!(matches!(created, Err(SessionError::Crashed)), "{created:?}");
        let s = until(&m, &key, |s| s.state == State::Starting).await;
        assert_eq!(s.reason, None);
        // The rebuilt actor answers calls (the snapshot above may still be the panicked actor's
        // last one for a moment, whose channel is closed: `Crashed` until the rebuild is in).
        let stopped = async {
            loop {
                match m.stop(&key).await {
                    Err(SessionError::Crashed) => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    other => return other,
                }
            }
        };
        timeout(Duration::from_secs(10), stopped)
            .await
            .expect("the rebuilt actor answers")
            .unwrap();
        assert_eq!(m.get(&key).unwrap().state, State::Stopped);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_actor_that_keeps_panicking_is_left_failed_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), u32::MAX);
        let (key, _) = started(&m).await;
        let s = until(&m, &key, |s| s.state == State::Failed).await;
        let reason = s.reason.unwrap_or_default();
        assert!(reason.starts_with("actor_panicked: engine exploded"), "{reason}");
        // Still a session a host can see and delete.
        m.delete(&key).await.unwrap();
        assert!(matches!(m.get(&key), Err(SessionError::NotFound)));
    }
}
