//! Pooled mode (`engine.sessions_per_browser` > 1): several sessions in one Chromium, each in an
//! off-the-record context whose login lives only in the engine's storage snapshot. Real Chromium,
//! real wa-sim (whose login needs a non-extractable CryptoKey), real kills.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wa_sidecar::config::Settings;
use wa_sim::SimServer;

use super::recovery::{binary_config, binary_wait, call, create_and_scan, set_engine};
use super::*;
use crate::binary::serve;

const COME_BACK: Duration = Duration::from_secs(90);

fn pooled(s: &mut Settings, per_browser: u32) {
    s.engine.sessions_per_browser = per_browser;
    s.engine.snapshot_debounce_ms = 300;
    s.engine.snapshot_interval_ms = 5_000;
}

fn runtime(dir: &Path) -> PathBuf {
    dir.join("data/runtime")
}

/// The live snapshot of a running session, once it holds the sim's login (its CryptoKey too).
async fn wait_snapshot_with_key(dir: &Path, ws: &str, id: &str) -> Value {
    let path = runtime(dir).join(ws).join(id).join(wa_sidecar::engine::storage::SNAPSHOT_FILE);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.contains("\"$\":\"key\"") {
                return serde_json::from_str(&text).unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no snapshot with a CryptoKey at {}", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates and links `id` (in workspace `ws`) with its own phone number.
async fn link(app: &TestApp, sim: &SimServer, ws: &str, id: &str, phone: &str) {
    let r = app.signed_post(&format!("/v1/workspaces/{ws}/sessions"), &json!({"id": id})).await;
    assert_eq!(r.status(), 201, "create {ws}/{id}");
    let path = format!("/v1/workspaces/{ws}/sessions/{id}");
    wait_path(app, &path, "qr_required").await;
    let r =
        app.signed(reqwest::Method::GET, &format!("{path}/qr")).query("format", "raw").send().await;
    let code = r.text().await.unwrap();
    control(sim, "/scan", json!({"code": code, "phone": phone})).await;
    wait_path(app, &path, "connected").await;
}

async fn wait_path(app: &TestApp, path: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let s: Value = app.signed_get(path).await.json().await.unwrap();
        if s["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "{path} not {state}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const IDS: [&str; 3] = ["one", "two", "three"];
const PHONES: [&str; 3] = ["15550002001", "15550002002", "15550002003"];

#[tokio::test]
async fn three_pooled_sessions_share_one_browser_and_survive_its_kill_without_a_qr() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime(dir.path());
    let app = app_in(dir, &sim, |s| pooled(s, 3)).await;
    for (id, phone) in IDS.iter().zip(PHONES) {
        link(&app, &sim, WS, id, phone).await;
    }
    let groups = chromium_groups_under(&runtime);
    assert_eq!(groups.len(), 1, "three sessions, one browser: {groups:?}");
    for id in IDS {
        wait_snapshot_with_key(app.data_dir().parent().unwrap(), WS, id).await;
    }
    let mut events = Events::of(&app);
    // SAFETY: killpg on the Chromium group this test found under its own data folder.
    unsafe { libc::killpg(groups[0], libc::SIGKILL) };
    let deadline = Instant::now() + COME_BACK;
    loop {
        let now = chromium_groups_under(&runtime);
        let states: Vec<String> = {
            let mut v = Vec::new();
            for id in IDS {
                v.push(get(&app, id).await["state"].as_str().unwrap().to_owned());
            }
            v
        };
        assert!(
            !states.iter().any(|s| s == "qr_required" || s == "pairing"),
            "a session asked for a QR after the shared browser's kill: {states:?}"
        );
        if now.len() == 1 && now[0] != groups[0] && states.iter().all(|s| s == "connected") {
            break;
        }
        assert!(Instant::now() < deadline, "not all back: {states:?}, browsers {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = events.drain();
    assert!(
        !seen.iter().any(|e| e.kind == "session.qr"),
        "no session.qr after the kill: {:?}",
        seen.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    for id in IDS {
        let states = statuses(&seen, id);
        assert!(states.contains(&"connected".to_owned()), "{id} reported its way back: {states:?}");
    }
    let last = chromium_groups_under(&runtime);
    app.stop().await;
    assert_groups_gone(&last).await;
    assert_groups_gone(&groups).await;
}

#[tokio::test]
async fn two_workspaces_never_share_a_browser_by_default() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime(dir.path());
    let app = app_in(dir, &sim, |s| pooled(s, 4)).await;
    for (ws, id) in [("acme", "a1"), ("beta", "b1"), ("acme", "a2")] {
        let r = app.signed_post(&format!("/v1/workspaces/{ws}/sessions"), &json!({"id": id})).await;
        assert_eq!(r.status(), 201);
        wait_path(&app, &format!("/v1/workspaces/{ws}/sessions/{id}"), "qr_required").await;
    }
    let groups = chromium_groups_under(&runtime);
    assert_eq!(
        groups.len(),
        2,
        "acme's two sessions share one browser, beta has its own: {groups:?}"
    );
    app.stop().await;
    assert_groups_gone(&groups).await;
}

#[tokio::test]
async fn the_cryptokey_login_survives_a_restart_through_the_snapshot_only() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir, &sim, |s| pooled(s, 2)).await;
    link(&app, &sim, WS, "keyed", PHONES[0]).await;
    let root = app.data_dir().parent().unwrap().to_owned();
    let snap = wait_snapshot_with_key(&root, WS, "keyed").await;
    let text = snap.to_string();
    assert!(text.contains("\"usages\""), "the key is kept with its usages");
    let groups = chromium_groups_under(&runtime(&root));
    let dir = app.stop().await;
    assert_groups_gone(&groups).await;
    // The pooled context wrote nothing of its own to disk: without the snapshot there is no login.
    let mut events;
    let app = app_in(dir, &sim, |s| pooled(s, 2)).await;
    events = Events::of(&app);
    wait_state(&app, "keyed", "connected", COME_BACK).await;
    let seen = events.drain();
    assert!(!seen.iter().any(|e| e.kind == "session.qr"), "restored without a QR");
    let groups = chromium_groups_under(&runtime(&root));
    let dir = app.stop().await;
    assert_groups_gone(&groups).await;
    // The same sealed profile in one-browser-per-session mode: the persistent profile never held
    // the login (only the snapshot did), so the session needs a QR.
    let app = app_in(dir, &sim, |s| s.engine.sessions_per_browser = 1).await;
    wait_state(&app, "keyed", "qr_required", COME_BACK).await;
    let groups = chromium_groups_under(&runtime(&root));
    app.stop().await;
    assert_groups_gone(&groups).await;
}

#[tokio::test]
async fn pooled_sessions_come_back_without_a_qr_after_kill_9_of_the_sidecar() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    set_engine(
        &config,
        "sessions_per_browser = 3\nsnapshot_debounce_ms = 300\nsnapshot_interval_ms = 5000",
    );
    let runtime = runtime(dir.path());
    let mut sidecar = serve(dir.path(), &config);
    for (id, phone) in IDS.iter().zip(PHONES) {
        let within = (Duration::from_secs(30), Duration::from_secs(45));
        create_and_scan(&sidecar, &sim, id, phone, within).await;
    }
    for id in IDS {
        wait_snapshot_with_key(dir.path(), WS, id).await;
    }
    // Let the vault seal the snapshots (reseal_max_interval is 2 s in binary_config).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = chromium_groups_under(&runtime);
    assert_eq!(before.len(), 1, "one shared browser: {before:?}");
    sidecar.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    sidecar.child.wait().unwrap();
    let sidecar = serve(dir.path(), &config);
    for id in IDS {
        binary_wait(&sidecar, id, "connected", COME_BACK).await;
        let (_, s) = call(&sidecar, "GET", &session_path(id), None).await;
        assert_eq!(s["state"], "connected", "{id}");
    }
    let after = chromium_groups_under(&runtime);
    assert_eq!(after.len(), 1, "the old browser was reaped, one new one serves all: {after:?}");
    assert!(!after.contains(&before[0]));
    let mut sidecar = sidecar;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(sidecar.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while sidecar.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the sidecar exits on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_groups_gone(&after).await;
    assert_groups_gone(&before).await;
}
