//! `spawn_app()` and signed-request helpers shared by every integration test module.
//!
//! The signer here is written independently of `wa_sidecar::api::auth::signature` (from the
//! scheme in DESIGN.md), so a mistake in the server's canonical string cannot hide behind the
//! same mistake in the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use actix_web::dev::ServerHandle;
use actix_web::web;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use wa_sidecar::config::{KeyConfig, Settings};
use wa_sidecar::startup::{AppState, Application};

/// DESIGN.md's test key: ASCII "sidecar-test-secret-32-bytes-!!!".
pub const TEST_KEY_B64: &str = "c2lkZWNhci10ZXN0LXNlY3JldC0zMi1ieXRlcy0hISE=";
pub const TEST_KEY_ID: &str = "test";

/// A key the tests sign with.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub id: String,
    pub secret: Vec<u8>,
}

impl TestKey {
    pub fn new(id: &str, secret_b64: &str) -> Self {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64)
            .expect("test keys are base64");
        Self { id: id.into(), secret }
    }

    /// A fresh random 32-byte key.
    pub fn random(id: &str) -> Self {
        Self { id: id.into(), secret: rand::random::<[u8; 32]>().to_vec() }
    }

    pub fn b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.secret)
    }

    /// The `[[auth.keys]]` entry for this key (inline secret).
    pub fn config(&self, workspaces: &[&str]) -> KeyConfig {
        KeyConfig {
            id: self.id.clone(),
            secret: Some(self.b64()),
            workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
            ..Default::default()
        }
    }
}

pub fn test_key() -> TestKey {
    TestKey::new(TEST_KEY_ID, TEST_KEY_B64)
}

pub struct TestApp {
    /// `http://127.0.0.1:{port}`
    pub address: String,
    pub port: u16,
    pub settings: Settings,
    /// Signs requests unless a test picks another key.
    pub key: TestKey,
    pub client: reqwest::Client,
    pub dir: TempDir,
    /// The app's shared state, for tests that look behind the HTTP surface.
    pub state: web::Data<AppState>,
    handle: ServerHandle,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

static INIT: Once = Once::new();

/// Process-wide test setup: the TLS provider reqwest needs, and logs when `TEST_LOG` is set.
pub fn init() {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some() {
            let _ =
                tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().try_init();
        }
    });
}

/// Development-mode settings on port 0 in `dir`, with [`test_key`] allowed everywhere.
pub fn test_settings(dir: &Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.data_dir = dir.join("data");
    settings.server.sessions_dir = dir.join("sessions");
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 1;
    settings.auth.keys = vec![test_key().config(&["*"])];
    settings.vault.master_keys = vec![format!("test:{TEST_VAULT_KEY_B64}")];
    settings.callbacks.secrets = vec![TEST_CALLBACK_SECRET.into()];
    settings
}

/// The Standard Webhooks secret tests sign callbacks with (production requires one).
pub const TEST_CALLBACK_SECRET: &str = "whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtMzItYnl0ZXMhISE=";

/// The vault master key tests seal with (32 bytes, base64), so production-mode tests start.
pub const TEST_VAULT_KEY_B64: &str = "dmF1bHQtdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with the settings adjusted first (other sections, keys, limits).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(dir, configure).await
}

/// Starts the app on `dir` (e.g. a second app on the data of a first one).
pub async fn spawn_app_in(dir: TempDir, configure: impl FnOnce(&mut Settings)) -> TestApp {
    init();
    let mut settings = test_settings(dir.path());
    configure(&mut settings);
    let key = settings
        .auth
        .keys
        .first()
        .and_then(|k| k.secret.as_deref().map(|s| TestKey::new(&k.id, s)))
        .unwrap_or_else(test_key);
    let app = Application::build(settings.clone()).await.expect("the app builds");
    let port = app.port();
    let handle = app.handle();
    let state = app.state();
    let serving = Some(tokio::spawn(app.run_until_stopped()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        settings,
        key,
        client,
        dir,
        state,
        handle,
        serving,
    }
}

impl TestApp {
    /// Stops the app gracefully, as SIGTERM would (the server drains, every browser closes and
    /// its login is stored), and hands back its folder to start another app on the same data.
    pub async fn stop(mut self) -> TempDir {
        self.handle.stop(true).await;
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.settings.server.data_dir.clone()
    }

    /// An unsigned GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// A signed request to build on: `.query()`, `.json()`, `.key()`, `.tamper()`, then `.send()`.
    pub fn signed(&self, method: Method, path: &str) -> SignedRequest<'_> {
        SignedRequest {
            app: self,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            key: self.key.clone(),
            send_key_id: true,
            timestamp: unix_now(),
            nonce: hex::encode(rand::random::<[u8; 16]>()),
            headers: Vec::new(),
            tamper: None,
        }
    }

    pub async fn signed_get(&self, path: &str) -> reqwest::Response {
        self.signed(Method::GET, path).send().await
    }

    pub async fn signed_post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.signed(Method::POST, path).json(body).send().await
    }

    /// Scrapes `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics body")
    }
}

/// What goes on the wire, which [`SignedRequest::tamper`] may change after signing.
#[derive(Debug, Clone)]
pub struct Wire {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// A change applied to the wire after signing.
type Tamper<'a> = Box<dyn FnOnce(&mut Wire) + 'a>;

pub struct SignedRequest<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<(Vec<u8>, &'static str)>,
    key: TestKey,
    send_key_id: bool,
    timestamp: i64,
    nonce: String,
    headers: Vec<(String, String)>,
    tamper: Option<Tamper<'a>>,
}

impl<'a> SignedRequest<'a> {
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some((serde_json::to_vec(body).expect("json"), "application/json"));
        self
    }

    pub fn raw_body(mut self, body: impl Into<Vec<u8>>, content_type: &'static str) -> Self {
        self.body = Some((body.into(), content_type));
        self
    }

    pub fn key(mut self, key: &TestKey) -> Self {
        self.key = key.clone();
        self
    }

    /// Leaves out `X-Key-Id` (allowed when the server has a single key).
    pub fn without_key_id(mut self) -> Self {
        self.send_key_id = false;
        self
    }

    pub fn timestamp(mut self, unix_secs: i64) -> Self {
        self.timestamp = unix_secs;
        self
    }

    pub fn nonce(mut self, nonce: &str) -> Self {
        self.nonce = nonce.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Changes the request after it was signed (to prove the signature covers it).
    pub fn tamper(mut self, f: impl FnOnce(&mut Wire) + 'a) -> Self {
        self.tamper = Some(Box::new(f));
        self
    }

    /// The four signature headers for this request as it stands.
    pub fn signature_headers(&self) -> Vec<(String, String)> {
        let body = self.body.as_ref().map(|(b, _)| b.as_slice()).unwrap_or_default();
        let sig = sign(
            &self.key.secret,
            self.timestamp,
            &self.nonce,
            self.method.as_str(),
            &self.path,
            &self.query,
            body,
        );
        let mut headers = vec![
            ("X-Timestamp".to_owned(), self.timestamp.to_string()),
            ("X-Nonce".to_owned(), self.nonce.clone()),
            ("X-HMAC-Signature".to_owned(), format!("v1={sig}")),
        ];
        if self.send_key_id {
            headers.push(("X-Key-Id".to_owned(), self.key.id.clone()));
        }
        headers
    }

    pub async fn send(mut self) -> reqwest::Response {
        let mut headers = self.signature_headers();
        headers.append(&mut self.headers);
        let (body, content_type) = self.body.take().unwrap_or((Vec::new(), ""));
        if !content_type.is_empty() {
            headers.push(("Content-Type".into(), content_type.into()));
        }
        let mut wire =
            Wire { method: self.method, path: self.path, query: self.query, body, headers };
        if let Some(tamper) = self.tamper.take() {
            tamper(&mut wire);
        }
        send_wire(self.app, wire).await
    }
}

pub async fn send_wire(app: &TestApp, wire: Wire) -> reqwest::Response {
    let query = wire
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let url = if query.is_empty() {
        app.url(&wire.path)
    } else {
        format!("{}?{query}", app.url(&wire.path))
    };
    let mut request = app.client.request(wire.method, url);
    for (name, value) in &wire.headers {
        request = request.header(name, value);
    }
    if !wire.body.is_empty() {
        request = request.body(wire.body);
    }
    request.send().await.expect("request sent")
}

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The v1 signature, hex, from DESIGN.md's description.
pub fn sign(
    secret: &[u8],
    timestamp: i64,
    nonce: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> String {
    // Sorted by encoded key, then encoded value (not as "k=v" strings: "a" sorts before "a%20b").
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    pairs.sort();
    let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let canonical = format!(
        "v1\n{timestamp}\n{nonce}\n{method}\n{path}\n{query}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(canonical.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Asserts the error envelope: status, code, a message and a request id equal to the
/// `X-Request-Id` header. Returns the body.
pub async fn assert_envelope(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("X-Request-Id on every response");
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    let error = &body["error"];
    assert_eq!(error["code"], code, "code in {body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    assert_eq!(error["request_id"].as_str(), Some(header_id.as_str()), "request_id in {body}");
    body
}
