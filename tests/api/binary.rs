//! The built binary, as an operator and a host developer use it: `serve`, `sign`, `keygen`,
//! `config check`, and production refusing to start.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::helpers::{init, TEST_KEY_B64};

const BIN: &str = env!("CARGO_BIN_EXE_wa-sidecar");

/// The running sidecar; stopped and reaped on drop, even when the test fails, and so are the
/// browsers it started.
pub struct Sidecar {
    pub child: Child,
    pub address: String,
    /// The folder it runs in: every browser it starts has its profile below it.
    dir: PathBuf,
    /// Every stdout line (the log) after the listening line.
    log: mpsc::Receiver<String>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // SIGTERM, as a supervisor would: the sidecar closes its browsers itself. SIGKILL only if
        // it does not exit in time (or was killed by the test already).
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Browsers of a sidecar that died without closing them (kill -9 in a test) are in their
        // own process groups: kill whatever is left under this folder.
        wa_sidecar::engine::kill_orphans(std::slice::from_ref(&self.dir), Duration::from_secs(5));
    }
}

/// A command run in `dir` with a clean slate: no inherited SIDECAR_* settings.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SIDECAR") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

/// A config file for `dir`: port 0, text logs, one key in a 0600 file.
fn write_config(dir: &Path) -> (PathBuf, PathBuf) {
    write_config_logging(dir, "text")
}

fn write_config_logging(dir: &Path, log_format: &str) -> (PathBuf, PathBuf) {
    let key = dir.join("host.key");
    std::fs::write(&key, TEST_KEY_B64).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.join("sidecar.toml");
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\ndata_dir = \"{d}/data\"\nsessions_dir = \"{d}/sessions\"\nworkers = 1\n\n\
         [log]\nformat = \"{f}\"\n\n[[auth.keys]]\nid = \"host\"\nsecret_file = \"{k}\"\nworkspaces = [\"*\"]\n",
        d = dir.display(),
        k = key.display(),
        f = log_format
    );
    std::fs::write(&config, text).unwrap();
    (config, key)
}

pub fn serve(dir: &Path, config: &Path) -> Sidecar {
    let mut child = command(dir)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut sidecar = Sidecar { child, address: String::new(), log, dir: dir.to_owned() };
    let deadline = Instant::now() + Duration::from_secs(20);
    while sidecar.address.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line =
            sidecar.log.recv_timeout(left).expect("the sidecar logs its address within 20 s");
        if let Some(rest) = line.split("listening on http://").nth(1).map(|r| format!("http://{r}"))
        {
            let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
            sidecar.address = rest[..end].to_owned();
        }
    }
    sidecar
}

impl Sidecar {
    /// The first log line containing `needle`, waiting up to 10 s for it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {needle:?} within 10 s"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

fn sign(
    dir: &Path,
    key: &Path,
    method: &str,
    url: &str,
    body: Option<&Path>,
    extra: &[&str],
) -> String {
    let mut cmd = command(dir);
    cmd.args(["sign", "--key-id", "host", "--key-file"]).arg(key).args([method, url]).args(extra);
    if let Some(body) = body {
        cmd.arg("--body").arg(body);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "sign failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn with_headers(mut request: reqwest::RequestBuilder, printed: &str) -> reqwest::RequestBuilder {
    for line in printed.lines() {
        let (name, value) = line.split_once(": ").expect("Name: value lines");
        request = request.header(name, value);
    }
    request
}

#[tokio::test]
async fn the_binary_serves_requests_signed_by_its_sign_command() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (config, key) = write_config(dir.path());
    let sidecar = serve(dir.path(), &config);
    let client = reqwest::Client::new();

    let url = format!("{}/v1/workspaces/acme?verbose=1", sidecar.address);
    let headers = sign(dir.path(), &key, "GET", &url, None, &[]);
    let response = with_headers(client.get(&url), &headers).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"id": "acme", "sessions": 0})
    );

    // Replaying the same printed headers is refused.
    assert_eq!(with_headers(client.get(&url), &headers).send().await.unwrap().status(), 401);

    let body = dir.path().join("body.json");
    std::fs::write(&body, br#"{"message":"from the CLI"}"#).unwrap();
    let url = format!("{}/v1/workspaces/acme/ping", sidecar.address);
    let headers = sign(dir.path(), &key, "post", &url, Some(&body), &[]);
    let response = with_headers(client.post(&url), &headers)
        .header("Content-Type", "application/json")
        .body(std::fs::read(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["message"], "from the CLI");
}

#[test]
fn sign_reproduces_the_design_test_vector_and_prints_curl() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = write_config(dir.path());
    let body = dir.path().join("body.json");
    std::fs::write(&body, br#"{"to":"15551234567","type":"text","text":{"body":"hi"}}"#).unwrap();
    let url = "http://127.0.0.1:8787/v1/workspaces/acme/sessions/main/messages";
    let vector = ["--timestamp", "1767225600", "--nonce", "3f1c2a9e8b7d4c6a9e0f1b2c3d4e5f60"];
    let printed = sign(dir.path(), &key, "POST", url, Some(&body), &vector);
    assert!(
        printed.contains(
            "X-HMAC-Signature: v1=055a757e7961bf94582517f1172a1abed4a2c57a1e7e7b7cc3b625c23ca81bf6"
        ),
        "{printed}"
    );
    let curl =
        sign(dir.path(), &key, "POST", url, Some(&body), &[&vector[..], &["--curl"]].concat());
    assert!(curl.starts_with("curl -sS -X POST -H 'X-Key-Id: host'"), "{curl}");
    assert!(
        curl.contains("--data-binary @") && curl.trim_end().ends_with(&format!("'{url}'")),
        "{curl}"
    );
}

#[test]
fn keygen_prints_two_fresh_32_byte_keys() {
    let dir = tempfile::tempdir().unwrap();
    let first = String::from_utf8(run(command(dir.path()).arg("keygen")).stdout).unwrap();
    let second = String::from_utf8(run(command(dir.path()).arg("keygen")).stdout).unwrap();
    for name in ["hmac_key=", "vault_master_key="] {
        let value = |out: &str| {
            out.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned).expect("a key line")
        };
        let key = base64::engine::general_purpose::STANDARD.decode(value(&first)).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(value(&first), value(&second), "keys are random");
    }
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap()
        + "\n[[auth.keys]]\nid = \"inline\"\nsecret = \""
        + TEST_KEY_B64
        + "\"\nworkspaces = [\"acme\"]\n";
    std::fs::write(&config, text).unwrap();
    let out = run(command(dir.path()).args(["config", "check", "--config"]).arg(&config));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("max_skew_secs = 300") && stdout.contains("host.key"), "{stdout}");
    assert!(!stdout.contains(TEST_KEY_B64), "the inline secret is redacted:\n{stdout}");

    std::fs::write(&config, "[auth]\nmax_skew_secs = 0\nallow_ips = [\"10.0.0.0/33\"]\n").unwrap();
    let out = run(command(dir.path()).args(["config", "check", "--config"]).arg(&config));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("auth.max_skew_secs: must be between 1 and 3600")
            && stderr.contains("auth.allow_ips[0]"),
        "{stderr}"
    );
}

#[test]
fn the_binary_refuses_production_without_a_key_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidecar.toml");
    std::fs::write(
        &config,
        format!("[server]\nbind = \"127.0.0.1:0\"\ndata_dir = \"{}/data\"\n", dir.path().display()),
    )
    .unwrap();
    let out = run(command(dir.path())
        .env("SIDECAR_ENV", "production")
        .args(["serve", "--config"])
        .arg(&config));
    assert!(!out.status.success(), "production must not start without keys");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.keys: no HMAC key configured"), "{stderr}");
}

#[tokio::test]
async fn json_logs_carry_one_request_span_with_its_id() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config_logging(dir.path(), "json");
    let sidecar = serve(dir.path(), &config);
    let response = reqwest::Client::new()
        .get(format!("{}/v1/workspaces/acme", sidecar.address))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let refused: serde_json::Value =
        serde_json::from_str(&sidecar.wait_for_log("request refused")).expect("a JSON log line");
    assert_eq!(refused["fields"]["reason"], "missing_header");
    assert_eq!(refused["span"]["request_id"], "trace-me-42");
    let served: serde_json::Value =
        serde_json::from_str(&sidecar.wait_for_log("\"served\"")).expect("a JSON log line");
    assert_eq!(served["span"]["request_id"], "trace-me-42");
    assert_eq!(served["span"]["path"], "/v1/workspaces/acme");
    assert_eq!(served["fields"]["status"], 401);
}

#[test]
fn keys_can_come_from_the_environment_and_a_missing_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidecar.toml");
    let text = "[[auth.keys]]\nid = \"host\"\nsecret_env = \"WA_SIDECAR_TEST_KEY\"\nworkspaces = [\"*\"]\n";
    std::fs::write(&config, text).unwrap();
    let check = |cmd: &mut Command| run(cmd.args(["config", "check", "--config"]).arg(&config));

    // Development mode, so other sections' production secrets are not needed here.
    let out = check(command(dir.path()).env("WA_SIDECAR_TEST_KEY", TEST_KEY_B64));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = check(
        command(dir.path()).env("SIDECAR_ENV", "production").env_remove("WA_SIDECAR_TEST_KEY"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("auth.keys[0].secret_env: key \"host\": environment variable WA_SIDECAR_TEST_KEY is not set"),
        "{stderr}"
    );
}

#[test]
fn development_only_warns_about_a_world_readable_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (config, key) = write_config(dir.path());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(command(dir.path()).args(["config", "check", "--config"]).arg(&config));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: auth.keys[0].secret_file") && stderr.contains("world-readable"),
        "{stderr}"
    );

    let out = run(command(dir.path())
        .env("SIDECAR_ENV", "production")
        .args(["config", "check", "--config"])
        .arg(&config));
    assert!(!out.status.success(), "production refuses the same file");
}

#[test]
fn the_production_example_config_passes_config_check_with_secrets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, TEST_KEY_B64).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let example = include_str!("../../config/production.example.toml")
        .replace("/run/secrets/wa-sidecar-hmac", key.to_str().unwrap());
    let config = dir.path().join("production.toml");
    std::fs::write(&config, example).unwrap();
    let out = run(command(dir.path())
        .env("SIDECAR_ENV", "production")
        .env("SIDECAR__VAULT__MASTER_KEYS", format!("k1:{TEST_KEY_B64}"))
        .env("SIDECAR__CALLBACKS__SECRETS", "whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtMzItYnl0ZXMhISE=")
        .args(["config", "check", "--config"])
        .arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("spatie_signature = true"), "{shown}");
    assert!(!shown.contains(TEST_KEY_B64), "secrets are redacted");
}
