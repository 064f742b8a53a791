//! The built binary: events queued for an endpoint that is down survive SIGKILL, and after a
//! restart all of them arrive once the endpoint comes up, in order per session; any duplicate
//! carries the same `webhook-id` and body.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::helpers::{init, sign, unix_now, TEST_KEY_B64};
use super::receiver::TestReceiver;
use super::*;

const BIN: &str = env!("CARGO_BIN_EXE_wa-sidecar");
const SESSIONS: [&str; 3] = ["s1", "s2", "s3"];
const PER_SESSION: usize = 8;

/// A running `wa-sidecar serve`; SIGKILLed and reaped on drop, even when the test fails.
struct Sidecar {
    child: Child,
    address: String,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sidecar {
    fn serve(dir: &Path, config: &Path) -> Self {
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIDECAR") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .current_dir(dir)
            .env("SIDECAR__CALLBACKS__SECRETS", format!("{SECRET_A} {SECRET_B}"))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let mut sidecar = Self { child, address: String::new() };
        sidecar.address =
            rx.recv_timeout(Duration::from_secs(20)).expect("the sidecar logs its address");
        sidecar
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(body).unwrap();
        let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, TEST_KEY_B64)
            .unwrap();
        let (ts, nonce) = (unix_now(), format!("{:032x}", rand::random::<u128>()));
        let sig = sign(&key, ts, &nonce, "POST", path, &[], &body);
        reqwest::Client::new()
            .post(format!("{}{path}", self.address))
            .header("X-Key-Id", "host")
            .header("X-Timestamp", ts.to_string())
            .header("X-Nonce", nonce)
            .header("X-HMAC-Signature", format!("v1={sig}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }
}

/// Config for `dir` with callbacks to `url`, retrying every 100 ms for long enough to outlast the test.
fn write_config(dir: &Path, url: &str) -> PathBuf {
    let key = dir.join("host.key");
    std::fs::write(&key, TEST_KEY_B64).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let schedule = vec!["\"100ms\""; 300].join(", ");
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\ndata_dir = \"{d}/data\"\nsessions_dir = \"{d}/sessions\"\nworkers = 1\n\n\
         [log]\nformat = \"text\"\n\n[[auth.keys]]\nid = \"host\"\nsecret_file = \"{k}\"\nworkspaces = [\"*\"]\n\n\
         [callbacks]\nurl = \"{url}\"\ntimeout = \"2s\"\njitter = 0.0\nidle_wakeup = \"200ms\"\nretry_schedule = [{schedule}]\n",
        d = dir.display(),
        k = key.display(),
    );
    let config = dir.join("sidecar.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// A port nobody listens on yet (the endpoint is "down" until the receiver binds it).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_callbacks_survive_sigkill_and_arrive_in_order_after_restart() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = free_port();
    let url = format!("http://{endpoint}/hooks/wa");
    let config = write_config(dir.path(), &url);

    let first = Sidecar::serve(dir.path(), &config);
    let mut sent: HashMap<String, (String, usize)> = HashMap::new();
    for n in 0..PER_SESSION {
        for session in SESSIONS {
            let body = json!({"workspace": "acme", "session": session, "data": {"n": n}});
            let response = first.post("/v1/callbacks/test", &body).await;
            assert_eq!(response.status(), 202);
            let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            sent.insert(id, (session.to_owned(), n));
        }
    }
    // Let the first attempts fail against the closed port, then kill without any shutdown.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();

    let second = Sidecar::serve(dir.path(), &config);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rx = TestReceiver::start_on(endpoint).await;

    let mut first_seen: HashMap<String, Vec<u8>> = HashMap::new();
    let mut order: HashMap<String, Vec<usize>> = HashMap::new();
    while first_seen.len() < sent.len() {
        let got = rx.next(Duration::from_secs(30)).await;
        verify::standard_webhooks(SECRET_B, &got).expect("signed with every configured secret");
        let id = got.header("webhook-id").to_owned();
        let (session, n) =
            sent.get(&id).unwrap_or_else(|| panic!("unknown webhook-id {id}")).clone();
        match first_seen.get(&id) {
            Some(body) => assert_eq!(body, &got.body, "a duplicate is the same event"),
            None => {
                assert_eq!(got.json()["id"], id.as_str());
                first_seen.insert(id, got.body.clone());
                order.entry(session).or_default().push(n);
            }
        }
    }
    for session in SESSIONS {
        assert_eq!(order[session], (0..PER_SESSION).collect::<Vec<_>>(), "order of {session}");
    }
    let ids: HashSet<&String> = first_seen.keys().collect();
    assert_eq!(ids.len(), SESSIONS.len() * PER_SESSION);
    drop(second);
}
