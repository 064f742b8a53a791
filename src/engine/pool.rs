//! [`BrowserPool`]: the shared Chromium processes of pooled mode (`engine.sessions_per_browser` >
//! 1). Owns every shared browser: launching one (its own process group, a throwaway user-data-dir
//! under the runtime dir, so orphan cleanup finds it), placing a session in a browser with room
//! (never in another workspace's browser unless `engine.pool_across_workspaces`), closing a browser
//! when its last session leaves, and killing and reaping all of them on [`BrowserPool::shutdown`].
//!
//! It never touches a session's page or profile: engines ask it for a [`Lease`] and give it back.
//! A browser that dies stays in the pool as dead until its sessions (which saw `BrowserGone`) give
//! their leases back; the next session to ask gets a freshly launched one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chromiumoxide::cdp::browser_protocol::browser::CloseParams;
use chromiumoxide::Browser;
use tokio::sync::{oneshot, watch, Mutex};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::launch::{self, cdp};
use super::pipe;
use super::process::ChromiumProcess;
use super::{EngineConfig, EngineError};

/// The folder under the runtime dir that holds the shared browsers' user-data-dirs.
pub const POOL_DIR: &str = ".pool";

/// The shared browsers of one sidecar.
pub struct BrowserPool {
    config: Arc<EngineConfig>,
    /// Parent of each browser's user-data-dir (`{runtime_dir}/.pool`).
    dir: PathBuf,
    browsers: Mutex<Vec<Slot>>,
    seq: AtomicU64,
}

struct Slot {
    shared: Arc<SharedBrowser>,
    sessions: usize,
}

/// One shared Chromium process and its DevTools connection.
pub(crate) struct SharedBrowser {
    pub id: u64,
    pub workspace: String,
    pub browser: Browser,
    pub pgid: i32,
    process: Mutex<ChromiumProcess>,
    exited: watch::Receiver<Option<String>>,
    gone: watch::Receiver<Option<String>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    dir: PathBuf,
}

impl SharedBrowser {
    /// Resolves with the reason once the browser is gone (connection closed or process exited).
    pub(crate) fn gone(&self) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        let mut gone = self.gone.clone();
        tokio::spawn(async move {
            if let Ok(v) = gone.wait_for(Option::is_some).await {
                let _ = tx.send(v.clone().unwrap_or_default());
            }
        });
        rx
    }

    /// Resolves when the browser process exited.
    pub(crate) fn exited(&self) -> futures::future::BoxFuture<'static, String> {
        let mut exit = self.exited.clone();
        Box::pin(async move {
            match exit.wait_for(Option::is_some).await {
                Ok(v) => v.clone().unwrap_or_default(),
                Err(_) => "browser closed".to_owned(),
            }
        })
    }

    pub(crate) fn alive(&self) -> bool {
        self.gone.borrow().is_none() && self.exited.borrow().is_none()
    }
}

/// A session's place in a shared browser; give it back with [`BrowserPool::release`].
pub(crate) struct Lease {
    pub shared: Arc<SharedBrowser>,
}

impl BrowserPool {
    pub fn new(config: Arc<EngineConfig>, dir: PathBuf) -> Arc<Self> {
        Arc::new(Self { config, dir, browsers: Mutex::new(Vec::new()), seq: AtomicU64::new(0) })
    }

    /// Every browser of the pool as (process group, sessions placed in it): how the sessions
    /// bench splits a shared browser's memory among its sessions.
    pub async fn occupancy(&self) -> Vec<(i32, usize)> {
        self.browsers.lock().await.iter().map(|s| (s.shared.pgid, s.sessions)).collect()
    }

    /// A place for one session of `workspace`: in a live browser with room, else in a new one.
    /// Launches are serialized (the pool's lock is held), so concurrent starts fill one browser.
    pub(crate) async fn acquire(&self, workspace: &str) -> Result<Lease, EngineError> {
        let cap = usize::try_from(self.config.sessions_per_browser).unwrap_or(usize::MAX);
        let across = self.config.pool_across_workspaces;
        let mut browsers = self.browsers.lock().await;
        let room = browsers.iter_mut().find(|s| {
            s.shared.alive() && s.sessions < cap && (across || s.shared.workspace == workspace)
        });
        if let Some(slot) = room {
            slot.sessions += 1;
            return Ok(Lease { shared: slot.shared.clone() });
        }
        let shared = Arc::new(self.launch(workspace).await?);
        browsers.push(Slot { shared: shared.clone(), sessions: 1 });
        Ok(Lease { shared })
    }

    /// Gives a session's place back; the browser closes when its last session left (or it died).
    pub(crate) async fn release(&self, lease: Lease) {
        let closing = {
            let mut browsers = self.browsers.lock().await;
            let Some(i) = browsers.iter().position(|s| Arc::ptr_eq(&s.shared, &lease.shared))
            else {
                return;
            };
            browsers[i].sessions = browsers[i].sessions.saturating_sub(1);
            (browsers[i].sessions == 0).then(|| browsers.remove(i).shared)
        };
        if let Some(shared) = closing {
            self.close(&shared).await;
        }
    }

    /// Kills and reaps every browser of the pool, whoever still holds a lease. For shutdown.
    pub async fn shutdown(&self) {
        let all: Vec<_> = self.browsers.lock().await.drain(..).map(|s| s.shared).collect();
        for shared in all {
            self.close(&shared).await;
        }
    }

    /// Launches a browser in a fresh directory; on failure neither a process nor the directory
    /// is left.
    async fn launch(&self, workspace: &str) -> Result<SharedBrowser, EngineError> {
        let id = self.seq.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("browser-{}-{id}", std::process::id()));
        let launched = self.launch_in(workspace, id, dir.clone()).await;
        if launched.is_err() {
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
        launched
    }

    async fn launch_in(
        &self,
        workspace: &str,
        id: u64,
        dir: PathBuf,
    ) -> Result<SharedBrowser, EngineError> {
        let config = &self.config;
        let prepare = dir.clone();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&prepare);
            launch::prepare_profile(&prepare)
        })
        .await
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
        let user_agent = launch::user_agent(config).await?;
        let args = launch::chromium_args(config, &dir, &user_agent);
        let (parent_ends, child_ends) = pipe::pipes()?;
        let mut process = ChromiumProcess::spawn(&config.chromium_path, &args, child_ends).await?;
        let pgid = process.pgid();
        tracing::info!(pgid, workspace, "shared Chromium launched");
        let relay = match pipe::relay(parent_ends, pgid, config.launch_timeout()).await {
            Ok(r) => r,
            Err(e) => {
                process.kill_and_reap(config.close_grace()).await;
                return Err(e.into());
            }
        };
        let (browser, handler, gone_once) =
            match launch::connect_browser(config, &process, &relay.ws_url).await {
                Ok(c) => c,
                Err(e) => {
                    relay.task.abort();
                    process.kill_and_reap(config.close_grace()).await;
                    return Err(e);
                }
            };
        if let Err(e) = launch::close_startup_pages(config, &browser).await {
            handler.abort();
            relay.task.abort();
            process.kill_and_reap(config.close_grace()).await;
            return Err(e);
        }
        let (gone_tx, gone) = watch::channel(None);
        let relay_gone = tokio::spawn(
            async move {
                let reason = gone_once.await.unwrap_or_else(|_| "CDP handler dropped".into());
                let _ = gone_tx.send(Some(reason));
            }
            .instrument(tracing::debug_span!("pool-gone", pgid)),
        );
        let (exit_tx, exited) = watch::channel(None);
        let exit = process.exited();
        let watch_exit = tokio::spawn(async move {
            let how = exit.await;
            let _ = exit_tx.send(Some(how));
        });
        Ok(SharedBrowser {
            id,
            workspace: workspace.to_owned(),
            browser,
            pgid,
            process: Mutex::new(process),
            exited,
            gone,
            tasks: std::sync::Mutex::new(vec![handler, relay.task, relay_gone, watch_exit]),
            dir,
        })
    }

    /// Close → wait → kill the group → reap → end its tasks → remove its dir. Bounded; never fails.
    async fn close(&self, shared: &SharedBrowser) {
        let cfg = &self.config;
        let pgid = shared.pgid;
        if shared.alive() {
            if let Err(e) = cdp(
                cfg.cdp_timeout(),
                "Browser.close",
                shared.browser.execute(CloseParams::default()),
            )
            .await
            {
                tracing::debug!(pgid, error = %e, "Browser.close did not answer; killing");
            }
        }
        let mut process = shared.process.lock().await;
        process.wait_exit(cfg.close_grace()).await;
        process.kill_and_reap(cfg.close_grace()).await;
        let tasks: Vec<_> =
            shared.tasks.lock().map(|mut t| t.drain(..).collect()).unwrap_or_default();
        for task in tasks {
            task.abort();
        }
        let dir = shared.dir.clone();
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        if let Ok(Err(e)) = removed {
            tracing::warn!(pgid, error = %e, "cannot remove a shared browser's directory");
        }
        tracing::info!(pgid, id = shared.id, "shared Chromium stopped");
    }
}

/// Removes the shared browsers' directories a crashed sidecar left under `{runtime_dir}/.pool`
/// (those named for a process that no longer runs). Blocking; call after the orphans were killed.
pub fn sweep_pool_dirs(runtime_dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(runtime_dir.join(POOL_DIR)) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("browser-")?.split('-').next());
        let alive = pid.is_some_and(|p| std::path::Path::new("/proc").join(p).exists());
        if !alive && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl Drop for BrowserPool {
    /// Last resort (a runtime torn down without `shutdown`): kill every group now.
    fn drop(&mut self) {
        if let Ok(browsers) = self.browsers.try_lock() {
            for slot in browsers.iter() {
                super::process::kill_group(slot.shared.pgid);
            }
        }
    }
}
