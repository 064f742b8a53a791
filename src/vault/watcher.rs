//! [`ResealWatcher`]: while a session runs, reseal its live profile after changes to the login
//! paths settle (`reseal_debounce`) and at least every `reseal_max_interval` while they keep
//! coming, but never sooner than `reseal_min_interval` after the previous reseal (a reseal
//! rewrites the whole login, tens of MB, so a chatty session must not reseal every few seconds). The session actor spawns it once the browser is up and stops it before `close`, which
//! does the final reseal itself.
//!
//! A `notify` (inotify) watcher feeds a channel; one named thread per session debounces and calls
//! `ProfileStore::checkpoint`. Failed reseals are logged and counted, never fatal: the previous
//! sealed file stays valid and the next change tries again.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::config::VaultConfig;
use super::store::lock;
use super::VaultError;
use crate::ids::SessionKey;
use crate::sessions::profile::ProfileStore;

#[derive(Debug, Clone)]
pub struct WatcherConfig {
    pub debounce: Duration,
    pub max_interval: Duration,
    /// Never start a reseal sooner than this after the previous one ended.
    pub min_interval: Duration,
    /// Only changes under these profile paths count (caches churn constantly and hold no login).
    pub include: Vec<String>,
}

impl From<&VaultConfig> for WatcherConfig {
    fn from(c: &VaultConfig) -> Self {
        Self {
            debounce: c.reseal_debounce,
            max_interval: c.reseal_max_interval,
            min_interval: c.reseal_min_interval,
            include: c.include.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct WatcherStats {
    /// Relevant filesystem events seen.
    pub changes: u64,
    /// Checkpoints that succeeded (one with nothing new to seal writes nothing).
    pub reseals: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    /// Time spent in checkpoints.
    pub busy: Duration,
}

enum Msg {
    Change,
    Stop,
}

pub struct ResealWatcher {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<WatcherStats>>,
    // Dropping it ends the inotify subscription.
    _watcher: RecommendedWatcher,
}

impl ResealWatcher {
    /// Watches `dir` (the live profile of `key`) and checkpoints `store` as configured.
    pub fn spawn(
        store: Arc<dyn ProfileStore>,
        key: SessionKey,
        dir: PathBuf,
        cfg: WatcherConfig,
    ) -> Result<Self, VaultError> {
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let root = dir.clone();
        let include = cfg.include.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if is_relevant(&root, &include, &ev) => {
                    let _ = events.send(Msg::Change); // the loop has ended: nothing to tell
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "profile watcher error"),
            })
            .map_err(|e| VaultError::Watch(e.to_string()))?;
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| VaultError::Watch(e.to_string()))?;
        let stats = Arc::new(Mutex::new(WatcherStats::default()));
        let run = Loop { store, key: key.clone(), cfg, stats: stats.clone() };
        let thread = std::thread::Builder::new()
            .name(format!("reseal-{key}"))
            .spawn(move || run.run(rx))
            .map_err(|e| VaultError::Watch(e.to_string()))?;
        Ok(Self { tx, thread: Some(thread), stats, _watcher: watcher })
    }

    pub fn stats(&self) -> WatcherStats {
        lock(&self.stats).clone()
    }

    /// Stops watching; waits for a reseal in progress to finish. Pending changes are left to `close`.
    pub fn stop(mut self) -> WatcherStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("reseal watcher thread panicked");
            }
        }
    }
}

impl Drop for ResealWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Writes, creations, removals and renames under an included path (or of one of its parents).
fn is_relevant(root: &Path, include: &[String], ev: &notify::Event) -> bool {
    if matches!(ev.kind, EventKind::Access(_)) {
        return false;
    }
    ev.paths.iter().any(|p| {
        let Ok(rel) = p.strip_prefix(root) else {
            return false;
        };
        if rel.as_os_str().is_empty() {
            return false; // the profile root itself (e.g. its times changed)
        }
        include.iter().map(Path::new).any(|inc| rel.starts_with(inc) || inc.starts_with(rel))
    })
}

struct Loop {
    store: Arc<dyn ProfileStore>,
    key: SessionKey,
    cfg: WatcherConfig,
    stats: Arc<Mutex<WatcherStats>>,
}

impl Loop {
    /// When pending changes (first and latest unsealed change) should be sealed.
    fn due(&self, first: Instant, last: Instant, last_done: Option<Instant>) -> Instant {
        let wanted = (last + self.cfg.debounce).min(first + self.cfg.max_interval);
        last_done.map_or(wanted, |done| wanted.max(done + self.cfg.min_interval))
    }

    fn run(self, rx: mpsc::Receiver<Msg>) {
        // (first change not yet sealed, latest change)
        let mut pending: Option<(Instant, Instant)> = None;
        let mut last_done: Option<Instant> = None;
        loop {
            let due = pending.map(|(first, last)| self.due(first, last, last_done));
            if due.is_some_and(|d| Instant::now() >= d) {
                pending = None;
                self.reseal();
                last_done = Some(Instant::now());
                continue;
            }
            let wait = due
                .map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(Msg::Change) => {
                    lock(&self.stats).changes += 1;
                    let now = Instant::now();
                    pending = Some((pending.map_or(now, |(f, _)| f), now));
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn reseal(&self) {
        let started = Instant::now();
        let result = self.store.checkpoint(&self.key);
        let mut s = lock(&self.stats);
        s.busy += started.elapsed();
        match result {
            Ok(()) => s.reseals += 1,
            Err(e) => {
                tracing::warn!(session = %self.key, error = %e, "reseal failed; the previous sealed file stays");
                s.failures += 1;
                s.last_error = Some(e.to_string());
            }
        }
    }
}
