//! Operations, with the real binaries: `ops/wa-sidecarctl` (bash), pm2 running
//! `ops/pm2/ecosystem.config.js`, `wa-sidecar demo`, and the signals. Each test runs the built
//! sidecar against its own wa-sim in its own folder, on loopback, and checks at the end that no
//! process it started (supervisor, sidecar, Chromium, pm2's daemon) is left.

mod bluegreen;
mod ctl;
mod demo;
mod handover;
mod pm2;
mod signals;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{sign, unix_now, TEST_KEY_B64};
use crate::receiver::{Received, Reply, TestReceiver};
use crate::sessions::{session_path, PHONE, WS};

pub const BIN: &str = env!("CARGO_BIN_EXE_wa-sidecar");

/// The repository root (where `ops/` is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config for the binary against `sim` in `dir`: port 0, one key, fast engine timeouts,
/// callbacks signed with the test secret.
pub fn config(dir: &Path, sim: &wa_sim::SimServer, extra: &str) -> PathBuf {
    let key = dir.join("host.key");
    std::fs::write(&key, TEST_KEY_B64).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = dir.join("sidecar.toml");
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

[callbacks]
secrets = "{secret}"
retry_schedule = ["200ms", "500ms", "1s"]
{extra}
"#,
        d = dir.display(),
        k = key.display(),
        url = sim.base_url(),
        secret = crate::helpers::TEST_CALLBACK_SECRET,
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// A signed request to the sidecar at `address` (the test key, id "host"). `None` when nothing
/// answers (between two runs of a supervised sidecar).
pub async fn try_call(
    address: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    try_call_with(address, method, path, body, &[]).await
}

/// [`try_call`] with extra headers (an `Idempotency-Key`, say).
pub async fn try_call_with(
    address: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Option<(u16, Value)> {
    let secret =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, TEST_KEY_B64).unwrap();
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (ts, nonce) = (unix_now(), format!("{:032x}", rand::random::<u128>()));
    let sig = sign(&secret, ts, &nonce, method, path, &[], &bytes);
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{address}{path}"))
        .header("X-Key-Id", "host")
        .header("X-Timestamp", ts.to_string())
        .header("X-Nonce", nonce)
        .header("X-HMAC-Signature", format!("v1={sig}"))
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(10));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.body(bytes).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

pub async fn call(address: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    try_call(address, method, path, body).await.unwrap_or_else(|| panic!("{address} answers"))
}

/// Polls until the session is `state`; returns every distinct state seen on the way.
pub async fn wait_state(address: &str, id: &str, state: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen: Vec<String> = Vec::new();
    loop {
        if let Some((200, s)) = try_call(address, "GET", &session_path(id), None).await {
            let now = s["state"].as_str().unwrap_or("?").to_owned();
            if seen.last() != Some(&now) {
                seen.push(now.clone());
            }
            if now == state {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "{id} not {state} within {within:?}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Like [`wait_state`] to `connected`, failing if a QR (a new login) shows up on the way.
pub async fn wait_connected_without_qr(address: &str, id: &str) {
    let seen = wait_state(address, id, "connected", Duration::from_secs(60)).await;
    assert!(
        !seen.iter().any(|s| s == "qr_required" || s == "pairing"),
        "{id} asked for a new login: {seen:?}"
    );
}

/// Creates session `id` with `callback_url` and links it with the simulated phone.
pub async fn create_and_link(address: &str, sim: &wa_sim::SimServer, id: &str, callback: &str) {
    let (status, body) = call(
        address,
        "POST",
        &format!("/v1/workspaces/{WS}/sessions"),
        Some(json!({"id": id, "callback_url": callback})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    wait_state(address, id, "qr_required", Duration::from_secs(40)).await;
    // The phone scans what the page shows; a code that rotated meanwhile is read again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pages: Value = reqwest::get(format!("{}/pages", sim.control_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let qr = pages
            .as_array()
            .and_then(|l| l.iter().find_map(|p| p["qr"].as_str().map(str::to_owned)));
        if let Some(code) = qr {
            let r = reqwest::Client::new()
                .post(format!("{}/scan", sim.control_url()))
                .json(&json!({"code": code, "phone": PHONE}))
                .send()
                .await
                .unwrap();
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no scannable QR: {pages}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_state(address, id, "connected", Duration::from_secs(40)).await;
}

/// Every callback the receiver got, in arrival order.
#[derive(Clone, Default)]
pub struct Callbacks(Arc<Mutex<Vec<Received>>>);

impl Callbacks {
    pub async fn receiver() -> (TestReceiver, Self) {
        let receiver = TestReceiver::start().await;
        let seen = Self::default();
        let record = seen.clone();
        receiver.respond_with(move |r| {
            record.0.lock().unwrap().push(r.clone());
            Reply::status(200)
        });
        (receiver, seen)
    }

    /// (webhook-id, type, state) of each.
    pub fn list(&self) -> Vec<(String, String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let body = r.json();
                (
                    r.header("webhook-id").to_owned(),
                    body["type"].as_str().unwrap_or("").to_owned(),
                    body["data"]["state"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// `session.qr` callbacks so far.
    pub fn qr_count(&self) -> usize {
        self.list().iter().filter(|(_, kind, _)| kind == "session.qr").count()
    }

    /// Asserts no callback arrived twice (by `webhook-id`).
    pub fn assert_no_duplicates(&self) {
        let list = self.list();
        let mut ids: Vec<&String> = list.iter().map(|(id, _, _)| id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "a callback arrived twice: {list:?}");
    }
}

/// Waits until the sidecar's outbox has nothing queued, in flight or dead: every committed
/// callback was delivered.
pub async fn wait_outbox_empty(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, stats) = call(address, "GET", "/v1/callbacks/stats", None).await;
        assert_eq!(status, 200, "{stats}");
        if stats["queued"] == 0 && stats["in_flight"] == 0 && stats["dead"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "callbacks left undelivered: {stats}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pids of live processes whose command line contains every one of `needles`.
pub fn processes_with(needles: &[&str]) -> Vec<u32> {
    crate::procs::live()
        .into_iter()
        .filter(|p| {
            let text = p.args.join(" ");
            needles.iter().all(|n| text.contains(n))
        })
        .map(|p| p.pid)
        .collect()
}

/// Waits (bounded) until no live process's command line contains all of `needles`.
pub async fn assert_no_process(needles: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_with(needles);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes with {needles:?} still alive: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The address in the last `listening on http://…` line of a log file (after `from` bytes).
pub fn last_address(log: &Path, from: usize) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let text = text.get(from..).unwrap_or("");
    let rest =
        text.rsplit("listening on http://").next().filter(|_| text.contains("listening on"))?;
    let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
    Some(format!("http://{}", &rest[..end]))
}

/// Waits for a `listening on` line after `from` bytes of `log`.
pub async fn wait_address(log: &Path, from: usize, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(a) = last_address(log, from) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no 'listening on' in {} within {within:?}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn file_len(path: &Path) -> usize {
    std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}
