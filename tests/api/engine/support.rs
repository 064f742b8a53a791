//! Test helpers: a local page server that doubles as a forward proxy (so every request the
//! browser makes outside localhost is recorded), engine construction with short timeouts, and
//! event waiting with bounds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_sidecar::engine::process::group_members;
use wa_sidecar::engine::{ChromiumEngine, Engine, EngineConfig, EngineEvent, StartSpec};
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};

pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// These tests need Debian's Chromium (ops/setup.sh installs it). Without it they fail: a test
/// that passes by skipping itself would hide a broken setup.
pub fn require_chromium() {
    assert!(Path::new(CHROMIUM).exists(), "no Chromium at {CHROMIUM}: run ops/setup.sh");
}

/// The page served at `/`: reports what it sees to `/report`, then (as a control that the proxy
/// log works) sends one beacon to a non-local host.
pub const REPORTING_PAGE: &str = r#"<!doctype html><html><head><title>blank</title></head><body>
<script>
setTimeout(() => {
  const W = window.WPP;
  const state = {
    wpp: typeof W,
    isReady: W ? W.isReady : null,
    version: W ? W.version : null,
    analyticsOff: W && W.config ? W.config.disableGoogleAnalytics : null,
    ua: navigator.userAgent,
    webdriver: navigator.webdriver,
  };
  fetch('/report?' + encodeURIComponent(JSON.stringify(state))).then(() => {
    setTimeout(() => navigator.sendBeacon('https://beacon-control.example/collect', 'x'), 1500);
  });
}, 1500);
</script></body></html>"#;

/// What the server saw.
#[derive(Default)]
pub struct Log {
    /// Query strings of `/report` calls.
    pub reports: Vec<String>,
    /// Request lines that came through the proxy: anything not addressed to this server.
    pub proxied: Vec<String>,
}

pub struct PageServer {
    pub port: u16,
    pub log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PageServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = task_log.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let Ok(n) = sock.read(&mut buf).await else { return };
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = head.lines().next().unwrap_or("").to_owned();
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (status, body) = if !target.starts_with('/') {
                        log.lock().unwrap().proxied.push(line);
                        ("502 Bad Gateway", String::new())
                    } else if let Some(q) = target.strip_prefix("/report?") {
                        log.lock().unwrap().reports.push(percent_decode(q));
                        ("200 OK", "ok".to_owned())
                    } else if target == "/" {
                        ("200 OK", REPORTING_PAGE.to_owned())
                    } else {
                        ("404 Not Found", String::new())
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Self { port, log, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn reports(&self) -> Vec<serde_json::Value> {
        self.log.lock().unwrap().reports.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
    }

    pub fn proxied(&self) -> Vec<String> {
        self.log.lock().unwrap().proxied.clone()
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub fn repo_bridge() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge/wppconnect-wa.js")
}

/// Short timeouts: a blank local page loads in well under a second.
pub fn test_config(url: String) -> EngineConfig {
    EngineConfig {
        chromium_path: CHROMIUM.into(),
        wa_web_url: url,
        bridge_path: repo_bridge(),
        inject_bridge: false,
        launch_timeout_ms: 20_000,
        cdp_timeout_ms: 5_000,
        ready_timeout_ms: 20_000,
        close_grace_ms: 2_000,
        probe_interval_ms: 0,
        ..EngineConfig::default()
    }
}

/// One engine with its own profile dir. The engine's own Drop kills its process group if a test
/// panics before stop(); the temp dir goes after it.
pub struct TestEngine {
    pub engine: ChromiumEngine,
    pub events: mpsc::Receiver<EngineEvent>,
    pub profile: PathBuf,
    pub _dir: tempfile::TempDir,
}

impl TestEngine {
    /// Stops the engine and asserts that no process of its browser's group is left.
    pub async fn stop_leaving_nothing(&mut self) {
        let pgid = self.engine.pgid().expect("a running browser");
        self.engine.stop().await.unwrap();
        assert_eq!(group_members(pgid), Vec::<u32>::new(), "processes left in group {pgid}");
    }

    pub fn new(config: EngineConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile");
        let (_, events) = mpsc::channel(1);
        Self { engine: ChromiumEngine::new(Arc::new(config)), events, profile, _dir: dir }
    }

    pub fn spec(&self) -> StartSpec {
        StartSpec {
            key: SessionKey::new(
                WorkspaceId::parse("test").unwrap(),
                SessionId::parse("s1").unwrap(),
            ),
            profile_dir: self.profile.clone(),
        }
    }

    /// Starts a run with a fresh event channel.
    pub async fn start(&mut self) -> Result<(), wa_sidecar::engine::EngineError> {
        use wa_sidecar::engine::Engine;
        let (tx, rx) = mpsc::channel(64);
        self.events = rx;
        let spec = self.spec();
        self.engine.start(spec, tx).await
    }

    /// Waits (bounded) for the first event matching `pred`; returns every event seen until then.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        pred: impl Fn(&EngineEvent) -> bool,
    ) -> Vec<EngineEvent> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => {
                    let hit = pred(&ev);
                    seen.push(ev);
                    if hit {
                        return seen;
                    }
                }
                Ok(None) => panic!("event channel closed; seen {seen:?}"),
                Err(_) => panic!("no matching event within {within:?}; seen {seen:?}"),
            }
        }
    }
}

/// Polls `check` every 50 ms until it returns Some, or panics after `within`.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
