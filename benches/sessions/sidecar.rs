//! The sidecar under test, built through `Application::build` exactly as `main` builds it, and
//! the timed steps of a session's life, read from the sessions' own event bus and snapshots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use actix_web::dev::ServerHandle;
use actix_web::web;
use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use tokio::sync::broadcast::error::RecvError;
use wa_sidecar::config::{KeyConfig, Settings};
use wa_sidecar::events::kind;
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};
use wa_sidecar::sessions::NewSession;
use wa_sidecar::startup::{AppState, Application};
use wa_sim::SimServer;

pub const WORKSPACE: &str = "bench";

fn random_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Development settings on `root`, pointed at `sim`, with the production defaults for every
/// timeout and limit except `max_sessions` (raised to `count`).
pub fn settings(root: &Path, sim: &SimServer, count: usize) -> Settings {
    let mut s = Settings::default();
    s.server.bind = "127.0.0.1:0".into();
    s.server.data_dir = root.join("data");
    s.server.sessions_dir = root.join("sessions");
    s.server.workers = 1;
    s.server.shutdown_timeout_secs = 1;
    s.auth.keys = vec![KeyConfig {
        id: "bench".into(),
        secret: Some(random_b64()),
        workspaces: vec!["*".into()],
        ..Default::default()
    }];
    s.vault.master_keys = vec![format!("bench:{}", random_b64())];
    s.callbacks.secrets = vec![format!("whsec_{}", random_b64())];
    s.engine.wa_web_url = sim.base_url();
    // wa-sim's page provides `WPP` itself; the wa-js bundle is not injected.
    s.engine.inject_bridge = false;
    s.sessions.max_sessions = s.sessions.max_sessions.max(count);
    s
}

/// Where the vault unseals the live profile of a session: its Chromium's `--user-data-dir`.
pub fn runtime_root(settings: &Settings) -> PathBuf {
    settings.server.data_dir.join(&settings.vault.runtime_dir)
}

pub fn key(i: usize) -> SessionKey {
    // Both ids are valid by construction ("bench", "s1".."sN").
    let workspace = WorkspaceId::parse(WORKSPACE).expect("valid workspace id");
    SessionKey::new(workspace, SessionId::parse(&format!("s{}", i + 1)).expect("valid session id"))
}

pub struct Sidecar {
    pub state: web::Data<AppState>,
    handle: ServerHandle,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Sidecar {
    /// Builds and serves the app (which restores every session that was running on `settings`).
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let app = Application::build(settings).await.context("the sidecar does not build")?;
        let handle = app.handle();
        let state = app.state();
        let serving = tokio::spawn(app.run_until_stopped());
        Ok(Self { state, handle, serving })
    }

    /// Graceful stop, as on SIGTERM: the server drains, every browser closes and its login is
    /// sealed. Returns how long that took.
    pub async fn stop(self) -> Duration {
        let started = Instant::now();
        self.handle.stop(true).await;
        let _ = self.serving.await;
        started.elapsed()
    }

    /// Creates session `i` (started) and waits for its first QR: create → first `session.qr`.
    pub async fn create_until_qr(&self, i: usize, within: Duration) -> anyhow::Result<Duration> {
        let key = key(i);
        let mut events = self.state.sessions.bus().subscribe();
        let t0 = SystemTime::now();
        let new = NewSession {
            id: key.session.clone(),
            start: true,
            callback_url: None,
            callback_secret: None,
            metadata: Default::default(),
        };
        self.state
            .sessions
            .create(key.workspace.clone(), new)
            .await
            .map_err(|e| anyhow!("create {key}: {e}"))?;
        let at = wait_event(&mut events, &key, within, |e| e.kind == kind::SESSION_QR).await?;
        since(t0, at)
    }

    /// The current QR text of session `i`.
    pub fn qr(&self, i: usize) -> anyhow::Result<String> {
        let snap = self.state.sessions.get(&key(i)).map_err(|e| anyhow!("{e}"))?;
        snap.qr_code.ok_or_else(|| {
            anyhow!("session {} shows no QR (state {})", key(i), snap.state.as_str())
        })
    }

    /// Scans session `i`'s QR with `phone` through wa-sim's control API and waits for
    /// `connected`: scan request sent → `session.status` connected.
    pub async fn scan_until_connected(
        &self,
        sim: &SimServer,
        i: usize,
        phone: &str,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        let key = key(i);
        let code = self.qr(i)?;
        let mut events = self.state.sessions.bus().subscribe();
        let t0 = SystemTime::now();
        scan(sim, &code, phone).await?;
        let at = wait_event(&mut events, &key, within, |e| {
            e.kind == kind::SESSION_STATUS && e.data["state"] == "connected"
        })
        .await?;
        since(t0, at)
    }

    /// Waits until sessions `0..count` are all connected; per session, the time from `t0` to the
    /// moment it became connected (its snapshot's `state_since`). A QR on the way means the
    /// login did not survive, which fails the step.
    pub async fn wait_all_connected(
        &self,
        count: usize,
        t0: SystemTime,
        within: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let deadline = Instant::now() + within;
        loop {
            let mut done = Vec::new();
            for i in 0..count {
                let snap =
                    self.state.sessions.get(&key(i)).map_err(|e| anyhow!("{}: {e}", key(i)))?;
                match snap.state.as_str() {
                    "connected" => {
                        let at = humantime::parse_rfc3339_weak(&snap.state_since)
                            .context("state_since")?;
                        done.push(since(t0, at)?);
                    }
                    "qr_required" | "logged_out" | "failed" | "conflict" => {
                        bail!(
                            "{} is {} ({:?}) after the restart, not connected",
                            key(i),
                            snap.state.as_str(),
                            snap.reason
                        )
                    }
                    _ => {}
                }
            }
            if done.len() == count {
                return Ok(done);
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {count} sessions connected within {} s",
                    done.len(),
                    within.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// POST /_sim/scan {code, phone}: the simulated phone scans a QR.
pub async fn scan(sim: &SimServer, code: &str, phone: &str) -> anyhow::Result<()> {
    let url = format!("{}/scan", sim.control_url());
    let body = serde_json::json!({"code": code, "phone": phone});
    let r = reqwest::Client::new().post(url).json(&body).send().await.context("wa-sim scan")?;
    if !r.status().is_success() {
        let status = r.status();
        bail!("wa-sim refused the scan: {status} {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// The time of the first event of `key` that matches; a `failed` status ends the wait early.
async fn wait_event(
    events: &mut tokio::sync::broadcast::Receiver<wa_sidecar::events::Event>,
    key: &SessionKey,
    within: Duration,
    matches: impl Fn(&wa_sidecar::events::Event) -> bool,
) -> anyhow::Result<SystemTime> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => bail!("{key}: nothing within {} s", within.as_secs()),
            Ok(Err(RecvError::Lagged(n))) => {
                bail!("{key}: the bench lagged {n} events behind the bus")
            }
            Ok(Err(RecvError::Closed)) => bail!("{key}: the event bus closed"),
            Ok(Ok(e)) => e,
        };
        if &event.key != key {
            continue;
        }
        if matches(&event) {
            return Ok(event.at);
        }
        if event.kind == kind::SESSION_STATUS && event.data["state"] == "failed" {
            bail!("{key} failed: {}", event.data);
        }
    }
}

fn since(t0: SystemTime, at: SystemTime) -> anyhow::Result<Duration> {
    at.duration_since(t0).map_err(|_| anyhow!("an event is timestamped before the step started"))
}
