//! [`ChromiumEngine`]: the [`Engine`] on headless Chromium, driven over CDP (chromiumoxide),
//! talking to WhatsApp Web through the `WPP` bridge: one browser per session, or (pooled mode) a
//! context in a browser shared through [`BrowserPool`] (see `super::pooled`).
//!
//! A run is: Chromium spawned by us in its own process group → DevTools connected, handler task
//! polling → page with binding and init scripts → pump task reporting events. `stop()` closes,
//! waits, kills the group and reaps, each step bounded.

use std::sync::Arc;

use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, Page};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::bridge::guarded_call;
use super::launch::{self, cdp};
use super::pipe;
use super::pool::BrowserPool;
use super::pooled::{self, PooledRun};
use super::process::{self, ChromiumProcess};
use super::{Engine, EngineConfig, EngineError, EngineEvent, StartSpec};
use crate::ids::PhoneNumber;

/// One session's browser, or its context in a shared one (pooled mode). Create one per session;
/// `start`/`stop` may alternate any number of times.
pub struct ChromiumEngine {
    config: Arc<EngineConfig>,
    run: Option<Run>,
    /// Pooled mode: the shared browsers, and this session's place in one while it runs.
    pool: Option<Arc<BrowserPool>>,
    pooled: Option<PooledRun>,
}

/// Everything that exists while a browser runs.
struct Run {
    browser: Browser,
    page: Page,
    process: ChromiumProcess,
    handler: JoinHandle<()>,
    pump: JoinHandle<()>,
    /// Carries DevTools between chromiumoxide and the browser's pipe; ends with the browser.
    relay: JoinHandle<()>,
    stopping: watch::Sender<bool>,
}

impl ChromiumEngine {
    /// An engine with a browser of its own (`engine.sessions_per_browser` = 1).
    pub fn new(config: Arc<EngineConfig>) -> Self {
        Self { config, run: None, pool: None, pooled: None }
    }

    /// An engine whose session runs in a browser of `pool`.
    pub fn pooled(config: Arc<EngineConfig>, pool: Arc<BrowserPool>) -> Self {
        Self { config, run: None, pool: Some(pool), pooled: None }
    }

    /// The page of the current run, whichever kind.
    fn page(&self) -> Result<&Page, EngineError> {
        match (&self.run, &self.pooled) {
            (Some(run), _) => Ok(&run.page),
            (None, Some(run)) => Ok(&run.page),
            (None, None) => Err(EngineError::NotRunning),
        }
    }

    async fn start_run(
        &mut self,
        spec: StartSpec,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<(), EngineError> {
        self.stop_run().await;
        if let Some(pool) = self.pool.clone() {
            self.pooled = Some(pooled::start(&self.config, &pool, spec, events).await?);
            return Ok(());
        }
        let config = self.config.clone();
        launch::prepare_profile(&spec.profile_dir)?;
        let user_agent = launch::user_agent(&config).await?;
        let args = launch::chromium_args(&config, &spec.profile_dir, &user_agent);
        let (parent_ends, child_ends) = pipe::pipes()?;
        let mut process = ChromiumProcess::spawn(&config.chromium_path, &args, child_ends).await?;
        tracing::info!(session = %spec.key, pgid = process.pgid(), "Chromium launched");
        let relay = match pipe::relay(parent_ends, process.pgid(), config.launch_timeout()).await {
            Ok(r) => r,
            Err(e) => {
                process.kill_and_reap(config.close_grace()).await;
                return Err(e.into());
            }
        };
        let (conn, gone) = match launch::connect(&config, &process, &relay.ws_url).await {
            Ok(c) => c,
            Err(e) => {
                relay.task.abort();
                process.kill_and_reap(config.close_grace()).await;
                let tail = process.stderr_tail();
                return Err(EngineError::Launch(format!("{e}; Chromium's stderr: {tail}")));
            }
        };
        let (stopping, stopping_rx) = watch::channel(false);
        match launch::wire_and_navigate(&config, &conn, gone, &process, events, stopping_rx).await {
            Ok(pump) => {
                let launch::Connected { browser, page, handler } = conn;
                let relay = relay.task;
                self.run = Some(Run { browser, page, process, handler, pump, relay, stopping });
                Ok(())
            }
            Err(e) => {
                conn.handler.abort();
                relay.task.abort();
                process.kill_and_reap(config.close_grace()).await;
                Err(e)
            }
        }
    }

    /// Close → wait → kill the group → reap → join tasks. Every step bounded; never fails.
    async fn stop_run(&mut self) {
        if let (Some(run), Some(pool)) = (self.pooled.take(), &self.pool) {
            run.stop(&self.config, pool).await;
        }
        let Some(mut run) = self.run.take() else { return };
        let cfg = &self.config;
        let _ = run.stopping.send(true);
        let pgid = run.process.pgid();
        if let Err(e) = cdp(cfg.cdp_timeout(), "Browser.close", run.browser.close()).await {
            tracing::debug!(pgid, error = %e, "Browser.close did not answer; killing");
        }
        if !run.process.wait_exit(cfg.close_grace()).await {
            tracing::warn!(
                pgid,
                "Chromium did not exit within {} ms of Browser.close; killing its group",
                cfg.close_grace_ms
            );
        }
        // Always, even after a clean exit: helpers (crashpad, zygotes) may outlive the leader.
        run.process.kill_and_reap(cfg.close_grace()).await;
        for (name, task) in [("handler", run.handler), ("pump", run.pump), ("relay", run.relay)] {
            let abort = task.abort_handle();
            if tokio::time::timeout(cfg.cdp_timeout(), task).await.is_err() {
                tracing::warn!(pgid, "engine {name} task did not end; aborting it");
                abort.abort();
            }
        }
        tracing::info!(pgid, "Chromium stopped");
    }

    /// Evaluates a bridge expression; a throw comes back as [`EngineError::Bridge`].
    async fn bridge_call(
        &self,
        call: &'static str,
        expr: &str,
    ) -> Result<serde_json::Value, EngineError> {
        let page = self.page()?;
        let params = EvaluateParams::builder()
            .expression(guarded_call(expr))
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(EngineError::Cdp)?;
        let resp = cdp(self.config.cdp_timeout(), call, page.execute(params)).await?;
        if let Some(ex) = &resp.result.exception_details {
            return Err(EngineError::Bridge { call, code: None, message: ex.text.clone() });
        }
        let value = resp.result.result.value.clone().unwrap_or_default();
        if value["ok"] == serde_json::Value::Bool(true) {
            return Ok(value["value"].clone());
        }
        Err(EngineError::Bridge {
            call,
            code: value["code"].as_str().map(str::to_owned),
            message: value["message"].as_str().unwrap_or("no result").to_owned(),
        })
    }

    async fn logout_now(&self) -> Result<(), EngineError> {
        match self.bridge_call("WPP.conn.logout", "WPP.conn.logout()").await {
            Ok(_) => Ok(()),
            // WhatsApp reloads the page as part of a logout, which can take the call's context with it.
            Err(EngineError::Cdp(msg)) if msg.contains("context") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn pairing_code_now(&self, phone: &PhoneNumber) -> Result<String, EngineError> {
        let digits = serde_json::Value::String(phone.digits().to_owned());
        let value = self
            .bridge_call(
                "WPP.conn.genLinkDeviceCodeForPhoneNumber",
                &format!("WPP.conn.genLinkDeviceCodeForPhoneNumber({digits})"),
            )
            .await?;
        value.as_str().map(str::to_owned).ok_or_else(|| EngineError::Bridge {
            call: "WPP.conn.genLinkDeviceCodeForPhoneNumber",
            code: None,
            message: format!("expected a code, got {value}"),
        })
    }

    async fn screenshot_now(&self) -> Result<Vec<u8>, EngineError> {
        let page = self.page()?;
        cdp(
            self.config.cdp_timeout(),
            "screenshot",
            page.screenshot(ScreenshotParams::builder().build()),
        )
        .await
    }
}

impl Engine for ChromiumEngine {
    fn start(
        &mut self,
        spec: StartSpec,
        events: mpsc::Sender<EngineEvent>,
    ) -> BoxFuture<'_, Result<(), EngineError>> {
        self.start_run(spec, events).boxed()
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
        async move {
            self.stop_run().await;
            Ok(())
        }
        .boxed()
    }

    fn logout(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
        self.logout_now().boxed()
    }

    fn refresh_qr(&mut self) -> BoxFuture<'_, Result<(), EngineError>> {
        async move { self.bridge_call("WPP.conn.refreshQR", "WPP.conn.refreshQR()").await.map(|_| ()) }.boxed()
    }

    fn pairing_code(&mut self, phone: &PhoneNumber) -> BoxFuture<'_, Result<String, EngineError>> {
        let phone = phone.clone();
        async move { self.pairing_code_now(&phone).await }.boxed()
    }

    fn call(
        &mut self,
        call: &'static str,
        expr: String,
    ) -> BoxFuture<'_, Result<serde_json::Value, EngineError>> {
        async move { self.bridge_call(call, &expr).await }.boxed()
    }

    fn screenshot(&mut self) -> BoxFuture<'_, Result<Vec<u8>, EngineError>> {
        self.screenshot_now().boxed()
    }

    fn pgid(&self) -> Option<i32> {
        match (&self.run, &self.pooled) {
            (Some(run), _) => Some(run.process.pgid()),
            (None, Some(run)) => Some(run.pgid()),
            (None, None) => None,
        }
    }
}

impl Drop for ChromiumEngine {
    /// Last resort when a run was never stopped (a panic, a dropped actor): kill the whole group
    /// now; the child handle's kill-on-drop lets tokio reap the leader.
    fn drop(&mut self) {
        if let (Some(run), Some(pool)) = (self.pooled.take(), self.pool.clone()) {
            tracing::warn!(pgid = run.pgid(), "engine dropped while its shared-browser page ran");
            run.abandon(pool);
        }
        if let Some(run) = self.run.take() {
            tracing::warn!(
                pgid = run.process.pgid(),
                "engine dropped while Chromium ran; killing its group"
            );
            let _ = run.stopping.send(true);
            process::kill_group(run.process.pgid());
            run.handler.abort();
            run.pump.abort();
            run.relay.abort();
        }
    }
}
