//! Sessions end to end: the real sidecar drives real headless Chromium against wa-sim, the
//! stand-in for WhatsApp. Each test has its own simulator, data folder and browsers, and checks
//! at the end that no Chromium of its own is left.

mod bad_input;
mod broadcasting;
mod callbacks;
mod cli;
mod inbound;
mod inbound_bench;
mod inbound_groups;
mod inbound_kills;
mod inbound_media;
mod inbound_reactions;
mod lifecycle;
mod pooled;
pub(crate) mod recovery;
pub(crate) mod vault;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::broadcast;
use wa_sidecar::config::Settings;
use wa_sidecar::events::Event;
use wa_sim::{SimConfig, SimServer};

use crate::helpers::{spawn_app_in, TestApp};

pub const PHONE: &str = "15550001111";
pub const WS: &str = "acme";

/// Settings for sessions against `sim`: short timeouts and backoff so a test runs in seconds.
pub fn sim_settings(s: &mut Settings, sim: &SimServer) {
    s.engine.wa_web_url = sim.base_url();
    s.engine.inject_bridge = false;
    s.engine.cdp_timeout_ms = 5_000;
    s.engine.ready_timeout_ms = 15_000;
    s.engine.close_grace_ms = 2_000;
    s.engine.probe_interval_ms = 5_000;
    s.sessions.backoff_initial_ms = 200;
    s.sessions.backoff_max_ms = 1_000;
    s.sessions.command_timeout_ms = 30_000;
    s.vault.reseal_debounce = Duration::from_millis(200);
    s.vault.reseal_max_interval = Duration::from_secs(2);
    s.vault.reseal_min_interval = Duration::from_millis(500);
}

/// wa-sim with fast timings but a first QR that lives 20 s: a test that reads the QR and scans
/// it must not race the rotation on a busy machine.
pub fn sim() -> SimServer {
    crate::helpers::init();
    SimServer::start(SimConfig { qr_first_ttl_ms: 20_000, ..SimConfig::fast() })
        .expect("wa-sim starts")
}

/// wa-sim on its fast schedule throughout (first QR 1.5 s, then every 0.5 s), for QR expiry.
pub fn sim_fast_qr() -> SimServer {
    crate::helpers::init();
    SimServer::start(SimConfig::fast()).expect("wa-sim starts")
}

/// A sidecar on a fresh folder, set up for `sim`, with `adjust` applied last.
pub async fn app_for(sim: &SimServer, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    app_in(tempfile::tempdir().unwrap(), sim, adjust).await
}

pub async fn app_in(dir: TempDir, sim: &SimServer, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_in(dir, |s| {
        sim_settings(s, sim);
        adjust(s);
    })
    .await
}

pub fn session_path(id: &str) -> String {
    format!("/v1/workspaces/{WS}/sessions/{id}")
}

pub async fn create(app: &TestApp, id: &str) -> Value {
    let r = app.signed_post(&format!("/v1/workspaces/{WS}/sessions"), &json!({"id": id})).await;
    assert_eq!(r.status(), 201, "create {id}");
    r.json().await.unwrap()
}

pub async fn get(app: &TestApp, id: &str) -> Value {
    let r = app.signed_get(&session_path(id)).await;
    assert_eq!(r.status(), 200, "get {id}");
    r.json().await.unwrap()
}

pub async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.signed(Method::POST, path).send().await
}

/// Polls the session until it is in `state`; fails with the states seen if it is not within `within`.
/// Returns every distinct state seen on the way, in order.
pub async fn wait_state(app: &TestApp, id: &str, state: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let s = get(app, id).await;
        let now = s["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == state {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} not {state} within {within:?}; states seen: {seen:?}; last: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POST to wa-sim's control API (it plays the phone).
pub async fn control(sim: &SimServer, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sim.control_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "wa-sim {path}: {status} {body}");
    body
}

/// The current QR text of a session, through the API.
pub async fn qr_text(app: &TestApp, id: &str) -> String {
    let r = app
        .signed(Method::GET, &format!("{}/qr", session_path(id)))
        .query("format", "raw")
        .send()
        .await;
    assert_eq!(r.status(), 200, "qr of {id}");
    r.text().await.unwrap()
}

/// Creates a session and links it by scanning its QR with the simulated phone.
pub async fn connect(app: &TestApp, sim: &SimServer, id: &str) {
    create(app, id).await;
    wait_state(app, id, "qr_required", Duration::from_secs(30)).await;
    let code = qr_text(app, id).await;
    control(sim, "/scan", json!({"code": code, "phone": PHONE})).await;
    wait_state(app, id, "connected", Duration::from_secs(30)).await;
}

/// Collects the events a session publishes, from the app's bus.
pub struct Events(broadcast::Receiver<Event>);

impl Events {
    pub fn of(app: &TestApp) -> Self {
        Self(app.state.sessions.bus().subscribe())
    }

    /// Everything published so far.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.0.try_recv() {
            out.push(e);
        }
        out
    }
}

/// `session.status` states in the order published.
pub fn statuses(events: &[Event], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "session.status" && e.key.session.as_str() == id)
        .map(|e| e.data["state"].as_str().unwrap().to_owned())
        .collect()
}

/// Process groups of the Chromium processes whose profile is under `root`.
pub fn chromium_groups_under(root: &Path) -> Vec<i32> {
    let mut groups: Vec<i32> = crate::procs::chromium_under(root).iter().map(|p| p.pgrp).collect();
    groups.sort();
    groups.dedup();
    groups
}

/// Asserts that no process of any of `groups` is alive (zombies excepted), waiting up to 5 s.
pub async fn assert_groups_gone(groups: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<(i32, Vec<u32>)> = groups
            .iter()
            .map(|&g| (g, wa_sidecar::engine::process::group_members(g)))
            .filter(|(_, m)| !m.is_empty())
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "Chromium process groups still alive: {alive:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the app gracefully and checks that none of its browsers outlived it.
pub async fn stop_and_check(app: TestApp) -> TempDir {
    let runtime = app.data_dir().join("runtime");
    let groups = chromium_groups_under(&runtime);
    let dir = app.stop().await;
    assert_groups_gone(&groups).await;
    assert!(chromium_groups_under(&runtime).is_empty(), "a Chromium of this test is still running");
    dir
}
