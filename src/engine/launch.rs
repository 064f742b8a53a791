//! Getting one run going: the profile dir made launchable, Chromium's command line, the user
//! agent, the CDP connection with its handler task, and the page with the bridge wired in.
//! Every step is bounded by a timeout from [`EngineConfig`].

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::inspector::{
    EnableParams as InspectorEnable, EventTargetCrashed,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, NavigateParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, GetTargetsParams, SetAutoAttachParams,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    AddBindingParams, EventBindingCalled, EventExecutionContextCreated,
    EventExecutionContextDestroyed, EventExecutionContextsCleared,
};
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Page};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::bridge::{self, BINDING};
use super::process::{self, ChromiumProcess};
use super::pump::{ContextStreams, Pump};
use super::{EngineConfig, EngineError, EngineEvent};

/// Omnibox WebUI renderers headless Chromium starts for nothing (~100 MiB per browser), the
/// network-time query Chromium 156 sends to Google at startup, and the spare renderer Chromium
/// keeps warm for a next navigation a session never makes (~7 MiB PSS per browser, measured in
/// the sessions bench: docs/performance.md, issue 15).
const DISABLED_FEATURES: &str = "WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,\
                                 NetworkTimeServiceQuerying,SpareRendererForSitePerProcess";

/// Chromium 156 still phones Google at startup despite --disable-background-networking and
/// --disable-component-update: an on-demand component install (update.googleapis.com) and
/// account lookups (accounts.google.com). Pointing both services at a closed local port keeps
/// every request of the browser itself on the machine (measured with a logging proxy).
const DEAD_END: &str = "http://127.0.0.1:9/";

/// Files Chromium leaves in a profile that make the next launch on it fail or misread it.
const STALE_FILES: [&str; 4] =
    ["SingletonLock", "SingletonSocket", "SingletonCookie", "DevToolsActivePort"];

/// Runs one CDP future under `timeout`, naming it in the error.
pub(crate) async fn cdp<T>(
    timeout: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, CdpError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(CdpError::Timeout)) | Err(_) => Err(timeout_error(what, timeout)),
        Ok(Err(e)) => Err(EngineError::Cdp(format!("{what}: {e}"))),
    }
}

pub(crate) fn timeout_error(what: &'static str, after: Duration) -> EngineError {
    EngineError::Timeout { what, after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX) }
}

/// Creates the profile dir and removes the lock files a killed browser leaves behind. Safe because
/// a session's profile is only ever used by that session's single engine (the session `lock`).
pub(crate) fn prepare_profile(dir: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir)?;
    for name in STALE_FILES {
        let path = dir.join(name);
        // Singleton* are symlinks to nowhere once their process is gone; symlink_metadata sees them.
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Chromium's command line. Flags are ours to write in full (no `----flag` surprise).
pub(crate) fn chromium_args(
    config: &EngineConfig,
    profile_dir: &Path,
    user_agent: &str,
) -> Vec<String> {
    let mut disabled = DISABLED_FEATURES.to_owned();
    let mut extra = Vec::new();
    for arg in &config.extra_args {
        let arg = if arg.starts_with("--") { arg.clone() } else { format!("--{arg}") };
        // Chromium keeps only the last --disable-features, so merge rather than override ours.
        match arg.strip_prefix("--disable-features=") {
            Some(more) => {
                disabled.push(',');
                disabled.push_str(more);
            }
            None => extra.push(arg),
        }
    }
    let mut args: Vec<String> = [
        "--disable-gpu",
        // No SwiftShader in the GPU process: the page needs no WebGL, and 2D canvas and
        // compositing stay in software anyway (~10 MiB PSS per browser, docs/performance.md).
        "--disable-software-rasterizer",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-extensions",
        "--disable-blink-features=AutomationControlled",
        "--hide-scrollbars",
        "--mute-audio",
        "--password-store=basic",
        "--window-size=1280,800",
        // DevTools on fds 3/4, no TCP port (see super::pipe).
        "--remote-debugging-pipe",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if config.headless {
        args.push("--headless=new".into());
    }
    if !config.sandbox.enabled() {
        // Root, or a kernel/container without user namespaces: see docs/engine.md "Isolation".
        args.push("--no-sandbox".into());
    }
    args.push(format!("--disable-features={disabled}"));
    args.push(format!("--component-updater=url-source={DEAD_END}"));
    args.push(format!("--gaia-url={DEAD_END}"));
    args.push(format!("--user-agent={user_agent}"));
    args.push(format!("--user-data-dir={}", profile_dir.display()));
    // Lets a later sidecar tell our live browsers from orphans (see process::kill_orphans).
    args.push(format!("{}{}", process::OWNER_SWITCH, process::owner_mark()));
    args.extend(extra);
    // A blank start tab rather than the new-tab page (one renderer less); closed once ours is open.
    args.push("about:blank".into());
    args
}

static DERIVED_UA: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The configured UA, or a regular desktop Chrome UA with the installed major version (the
/// "reduced" UA format Chrome itself sends). WhatsApp Web does not boot for `HeadlessChrome`.
pub(crate) async fn user_agent(config: &EngineConfig) -> Result<String, EngineError> {
    if !config.user_agent.is_empty() {
        return Ok(config.user_agent.clone());
    }
    let ua = DERIVED_UA
        .get_or_try_init(|| async {
            let out = tokio::process::Command::new(&config.chromium_path).arg("--version").kill_on_drop(true).output();
            let out = tokio::time::timeout(config.launch_timeout(), out)
                .await
                .map_err(|_| timeout_error("chromium --version", config.launch_timeout()))??;
            let text = String::from_utf8_lossy(&out.stdout);
            let major = text
                .split_whitespace()
                .find_map(|w| w.split('.').next().filter(|m| w.contains('.') && m.parse::<u32>().is_ok()))
                .ok_or_else(|| EngineError::Launch(format!("cannot read a version from `chromium --version`: {text:?}")))?;
            Ok::<_, EngineError>(format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
            ))
        })
        .await?;
    Ok(ua.clone())
}

/// The connected parts of a run, before the pump starts.
pub(crate) struct Connected {
    pub browser: Browser,
    pub page: Page,
    pub handler: JoinHandle<()>,
}

/// Connects to the DevTools URL and polls the handler in its own task, whose end means the
/// browser is gone.
pub(crate) async fn connect(
    config: &EngineConfig,
    process: &ChromiumProcess,
    ws_url: &str,
) -> Result<(Connected, oneshot::Receiver<String>), EngineError> {
    let (browser, handler, gone) = connect_browser(config, process, ws_url).await?;
    let page = match open_page(config, &browser).await {
        Ok(page) => page,
        Err(e) => {
            handler.abort();
            return Err(e);
        }
    };
    Ok((Connected { browser, page, handler }, gone))
}

/// The browser-level half of [`connect`]: the DevTools connection, its handler task, and the
/// channel that reports the browser gone. Used alone by the pool, whose pages live in contexts.
pub(crate) async fn connect_browser(
    config: &EngineConfig,
    process: &ChromiumProcess,
    ws_url: &str,
) -> Result<(Browser, JoinHandle<()>, oneshot::Receiver<String>), EngineError> {
    let handler_config = HandlerConfig {
        ignore_https_errors: false,
        viewport: None,
        request_timeout: config.cdp_timeout(),
        ..HandlerConfig::default()
    };
    let (browser, mut handler) = cdp(
        config.launch_timeout(),
        "DevTools connection",
        Browser::connect_with_config(ws_url.to_owned(), handler_config),
    )
    .await?;
    let (gone_tx, gone) = oneshot::channel();
    let exited = process.exited();
    let task = async move {
        tokio::pin!(exited);
        let reason = loop {
            tokio::select! {
                item = handler.next() => match item {
                    None => break "browser connection closed".to_owned(),
                    // The websocket broke: chromiumoxide would stay pending from here on.
                    Some(Err(e @ CdpError::Ws(_))) => break format!("browser connection closed ({e})"),
                    Some(Err(e)) => tracing::debug!(error = %e, "CDP handler error"),
                    Some(Ok(())) => {}
                },
                // A closed socket alone leaves chromiumoxide's handler pending forever.
                how = &mut exited => break how,
            }
        };
        tracing::info!(%reason, "CDP handler ended");
        let _ = gone_tx.send(reason);
    };
    let handler =
        tokio::spawn(task.instrument(tracing::info_span!("engine-handler", pgid = process.pgid())));
    // The relay answers at once, but the browser behind it may still be starting: give it the
    // launch timeout (not the per-command one) to answer its first command.
    if let Err(e) = browser_up(config, &browser).await {
        handler.abort();
        return Err(e);
    }
    Ok((browser, handler, gone))
}

/// `Browser.getVersion` until it is answered, within `engine.launch_timeout_ms`.
async fn browser_up(config: &EngineConfig, browser: &Browser) -> Result<(), EngineError> {
    let deadline = tokio::time::Instant::now() + config.launch_timeout();
    loop {
        match cdp(config.cdp_timeout(), "Browser.getVersion", browser.version()).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(EngineError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
    }
}

async fn open_page(config: &EngineConfig, browser: &Browser) -> Result<Page, EngineError> {
    let t = config.cdp_timeout();
    let page = cdp(t, "open page", browser.new_page("about:blank")).await?;
    let targets = cdp(t, "list targets", browser.execute(GetTargetsParams::default())).await?;
    for info in targets.result.target_infos {
        if info.r#type == "page" && &info.target_id != page.target_id() {
            cdp(t, "close startup tab", browser.execute(CloseTargetParams::new(info.target_id)))
                .await?;
        }
    }
    prepare_page(config, &page).await?;
    Ok(page)
}

/// Closes every page of a browser that has no session yet (the startup tab). The pool's browsers
/// keep no page of their own: each session's page lives in its own context.
pub(crate) async fn close_startup_pages(
    config: &EngineConfig,
    browser: &Browser,
) -> Result<(), EngineError> {
    let t = config.cdp_timeout();
    let targets = cdp(t, "list targets", browser.execute(GetTargetsParams::default())).await?;
    for info in targets.result.target_infos {
        if info.r#type == "page" {
            cdp(t, "close startup tab", browser.execute(CloseTargetParams::new(info.target_id)))
                .await?;
        }
    }
    Ok(())
}

/// What every session page needs before it is wired: auto-attach without pausing, crash reports.
pub(crate) async fn prepare_page(config: &EngineConfig, page: &Page) -> Result<(), EngineError> {
    let t = config.cdp_timeout();
    // chromiumoxide auto-attaches with waitForDebuggerOnStart:true and then detaches, which
    // leaves WhatsApp's service worker paused forever on Chromium 156. Attach without pausing.
    let mut attach = SetAutoAttachParams::new(true, false);
    attach.flatten = Some(true);
    cdp(t, "auto-attach", page.execute(attach)).await?;
    cdp(t, "inspector", page.execute(InspectorEnable::default())).await?;
    Ok(())
}

/// Installs the binding and the init scripts, starts the pump, then navigates.
pub(crate) async fn wire_and_navigate(
    config: &EngineConfig,
    conn: &Connected,
    gone: oneshot::Receiver<String>,
    process: &ChromiumProcess,
    events: mpsc::Sender<EngineEvent>,
    stopping: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, EngineError> {
    let wiring = Wiring {
        page: &conn.page,
        pgid: process.pgid(),
        exited: Box::pin(process.exited()),
        first_script: None,
    };
    wire_page(config, wiring, gone, events, stopping).await
}

/// One page to wire: its browser's group and exit, and a document-start script to run before
/// every other (pooled mode's storage script).
pub(crate) struct Wiring<'a> {
    pub page: &'a Page,
    pub pgid: i32,
    pub exited: futures::future::BoxFuture<'static, String>,
    pub first_script: Option<&'static str>,
}

/// [`wire_and_navigate`] for any page, in its own browser or in a context of a shared one.
pub(crate) async fn wire_page(
    config: &EngineConfig,
    wiring: Wiring<'_>,
    gone: oneshot::Receiver<String>,
    events: mpsc::Sender<EngineEvent>,
    stopping: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, EngineError> {
    let Wiring { page, pgid, exited, first_script } = wiring;
    let t = config.cdp_timeout();
    cdp(t, "add binding", page.execute(AddBindingParams::new(BINDING))).await?;
    let mut scripts = bridge::init_scripts(config).await?;
    if let Some(extra) = first_script {
        scripts.insert(0, extra.to_owned());
    }
    for source in scripts {
        cdp(
            t,
            "add init script",
            page.execute(AddScriptToEvaluateOnNewDocumentParams::new(source)),
        )
        .await?;
    }
    let bindings = cdp(t, "binding listener", page.event_listener::<EventBindingCalled>()).await?;
    let contexts = ContextStreams {
        created: cdp(t, "context listener", page.event_listener::<EventExecutionContextCreated>())
            .await?,
        destroyed: cdp(
            t,
            "context listener",
            page.event_listener::<EventExecutionContextDestroyed>(),
        )
        .await?,
        cleared: cdp(t, "context listener", page.event_listener::<EventExecutionContextsCleared>())
            .await?,
    };
    let crashes = cdp(t, "crash listener", page.event_listener::<EventTargetCrashed>()).await?;
    let pump = Pump {
        page: page.clone(),
        pgid,
        events,
        bindings,
        contexts,
        crashes,
        gone,
        exited,
        stopping,
        ready_timeout: config.ready_timeout(),
        probe_interval: config.probe_interval(),
        cdp_timeout: t,
    };
    let pump = tokio::spawn(pump.run().instrument(tracing::info_span!("engine-pump", pgid)));
    navigate(config, page).await.inspect_err(|_| pump.abort())?;
    Ok(pump)
}

/// `Page.navigate`; chromiumoxide answers once the page loaded. A slow load is not a failure
/// (the bridge readiness timeout covers a page that never comes up), a refused one is.
async fn navigate(config: &EngineConfig, page: &Page) -> Result<(), EngineError> {
    match tokio::time::timeout(
        config.launch_timeout(),
        page.execute(NavigateParams::new(config.wa_web_url.clone())),
    )
    .await
    {
        Ok(Ok(resp)) => match resp.result.error_text {
            Some(err) => {
                Err(EngineError::Launch(format!("cannot open {}: {err}", config.wa_web_url)))
            }
            None => Ok(()),
        },
        Ok(Err(CdpError::Timeout)) | Err(_) => {
            tracing::warn!(url = %config.wa_web_url, "page still loading after the navigation timeout; waiting for the bridge");
            Ok(())
        }
        Ok(Err(CdpError::ChromeMessage(err))) => {
            Err(EngineError::Launch(format!("cannot open {}: {err}", config.wa_web_url)))
        }
        Ok(Err(e)) => Err(EngineError::Cdp(format!("navigate: {e}"))),
    }
}
