//! One session's run in a shared browser (pooled mode): an off-the-record browser context of a
//! [`BrowserPool`] browser, filled from the session's storage snapshot before WhatsApp loads,
//! wired like a run of its own browser, with a [`Snapshotter`] saving the login back.
//!
//! Owns the context, the page and the run's tasks; the browser belongs to the pool.

use std::sync::Arc;

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::Page;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::launch::{self, cdp, Wiring};
use super::pool::{BrowserPool, Lease};
use super::storage::{self, Saver, Schedule};
use super::{EngineConfig, EngineError, EngineEvent, StartSpec};

pub(crate) struct PooledRun {
    pub lease: Lease,
    context: BrowserContextId,
    pub page: Page,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    saver: Arc<Saver>,
    stopping: watch::Sender<bool>,
}

/// Places the session in the pool and starts its page. On failure nothing of it is left.
pub(crate) async fn start(
    config: &Arc<EngineConfig>,
    pool: &Arc<BrowserPool>,
    spec: StartSpec,
    events: mpsc::Sender<EngineEvent>,
) -> Result<PooledRun, EngineError> {
    let lease = pool.acquire(spec.key.workspace.as_str()).await?;
    let t = config.cdp_timeout();
    let browser = &lease.shared.browser;
    let context = match cdp(
        t,
        "create context",
        browser.create_browser_context(CreateBrowserContextParams::default()),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            pool.release(lease).await;
            return Err(e);
        }
    };
    match open(config, &lease, &context, spec, events).await {
        Ok((page, tasks, saver, stopping)) => {
            Ok(PooledRun { lease, context, page, tasks, saver, stopping })
        }
        Err(e) => {
            if let Err(d) =
                cdp(t, "dispose context", browser.dispose_browser_context(context)).await
            {
                tracing::debug!(error = %d, "cannot dispose the context of a failed start");
            }
            pool.release(lease).await;
            Err(e)
        }
    }
}

type Opened = (Page, Vec<(&'static str, JoinHandle<()>)>, Arc<Saver>, watch::Sender<bool>);

async fn open(
    config: &Arc<EngineConfig>,
    lease: &Lease,
    context: &BrowserContextId,
    spec: StartSpec,
    events: mpsc::Sender<EngineEvent>,
) -> Result<Opened, EngineError> {
    let shared = &lease.shared;
    let t = config.cdp_timeout();
    let mut target = CreateTargetParams::new("about:blank");
    target.browser_context_id = Some(context.clone());
    let page = cdp(t, "open page", shared.browser.new_page(target)).await?;
    launch::prepare_page(config, &page).await?;
    let restored =
        storage::restore(&page, &config.wa_web_url, &spec.profile_dir, config.launch_timeout())
            .await?;
    tracing::info!(session = %spec.key, pgid = shared.pgid, restored, "session placed in a shared browser");
    let (stopping, stopping_rx) = watch::channel(false);
    let saver = Arc::new(Saver {
        page: page.clone(),
        profile_dir: spec.profile_dir.clone(),
        timeout: config.launch_timeout(),
        lock: Mutex::new(()),
    });
    let (tx, rx) = mpsc::channel(events.max_capacity());
    let span = tracing::info_span!("engine-pooled", session = %spec.key, pgid = shared.pgid);
    let forward = tokio::spawn(
        forward(rx, events, saver.clone(), stopping_rx.clone()).instrument(span.clone()),
    );
    let wiring = Wiring {
        page: &page,
        pgid: shared.pgid,
        exited: shared.exited(),
        first_script: Some(storage::INIT_SCRIPT),
    };
    let pump = match launch::wire_page(config, wiring, shared.gone(), tx, stopping_rx.clone()).await
    {
        Ok(p) => p,
        Err(e) => {
            forward.abort();
            return Err(e);
        }
    };
    let schedule = Schedule {
        debounce: std::time::Duration::from_millis(config.snapshot_debounce_ms),
        interval: std::time::Duration::from_millis(config.snapshot_interval_ms),
    };
    let snapshots =
        tokio::spawn(storage::run_schedule(saver.clone(), schedule, stopping_rx).instrument(span));
    let tasks = vec![("pump", pump), ("forward", forward), ("snapshots", snapshots)];
    Ok((page, tasks, saver, stopping))
}

/// Passes the pump's events on to the session. `Connected` waits for a snapshot first (bounded
/// by the snapshot's timeout), so a session reported connected has its login on disk, as with a
/// browser of its own. While stop() runs nothing may block on the session's channel.
async fn forward(
    mut rx: mpsc::Receiver<EngineEvent>,
    out: mpsc::Sender<EngineEvent>,
    saver: Arc<Saver>,
    mut stopping: watch::Receiver<bool>,
) {
    while let Some(event) = rx.recv().await {
        if matches!(event, EngineEvent::Connected { .. }) && !*stopping.borrow() {
            saver.save("connected").await;
        }
        if *stopping.borrow() {
            let _ = out.try_send(event);
            continue;
        }
        tokio::select! {
            _ = out.send(event) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    }
}

impl PooledRun {
    /// Final snapshot (if the browser lives) → stop the tasks → dispose the context → give the
    /// place back. Bounded; never fails.
    pub(crate) async fn stop(self, config: &EngineConfig, pool: &BrowserPool) {
        let t = config.cdp_timeout();
        let pgid = self.lease.shared.pgid;
        if self.lease.shared.alive() {
            self.saver.save("stop").await;
        }
        let _ = self.stopping.send(true);
        if self.lease.shared.alive() {
            let browser = &self.lease.shared.browser;
            if let Err(e) =
                cdp(t, "dispose context", browser.dispose_browser_context(self.context)).await
            {
                tracing::debug!(pgid, error = %e, "dispose context failed");
            }
        }
        for (name, task) in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(t, task).await.is_err() {
                tracing::warn!(pgid, "pooled {name} task did not end; aborting it");
                abort.abort();
            }
        }
        pool.release(self.lease).await;
    }

    pub(crate) fn pgid(&self) -> i32 {
        self.lease.shared.pgid
    }

    /// Without an async context to stop in (the engine was dropped): end the tasks now and leave
    /// the context's disposal and the release to a task.
    pub(crate) fn abandon(self, pool: Arc<BrowserPool>) {
        let _ = self.stopping.send(true);
        for (_, task) in &self.tasks {
            task.abort();
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let browser = &self.lease.shared.browser;
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    browser.dispose_browser_context(self.context),
                )
                .await;
                pool.release(self.lease).await;
            });
        }
    }
}
