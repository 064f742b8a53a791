//! Test harness: a real headless Chromium per test (own temp profile, killed and reaped in Drop
//! even when the test panics), a page wired like the engine wires WhatsApp Web (WPPConfig and an
//! event glue as init scripts, events out through one Runtime binding), and a control client.

use chromiumoxide::cdp::browser_protocol::target::SetAutoAttachParams;
use chromiumoxide::cdp::js_protocol::runtime::{
    AddBindingParams, EvaluateParams, EventBindingCalled,
};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use wa_sim::{SimConfig, SimServer};

pub const CHROME_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
pub const T: Duration = Duration::from_secs(10);

/// The engine's glue, in miniature: config before the page's scripts, then every WPP event out
/// through the binding as one JSON string.
const GLUE: &str = r#"
window.WPPConfig = { disableGoogleAnalytics: true, deviceName: 'wa-sim-it' };
(function () {
  const send = (name, args) => { try { window.__simEvents(JSON.stringify({ name, args, at: Date.now() })); } catch (e) {} };
  const t = setInterval(() => {
    if (!window.WPP) return;
    clearInterval(t);
    window.WPP.onAny((name, ...args) => send(name, args));
    send('glue.attached', [window.WPP.isReady]);
  }, 2);
})();
"#;

pub fn start_sim(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg).expect("sim starts")
}

/// A Chromium process on a profile directory. Dropping it kills and reaps the process.
pub struct Chrome {
    browser: Option<Browser>,
    handler: JoinHandle<()>,
}

impl Chrome {
    pub async fn launch(profile: &Path) -> Chrome {
        let config = BrowserConfig::builder()
            .chrome_executable(CHROMIUM)
            .disable_default_args()
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile)
            .viewport(None)
            .launch_timeout(Duration::from_secs(20))
            .request_timeout(Duration::from_secs(10))
            .args([
                "disable-gpu",
                "disable-dev-shm-usage",
                "no-first-run",
                "no-default-browser-check",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "disable-quic",
                "password-store=basic",
                "disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup",
            ])
            .build()
            .expect("browser config");
        let (browser, mut handler) = Browser::launch(config).await.expect("chromium launches");
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Chrome { browser: Some(browser), handler }
    }

    fn browser(&self) -> &Browser {
        self.browser.as_ref().expect("browser open")
    }

    /// A page on `url`, user agent overridden unless `ua` is None, glue installed, service-worker
    /// auto-attach fixed, navigated.
    pub async fn open(&self, url: &str, ua: Option<&str>) -> SimPage {
        let page = self.browser().new_page("about:blank").await.expect("new page");
        page.execute(SetAutoAttachParams {
            auto_attach: true,
            wait_for_debugger_on_start: false,
            flatten: Some(true),
            filter: None,
        })
        .await
        .expect("auto-attach");
        if let Some(ua) = ua {
            page.set_user_agent(ua).await.expect("ua override");
        }
        let events: Arc<Mutex<Vec<Event>>> = Arc::default();
        let mut stream =
            page.event_listener::<EventBindingCalled>().await.expect("binding listener");
        let sink = events.clone();
        let listener = tokio::spawn(async move {
            while let Some(ev) = stream.next().await {
                if ev.name != "__simEvents" {
                    continue;
                }
                if let Ok(v) = serde_json::from_str::<Value>(&ev.payload) {
                    let name = v["name"].as_str().unwrap_or_default().to_string();
                    // Page clock (ms) of the emission, for timing checks free of CDP jitter.
                    let at = v["at"].as_u64().unwrap_or(0);
                    sink.lock().unwrap().push((name, v["args"].clone(), Instant::now(), at));
                }
            }
        });
        page.execute(AddBindingParams::new("__simEvents")).await.expect("binding");
        page.evaluate_on_new_document(GLUE).await.expect("glue");
        tokio::time::timeout(T, page.goto(url)).await.expect("goto in time").expect("goto");
        SimPage { page, events, listener }
    }

    /// Close gracefully (so the profile is flushed), then reap; kill if it hangs.
    pub async fn close(mut self) {
        if let Some(mut b) = self.browser.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), b.close()).await;
            if tokio::time::timeout(Duration::from_secs(5), b.wait()).await.is_err() {
                let _ = b.kill().await;
            }
        }
        self.handler.abort();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        if let Some(mut b) = self.browser.take() {
            if let Some(child) = b.get_mut_child() {
                let inner = child.as_mut_inner();
                let _ = inner.start_kill();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = inner.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.handler.abort();
    }
}

/// (name, args, received at, page clock ms at emission)
pub type Event = (String, Value, Instant, u64);

/// A page and every WPP event it emitted, in order.
pub struct SimPage {
    pub page: Page,
    events: Arc<Mutex<Vec<Event>>>,
    listener: JoinHandle<()>,
}

impl Drop for SimPage {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl SimPage {
    pub fn names(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|(n, _, _, _)| n.clone()).collect()
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Page-clock times (ms) at which events named `name` were emitted since `from`.
    pub fn emitted_at(&self, name: &str, from: usize) -> Vec<u64> {
        self.events()
            .into_iter()
            .skip(from)
            .filter(|(n, ..)| n == name)
            .map(|(.., at)| at)
            .collect()
    }

    /// Events named `name` since `from`: (args, when).
    pub fn all(&self, name: &str, from: usize) -> Vec<(Value, Instant)> {
        self.events()
            .into_iter()
            .skip(from)
            .filter(|(n, ..)| n == name)
            .map(|(_, a, t, _)| (a, t))
            .collect()
    }

    /// Position in the event log, to wait for events after it.
    pub fn mark(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    pub fn names_since(&self, mark: usize) -> Vec<String> {
        self.names().into_iter().skip(mark).collect()
    }

    /// Wait for the first event named `name` at or after `from`; returns (index, args).
    pub async fn wait_event_from(
        &self,
        name: &str,
        from: usize,
        timeout: Duration,
    ) -> (usize, Value) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(hit) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, (n, ..))| n == name)
            {
                return (hit.0, hit.1 .1.clone());
            }
            assert!(
                Instant::now() < deadline,
                "no `{name}` within {timeout:?}; saw {:?}",
                self.names_since(from)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_event(&self, name: &str) -> Value {
        self.wait_event_from(name, 0, T).await.1
    }

    /// Evaluate `expr` (awaited) in the page; JSON in, JSON out. A rejection comes back as
    /// `Err({code, message})`.
    pub async fn call(&self, expr: &str) -> Result<Value, Value> {
        let js = format!(
            "(async () => {{ try {{ const r = await ({expr}); return JSON.stringify({{ok: r === undefined ? null : r}}); }} \
             catch (e) {{ return JSON.stringify({{err: {{code: e && e.code, message: String(e && e.message || e), name: e && e.name}}}}); }} }})()"
        );
        let params = EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("eval params");
        let res = tokio::time::timeout(T, self.page.evaluate_expression(params))
            .await
            .expect("eval in time")
            .expect("eval");
        let text: String = res.into_value().expect("string result");
        let v: Value = serde_json::from_str(&text).expect("json result");
        match v.get("err") {
            Some(e) => Err(e.clone()),
            None => Ok(v["ok"].clone()),
        }
    }

    pub async fn ok(&self, expr: &str) -> Value {
        match self.call(expr).await {
            Ok(v) => v,
            Err(e) => panic!("`{expr}` failed: {e}"),
        }
    }

    /// Poll a JS boolean expression until true.
    pub async fn until(&self, expr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.call(expr).await != Ok(json!(true)) {
            assert!(
                Instant::now() < deadline,
                "`{expr}` not true within {timeout:?}; events {:?}",
                self.names()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A per-test profile directory, removed on drop. Chromium's helper processes can still write
/// into it for a moment after the browser process is reaped, so removal is retried.
pub struct Profile(PathBuf);

impl Profile {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn profile() -> Profile {
    let dir = tempfile::Builder::new().prefix("wa-sim-it-").tempdir().expect("temp profile");
    Profile(dir.keep())
}

/// Control-API client (plain reqwest over HTTP).
pub struct Ctl {
    base: String,
    http: reqwest::Client,
}

impl Ctl {
    pub fn new(sim: &SimServer) -> Ctl {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ctl { base: sim.control_url(), http: reqwest::Client::new() }
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        r.json().await.expect("json")
    }

    /// POST and return (status, body).
    pub async fn post_status(&self, path: &str, body: Value) -> (u16, Value) {
        let r =
            self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post_status(path, body).await;
        assert_eq!(status, 200, "POST {path} → {status} {v}");
        v
    }

    /// A phone sends a text (`POST /messages`); returns `{id, key, sender_key, t}`.
    pub async fn send_text_json(&self, from: &str, to: &str, text: &str) -> Value {
        self.post("/messages", json!({"from": from, "to": to, "type": "text", "text": text})).await
    }

    /// The QR text the (only) page in state `qr` shows.
    pub async fn current_qr(&self) -> String {
        let deadline = Instant::now() + T;
        loop {
            let pages = self.get("/pages").await;
            if let Some(qr) = pages
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["state"] == "qr")
                .and_then(|p| p["qr"].as_str())
            {
                return qr.to_string();
            }
            assert!(Instant::now() < deadline, "no page shows a QR: {pages}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Scan whatever QR a page shows. A code can rotate between reading and scanning on a
    /// loaded machine; then read again.
    pub async fn scan(&self, phone: &str) -> Value {
        for _ in 0..5 {
            let code = self.current_qr().await;
            let (status, body) =
                self.post_status("/scan", json!({"code": code, "phone": phone})).await;
            match status {
                200 => return body,
                404 => continue,
                _ => panic!("scan → {status} {body}"),
            }
        }
        panic!("could not scan a current QR code in 5 tries");
    }
}

/// Open a page on the sim and log `phone` in by scanning; waits until main is loaded.
pub async fn linked_page(chrome: &Chrome, sim: &SimServer, ctl: &Ctl, phone: &str) -> SimPage {
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    ctl.scan(phone).await;
    page.wait_event("conn.main_loaded").await;
    page
}
