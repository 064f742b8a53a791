//! Sessions survive what production throws at them: a graceful restart of the sidecar, a
//! `kill -9` of the sidecar binary, and a killed Chromium. Each comes back `connected` with no QR.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::binary::{serve, Sidecar};
use crate::helpers::{sign, unix_now, TEST_KEY_B64};

/// Polls until `state`, failing if the session ever shows a QR on the way.
async fn wait_state_without_qr(app: &TestApp, id: &str, state: &str, within: Duration) {
    let seen = wait_state(app, id, state, within).await;
    assert!(
        !seen.iter().any(|s| s == "qr_required" || s == "pairing"),
        "asked for a new login: {seen:?}"
    );
}

#[tokio::test]
async fn a_graceful_restart_reconnects_every_connected_session_without_a_qr() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "one").await;
    connect(&app, &sim, "two").await;
    let dir = stop_and_check(app).await;
    // Nothing plaintext of the login stays behind after a graceful stop.
    assert!(!dir.path().join("data/runtime").join(WS).join("one").exists());

    let app = app_in(dir, &sim, |_| {}).await;
    let mut events = Events::of(&app);
    for id in ["one", "two"] {
        wait_state_without_qr(&app, id, "connected", Duration::from_secs(40)).await;
    }
    assert!(events.drain().iter().all(|e| e.kind != "session.qr"), "no QR was published");
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_killed_chromium_is_replaced_and_reconnects_by_itself() {
    // The bound this test states: a session whose browser is killed is `connected` again within
    // 20 s (measured: about 1-3 s on 2 cores with a 200 ms first backoff).
    const BOUND: Duration = Duration::from_secs(20);
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "crash").await;
    let runtime = app.data_dir().join("runtime");
    let groups = chromium_groups_under(&runtime);
    assert_eq!(groups.len(), 1);

    let killed_at = Instant::now();
    // SAFETY: killpg on a group this test found under its own data folder.
    unsafe { libc::killpg(groups[0], libc::SIGKILL) };
    wait_state(&app, "crash", "disconnected", Duration::from_secs(10)).await;
    wait_state_without_qr(&app, "crash", "connected", BOUND).await;
    assert!(killed_at.elapsed() < BOUND);
    let after = chromium_groups_under(&runtime);
    assert_eq!(after.len(), 1, "one new browser");
    assert_ne!(after, groups, "a new process group");
    assert_groups_gone(&groups).await;
    stop_and_check(app).await;
}

/// A config file for the binary against `sim`, in `dir`.
pub(crate) fn binary_config(dir: &Path, sim: &wa_sim::SimServer) -> std::path::PathBuf {
    let key = dir.join("host.key");
    std::fs::write(&key, TEST_KEY_B64).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = dir.join("sidecar.toml");
    let d = dir.display();
    let text = format!(
        r#"[server]
bind = "127.0.0.1:0"
data_dir = "{d}/data"
sessions_dir = "{d}/sessions"
workers = 1
shutdown_timeout_secs = 5

[[auth.keys]]
id = "host"
secret_file = "{k}"
workspaces = ["*"]

[engine]
wa_web_url = "{url}"
inject_bridge = false
cdp_timeout_ms = 5000
ready_timeout_ms = 15000
close_grace_ms = 2000

[sessions]
backoff_initial_ms = 200
backoff_max_ms = 1000

[vault]
reseal_debounce = "200ms"
reseal_max_interval = "2s"
reseal_min_interval = "500ms"
"#,
        k = key.display(),
        url = sim.base_url()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Adds `lines` (TOML `key = value` lines) to the `[engine]` table of a config from
/// [`binary_config`], e.g. `sessions_per_browser = 1` (the default pools sessions; 1 gives each its
/// own browser and persistent profile).
pub(crate) fn set_engine(config: &Path, lines: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains("[engine]\n"), "binary_config has an [engine] table");
    let text = text.replacen("[engine]\n", &format!("[engine]\n{lines}\n"), 1);
    std::fs::write(config, text).unwrap();
}

/// A signed request to a sidecar process (the test key, id "host").
pub(crate) async fn call(
    sidecar: &Sidecar,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let secret =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, TEST_KEY_B64).unwrap();
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (ts, nonce) = (unix_now(), format!("{:032x}", rand::random::<u128>()));
    let sig = sign(&secret, ts, &nonce, method, path, &[], &bytes);
    let r = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", sidecar.address))
        .header("X-Key-Id", "host")
        .header("X-Timestamp", ts.to_string())
        .header("X-Nonce", nonce)
        .header("X-HMAC-Signature", format!("v1={sig}"))
        .header("Content-Type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn binary_wait(
    sidecar: &Sidecar,
    id: &str,
    state: &str,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (status, s) = call(sidecar, "GET", &session_path(id), None).await;
        assert_eq!(status, 200, "{s}");
        let now = s["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == state {
            return seen;
        }
        assert!(Instant::now() < deadline, "not {state} within {within:?}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kill_9_of_the_sidecar_loses_no_login() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    let runtime = dir.path().join("data/runtime");

    let mut first = serve(dir.path(), &config);
    let (status, body) =
        call(&first, "POST", &format!("/v1/workspaces/{WS}/sessions"), Some(json!({"id": "k9"})))
            .await;
    assert_eq!(status, 201, "{body}");
    binary_wait(&first, "k9", "qr_required", Duration::from_secs(30)).await;
    // The phone scans what the page shows.
    let pages: Value =
        reqwest::get(format!("{}/pages", sim.control_url())).await.unwrap().json().await.unwrap();
    let code = find_qr(&pages).expect("the page shows a QR");
    control(&sim, "/scan", json!({"code": code, "phone": PHONE})).await;
    binary_wait(&first, "k9", "connected", Duration::from_secs(30)).await;

    // kill -9: no shutdown code runs; its Chromium is left running with a plaintext profile.
    let orphans = chromium_groups_under(&runtime);
    assert_eq!(orphans.len(), 1);
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(
        !chromium_groups_under(&runtime).is_empty(),
        "the browser outlives a kill -9 of its parent"
    );

    let mut second = serve(dir.path(), &config);
    let seen = binary_wait(&second, "k9", "connected", Duration::from_secs(40)).await;
    assert!(!seen.iter().any(|s| s == "qr_required"), "asked for a new QR after kill -9: {seen:?}");
    assert_groups_gone(&orphans).await; // the boot killed the orphaned browser

    // SIGTERM: a graceful stop closes every browser and releases every lock.
    let groups = chromium_groups_under(&runtime);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(second.child.id() as i32, libc::SIGTERM) };
    let exited = wait_child(&mut second.child, Duration::from_secs(20));
    assert!(exited, "the sidecar exits on SIGTERM");
    assert_groups_gone(&groups).await;
    let lock = dir.path().join("sessions").join(WS).join("k9").join("lock");
    assert!(!wa_sidecar::sessions::lock::SessionLock::is_held(&lock), "no stale lock");
}

/// Creates session `id` on a sidecar process and links it to `phone` by scanning its QR in wa-sim,
/// waiting up to `qr_within` for the QR and `connected_within` for the link. Sessions are linked
/// one at a time, so the one page showing a QR is this session's.
pub(crate) async fn create_and_scan(
    sidecar: &Sidecar,
    sim: &wa_sim::SimServer,
    id: &str,
    phone: &str,
    (qr_within, connected_within): (Duration, Duration),
) {
    let path = format!("/v1/workspaces/{WS}/sessions");
    let (status, body) = call(sidecar, "POST", &path, Some(json!({"id": id}))).await;
    assert_eq!(status, 201, "{body}");
    binary_wait(sidecar, id, "qr_required", qr_within).await;
    let pages: Value =
        reqwest::get(format!("{}/pages", sim.control_url())).await.unwrap().json().await.unwrap();
    let code = find_qr(&pages).expect("a page shows a QR");
    control(sim, "/scan", json!({"code": code, "phone": phone})).await;
    binary_wait(sidecar, id, "connected", connected_within).await;
}

pub(crate) fn find_qr(pages: &Value) -> Option<String> {
    let list = pages.as_array().or_else(|| pages["pages"].as_array())?;
    list.iter()
        .find_map(|p| p["qr"].as_str().or_else(|| p["qr"]["code"].as_str()).map(str::to_owned))
}

fn wait_child(child: &mut std::process::Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn a_second_sidecar_on_the_same_data_does_not_take_a_running_session() {
    let sim = sim();
    let first = app_for(&sim, |_| {}).await;
    create(&first, "owned").await;
    wait_state(&first, "owned", "qr_required", Duration::from_secs(30)).await;

    // Same sessions folder, own data dir: the lock, not the folder, decides who runs it.
    let sessions_dir = first.settings.server.sessions_dir.clone();
    let second = app_for(&sim, move |s| s.server.sessions_dir = sessions_dir).await;
    crate::helpers::assert_envelope(
        second.signed_get(&session_path("owned")).await,
        404,
        "SESSION_NOT_FOUND",
    )
    .await;
    let again =
        second.signed_post(&format!("/v1/workspaces/{WS}/sessions"), &json!({"id": "owned"})).await;
    crate::helpers::assert_envelope(again, 409, "SESSION_EXISTS").await;
    assert_eq!(
        chromium_groups_under(&second.data_dir().join("runtime")).len(),
        0,
        "the second one launched nothing"
    );
    assert_eq!(get(&first, "owned").await["state"], "qr_required", "the owner kept it");
    stop_and_check(second).await;
    stop_and_check(first).await;
}
