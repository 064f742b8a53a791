//! One task per session. It alone owns the session's engine, state, QR and record; everything
//! else sends it [`Command`]s and reads the [`Snapshot`] it publishes. Engine facts arrive on the
//! current run's channel and go through [`state::step`]; crashes restart with backoff.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, timeout, Instant};

use super::error::SessionError;
use super::ownership::Lease;
use super::profile::{ProfileError, ProfileStore, ProfileWatch};
use super::record::{self, Desired, Halted, SessionRecord};
use super::snapshot::{rfc3339, QrView, Snapshot};
use super::state::{self, reason, State, Step};
use super::SessionsConfig;
use crate::engine::wpp::WppCall;
use crate::engine::{Engine, EngineEvent, StartSpec};
use crate::events::{kind, Event, EventBus};
use crate::ids::{PhoneNumber, SessionKey};

pub type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

pub enum Command {
    Start(Reply<()>),
    Stop(Reply<()>),
    Restart(Reply<()>),
    Logout(Reply<()>),
    PairingCode(PhoneNumber, Reply<String>),
    Screenshot(Reply<Vec<u8>>),
    /// One bridge call (built by `crate::engine::wpp`), run only while the bridge is ready.
    Call(WppCall, Reply<serde_json::Value>),
    /// The sidecar is stopping: close the browser, keep what the host asked for.
    Shutdown(Reply<()>),
    /// Stop, unlink, remove every file of the session. The actor ends.
    Delete(Reply<()>),
}

/// Everything an actor is built from; the registry assembles it.
pub struct ActorParts {
    pub record: SessionRecord,
    /// Held for the actor's whole life, never read: dropping it releases the session.
    #[allow(dead_code)]
    pub lock: Lease,
    pub engine: Box<dyn Engine>,
    pub profiles: Arc<dyn ProfileStore>,
    pub watch: Option<ProfileWatch>,
    pub bus: EventBus,
    pub config: Arc<SessionsConfig>,
    pub sessions_root: PathBuf,
    /// Told of page events and connects (the messages part); `None` in tests without messaging.
    pub page: Option<Arc<dyn PageObserver>>,
}

/// What the messages part hears from a session. Called on the actor's task: implementations must
/// return at once (hand the work to their own task), never block or call back into the actor.
pub trait PageObserver: Send + Sync {
    /// A `WPP` event other than the connection's (`chat.new_message`, `chat.msg_ack_change`, …).
    fn page_event(&self, key: &SessionKey, name: &str, payload: serde_json::Value);
    /// The session reached `connected` (first login, restore, or back online): time to catch up.
    fn connected(&self, key: &SessionKey);
    /// WhatsApp put the account in a blocking stream mode (`TOS_BLOCK`, `PROXYBLOCK`, …); the
    /// session halts right after.
    fn blocked(&self, key: &SessionKey, state: &str);
}

pub struct Actor {
    key: SessionKey,
    parts: ActorParts,
    snap: watch::Sender<Snapshot>,
    events: Option<mpsc::Receiver<EngineEvent>>,
    seen_ready: bool,
    retry_at: Option<Instant>,
    last_pairing_code: Option<String>,
    /// Keeps the stored login fresh while the browser of the current run lives.
    watcher: Option<Box<dyn Send>>,
}

#[derive(Clone, Copy)]
enum Profile {
    Open,
    Close,
    Destroy,
}

enum Flow {
    Continue,
    End,
}

impl Actor {
    pub fn new(parts: ActorParts) -> (Self, watch::Receiver<Snapshot>) {
        let record = &parts.record;
        let (state, reason) = match &record.halted {
            Some(h) => (halted_state(&h.state), h.reason.clone()),
            None => (State::Stopped, None),
        };
        let now = rfc3339(SystemTime::now());
        let snapshot = Snapshot {
            id: record.id.clone(),
            workspace: record.workspace.clone(),
            state,
            reason,
            phone: record.phone.clone(),
            qr: None,
            recoveries: 0,
            created_at: rfc3339(super::snapshot::from_unix_ms(record.created_at_ms)),
            state_since: now,
            // Shown like in logs: a webhook URL's query string often carries a token.
            callback_url: record.callback_url.as_deref().map(crate::callbacks::endpoint::redacted),
            metadata: record.metadata.clone(),
            qr_code: None,
        };
        let (snap, rx) = watch::channel(snapshot);
        let actor = Self {
            key: record.key(),
            parts,
            snap,
            events: None,
            seen_ready: false,
            retry_at: None,
            last_pairing_code: None,
            watcher: None,
        };
        (actor, rx)
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let flow = tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    None => { self.close_browser().await; Flow::End }
                },
                ev = next_event(&mut self.events) => { self.on_event(ev).await; Flow::Continue }
                _ = wait_until(self.retry_at) => { self.retry_at = None; self.launch().await; Flow::Continue }
            };
            if let Flow::End = flow {
                break;
            }
        }
        tracing::debug!(session = %self.key, "session actor ended");
    }

    fn state(&self) -> State {
        self.snap.borrow().state
    }

    async fn on_command(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Start(r) => {
                let _ = r.send(self.start().await);
            }
            Command::Stop(r) => {
                let _ = r.send(self.stop().await);
            }
            Command::Restart(r) => {
                let res = match self.stop().await {
                    Ok(()) => self.start().await,
                    Err(e) => Err(e),
                };
                let _ = r.send(res);
            }
            Command::Logout(r) => {
                let _ = r.send(self.logout().await);
            }
            Command::PairingCode(phone, r) => {
                let _ = r.send(self.pairing_code(&phone).await);
            }
            Command::Screenshot(r) => {
                let res = match self.state() {
                    s if s.is_running() && self.events.is_some() => {
                        self.parts.engine.screenshot().await.map_err(Into::into)
                    }
                    s => Err(SessionError::NotRunning(s.as_str())),
                };
                let _ = r.send(res);
            }
            Command::Call(call, r) => {
                let _ = r.send(self.bridge_call(call).await);
            }
            Command::Shutdown(r) => {
                self.close_browser().await;
                let _ = r.send(Ok(()));
                return Flow::End;
            }
            Command::Delete(r) => {
                let _ = r.send(self.delete().await);
                return Flow::End;
            }
        }
        Flow::Continue
    }

    async fn start(&mut self) -> Result<(), SessionError> {
        if self.state().is_running() {
            return Ok(());
        }
        self.parts.record.desired = Desired::Running;
        self.parts.record.halted = None;
        record::save(&self.parts.sessions_root, &self.parts.record)?;
        self.snap.send_modify(|s| s.recoveries = 0);
        self.launch().await;
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), SessionError> {
        self.retry_at = None;
        self.close_browser().await;
        self.parts.record.desired = Desired::Stopped;
        self.parts.record.halted = None;
        record::save(&self.parts.sessions_root, &self.parts.record)?;
        self.set_state(State::Stopped, None);
        Ok(())
    }

    async fn logout(&mut self) -> Result<(), SessionError> {
        self.retry_at = None;
        if self.events.is_some() && self.seen_ready {
            let wait = Duration::from_millis(self.parts.config.command_timeout_ms);
            match timeout(wait, self.parts.engine.logout()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(session = %self.key, error = %e, "logout on the phone failed; wiping the login anyway")
                }
                Err(_) => {
                    tracing::warn!(session = %self.key, "logout on the phone timed out; wiping the login anyway")
                }
            }
        }
        self.events = None;
        self.stop_engine().await;
        self.profile(Profile::Destroy).await?;
        self.halt_record(State::LoggedOut, Some("user_initiated".into()))?;
        self.set_state(State::LoggedOut, Some("user_initiated".into()));
        Ok(())
    }

    async fn pairing_code(&mut self, phone: &PhoneNumber) -> Result<String, SessionError> {
        let state = self.state();
        if !state.awaits_login() || self.events.is_none() {
            return Err(SessionError::NotAwaitingLogin(state.as_str()));
        }
        let code = self.parts.engine.pairing_code(phone).await?;
        self.show_pairing_code(code.clone(), Some(phone.digits().to_owned()));
        Ok(code)
    }

    async fn bridge_call(&mut self, call: WppCall) -> Result<serde_json::Value, SessionError> {
        let state = self.state();
        if self.events.is_none() || !self.seen_ready {
            return Err(SessionError::NotRunning(state.as_str()));
        }
        let wait = Duration::from_millis(self.parts.config.command_timeout_ms);
        match timeout(wait, self.parts.engine.call(call.name, call.expr)).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(SessionError::Timeout(self.parts.config.command_timeout_ms)),
        }
    }

    async fn delete(&mut self) -> Result<(), SessionError> {
        if self.state() == State::Connected {
            // Unlink on the phone too, so the device does not linger in "Linked devices".
            self.logout().await?;
        }
        self.retry_at = None;
        self.stop_engine().await;
        self.profile(Profile::Destroy).await?;
        let dir = record::session_dir(&self.parts.sessions_root, &self.key);
        std::fs::remove_dir_all(&dir).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        // Removing the workspace folder once empty keeps the tree tidy; failure means not empty.
        if let Some(ws_dir) = dir.parent() {
            let _ = std::fs::remove_dir(ws_dir);
        }
        self.set_state(State::Stopped, Some("deleted".into()));
        Ok(())
    }

    /// Start one run of the browser. Failures become recoveries (with backoff) or `failed`.
    async fn launch(&mut self) {
        self.seen_ready = false;
        self.last_pairing_code = None;
        self.snap.send_modify(|s| {
            s.qr = None;
            s.qr_code = None;
        });
        self.set_state(State::Starting, None);
        let profile_dir = match self.profile(Profile::Open).await {
            Ok(dir) => dir,
            Err(e) => {
                tracing::error!(session = %self.key, error = %e, "cannot open the stored login");
                self.halt(
                    State::Failed,
                    Some(format!("{}: {e}", reason::PROFILE_UNREADABLE)),
                    false,
                )
                .await;
                return;
            }
        };
        let (tx, rx) = mpsc::channel(64);
        let spec = StartSpec { key: self.key.clone(), profile_dir: profile_dir.clone() };
        match self.parts.engine.start(spec, tx).await {
            Ok(()) => {
                self.events = Some(rx);
                self.watcher = self.parts.watch.as_ref().and_then(|w| w(&self.key, &profile_dir));
            }
            Err(e) => {
                tracing::warn!(session = %self.key, error = %e, "browser launch failed");
                self.recover(format!("{}: {e}", reason::LAUNCH_FAILED), reason::LAUNCH_FAILED)
                    .await;
            }
        }
    }

    async fn on_event(&mut self, event: Option<EngineEvent>) {
        let event = event.unwrap_or_else(|| EngineEvent::BrowserGone {
            reason: "engine event channel closed".into(),
        });
        if let EngineEvent::Page { name, payload } = event {
            // Payloads carry message content: only the name goes to the log.
            tracing::trace!(session = %self.key, event = %name, "page event");
            if let Some(page) = &self.parts.page {
                page.page_event(&self.key, &name, payload);
            }
            return;
        }
        tracing::debug!(session = %self.key, ?event, "engine event");
        if matches!(event, EngineEvent::BridgeReady { .. }) {
            self.seen_ready = true;
        }
        if let (EngineEvent::Blocked { state }, Some(page)) = (&event, &self.parts.page) {
            page.blocked(&self.key, state);
        }
        match state::step(self.state(), self.seen_ready, &event) {
            Step::Stay => {}
            Step::Go(s) => {
                self.set_state(s, None);
                if s == State::Connected {
                    if let Some(page) = &self.parts.page {
                        page.connected(&self.key);
                    }
                }
            }
            Step::ShowQr(code) => self.show_qr(code),
            Step::ShowPairingCode(code) => {
                if self.last_pairing_code.as_deref() != Some(code.as_str()) {
                    self.show_pairing_code(code, None);
                }
            }
            Step::Connect(phone) => self.connect(phone),
            Step::Halt { state, reason, wipe_login } => self.halt(state, reason, wipe_login).await,
            Step::Recover(why) => self.recover(why, reason::BROWSER_CRASHED).await,
        }
    }

    fn show_qr(&mut self, code: String) {
        let cfg = &self.parts.config;
        let attempt = self.snap.borrow().qr.as_ref().map(|q| q.attempt + 1).unwrap_or(1);
        let ttl = if attempt == 1 { cfg.qr_first_ttl_ms } else { cfg.qr_ttl_ms };
        let issued = SystemTime::now();
        let view = QrView {
            attempt,
            max_attempts: cfg.qr_max_attempts,
            issued_at: rfc3339(issued),
            expires_at: rfc3339(issued + Duration::from_millis(ttl)),
        };
        let data_url = super::qr::data_url(&code).unwrap_or_default();
        let data = json!({
            "raw": code, "data_url": data_url, "attempt": attempt,
            "max_attempts": view.max_attempts, "expires_at": view.expires_at,
        });
        self.snap.send_modify(|s| {
            s.qr = Some(view);
            s.qr_code = Some(code);
        });
        self.set_state(State::QrRequired, None);
        self.parts.bus.publish(Event::new(kind::SESSION_QR, self.key.clone(), data));
    }

    fn show_pairing_code(&mut self, code: String, phone: Option<String>) {
        self.last_pairing_code = Some(code.clone());
        self.set_state(State::Pairing, None);
        self.parts.bus.publish(Event::new(
            kind::SESSION_PAIRING_CODE,
            self.key.clone(),
            json!({"code": code, "phone": phone}),
        ));
    }

    fn connect(&mut self, phone: Option<String>) {
        if phone.is_some() && phone != self.parts.record.phone {
            self.parts.record.phone = phone.clone();
            if let Err(e) = record::save(&self.parts.sessions_root, &self.parts.record) {
                tracing::warn!(session = %self.key, error = %e, "could not record the phone number");
            }
        }
        self.snap.send_modify(|s| {
            s.recoveries = 0;
            s.qr = None;
            s.qr_code = None;
            if phone.is_some() {
                s.phone = phone.clone();
            }
        });
        // Back online, the tracker can confirm the connection after `Online(true)` already
        // moved to connected: one reconnect is one catch-up.
        let was_connected = self.state() == State::Connected;
        self.set_state(State::Connected, None);
        if let (false, Some(page)) = (was_connected, &self.parts.page) {
            page.connected(&self.key);
        }
    }

    /// Settle in a terminal state: no browser, no automatic restart (also after a sidecar restart).
    async fn halt(&mut self, state: State, reason: Option<String>, wipe_login: bool) {
        self.retry_at = None;
        self.stop_engine().await;
        let stored = self.profile(if wipe_login { Profile::Destroy } else { Profile::Close }).await;
        if let Err(e) = stored {
            tracing::error!(session = %self.key, error = %e, "profile store failed while halting");
        }
        if let Err(e) = self.halt_record(state, reason.clone()) {
            tracing::error!(session = %self.key, error = %e, "could not record the halted state");
        }
        self.set_state(state, reason);
    }

    fn halt_record(&mut self, state: State, reason: Option<String>) -> Result<(), SessionError> {
        self.parts.record.desired = Desired::Stopped;
        self.parts.record.halted = Some(Halted { state: state.as_str().into(), reason });
        record::save(&self.parts.sessions_root, &self.parts.record)?;
        Ok(())
    }

    /// The browser or page is lost: clean up, then restart after a backoff, or give up.
    async fn recover(&mut self, why: String, give_up_reason: &str) {
        self.stop_engine().await;
        if let Err(e) = self.profile(Profile::Close).await {
            tracing::error!(session = %self.key, error = %e, "profile store failed after a crash");
        }
        let attempts = self.snap.borrow().recoveries + 1;
        let cfg = &self.parts.config;
        if attempts > cfg.max_recoveries {
            let reason = format!(
                "{give_up_reason}: gave up after {} attempts; last error: {why}",
                attempts - 1
            );
            self.halt(State::Failed, Some(reason), false).await;
            return;
        }
        let backoff = cfg
            .backoff_initial_ms
            .saturating_mul(1 << (attempts - 1).min(20))
            .min(cfg.backoff_max_ms);
        tracing::warn!(session = %self.key, attempt = attempts, backoff_ms = backoff, reason = %why, "session lost its browser; restarting");
        self.snap.send_modify(|s| s.recoveries = attempts);
        self.set_state(State::Disconnected, Some(why));
        self.retry_at = Some(Instant::now() + Duration::from_millis(backoff));
    }

    /// Stop the engine of the current run, if any. Its late events are dropped with the channel.
    async fn stop_engine(&mut self) {
        self.events = None;
        if let Some(watcher) = self.watcher.take() {
            // Joining the watcher waits for a reseal in progress: keep that off the async threads.
            let _ = tokio::task::spawn_blocking(move || drop(watcher)).await;
        }
        if let Err(e) = self.parts.engine.stop().await {
            tracing::warn!(session = %self.key, error = %e, "engine stop reported an error");
        }
    }

    /// Close the browser and persist the login, keeping the desired state (sidecar shutdown).
    async fn close_browser(&mut self) {
        self.retry_at = None;
        self.stop_engine().await;
        if let Err(e) = self.profile(Profile::Close).await {
            tracing::error!(session = %self.key, error = %e, "profile store failed at shutdown");
        }
    }

    /// Runs a profile-store operation on the blocking pool: sealing or unsealing a login is
    /// tens of MB of crypto and I/O, which must not stall the async workers other sessions use.
    async fn profile(&mut self, op: Profile) -> Result<PathBuf, ProfileError> {
        let (store, key) = (self.parts.profiles.clone(), self.key.clone());
        let run = move || match op {
            Profile::Open => store.open(&key),
            Profile::Close => store.close(&key).map(|()| PathBuf::new()),
            Profile::Destroy => store.destroy(&key).map(|()| PathBuf::new()),
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(result) => result,
            Err(e) => Err(ProfileError::Io {
                key: self.key.clone(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    fn set_state(&mut self, state: State, reason: Option<String>) {
        let (previous, prev_reason) = {
            let s = self.snap.borrow();
            (s.state, s.reason.clone())
        };
        if previous == state && prev_reason == reason {
            return;
        }
        self.snap.send_modify(|s| {
            s.state = state;
            s.reason = reason.clone();
            s.state_since = rfc3339(SystemTime::now());
            if !matches!(state, State::QrRequired) {
                s.qr = None;
                s.qr_code = None;
            }
        });
        let snap = self.snap.borrow().clone();
        tracing::info!(session = %self.key, from = previous.as_str(), to = state.as_str(), reason = ?reason, "session state");
        let data = json!({
            "state": state, "previous": previous, "reason": reason,
            "phone": snap.phone, "recoveries": snap.recoveries,
        });
        self.parts.bus.publish(Event::new(kind::SESSION_STATUS, self.key.clone(), data));
    }
}

fn halted_state(s: &str) -> State {
    match s {
        "failed" => State::Failed,
        "conflict" => State::Conflict,
        "logged_out" => State::LoggedOut,
        _ => State::Stopped,
    }
}

async fn next_event(events: &mut Option<mpsc::Receiver<EngineEvent>>) -> Option<EngineEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn wait_until(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
