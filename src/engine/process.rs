//! The Chromium process of one run: spawned by us (not by chromiumoxide) in its own process group,
//! so that the browser and every helper it forks (zygotes, renderers, crashpad) can be killed as
//! one unit; DevTools on a pipe (see `super::pipe`); closed, killed and reaped within bounds.
//! Also finds Chromium groups left behind by a previous run of the sidecar that crashed.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::watch;
use tracing::Instrument;

use super::pipe::ChildEnds;
use super::EngineError;

/// How many of Chromium's last stderr lines are kept for a launch error.
const STDERR_TAIL: usize = 20;

/// What Chromium keeps of the sidecar's environment: locale, time zone, paths. Nothing else, so no
/// secret given to the sidecar through its environment (keys, tokens) reaches a page's process.
const KEPT_ENV: [&str; 10] = [
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "FONTCONFIG_PATH",
];

/// A running Chromium, leader of its own process group. A reaper task owns the child handle and
/// publishes its exit, so an unexpected death is noticed at once (chromiumoxide's handler does
/// not end when the websocket closes; it stays pending).
pub(crate) struct ChromiumProcess {
    pgid: i32,
    /// `Some(description)` once the leader exited and was reaped.
    exit: watch::Receiver<Option<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl ChromiumProcess {
    /// Spawns `path args…` as the leader of a new process group, with the DevTools pipe's `child`
    /// ends as fds 3 and 4 and nothing of the sidecar's environment but [`KEPT_ENV`]. On failure
    /// nothing of it is left running.
    pub(crate) async fn spawn(
        path: &Path,
        args: &[String],
        child_ends: ChildEnds,
    ) -> Result<Self, EngineError> {
        let (reads, writes) = child_ends.raw();
        let mut command = Command::new(path);
        command
            .args(args)
            .env_clear()
            .envs(std::env::vars_os().filter(|(k, _)| KEPT_ENV.iter().any(|kept| k == kept)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group: killpg reaches the whole browser, never the sidecar.
            .process_group(0)
            // Safety net only (a runtime shutting down drops the reaper); stop() kills explicitly.
            .kill_on_drop(true);
        // SAFETY: the closure only calls dup2 (async-signal-safe) on fds inherited from us.
        unsafe {
            command.pre_exec(move || ChildEnds::install(reads, writes));
        }
        let mut child = command
            .spawn()
            .map_err(|e| EngineError::Launch(format!("cannot run {}: {e}", path.display())))?;
        // Our copies of the child's ends must close, or the relay never sees the pipe end.
        drop(child_ends);
        let pid =
            child.id().ok_or_else(|| EngineError::Launch("Chromium exited at once".into()))?;
        let pgid = i32::try_from(pid)
            .map_err(|_| EngineError::Launch(format!("pid {pid} out of range")))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(
                read_stderr(stderr, tail.clone())
                    .instrument(tracing::debug_span!("chromium-stderr", pgid)),
            );
        }
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(
            reap(child, exit_tx).instrument(tracing::debug_span!("chromium-reaper", pgid)),
        );
        Ok(Self { pgid, exit, tail })
    }

    /// Chromium's last stderr lines, for a launch error.
    pub(crate) fn stderr_tail(&self) -> String {
        let tail: Vec<String> =
            self.tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
        tail.join(" | ")
    }

    pub(crate) fn pgid(&self) -> i32 {
        self.pgid
    }

    /// Resolves with a description once the browser leader has exited (and been reaped).
    pub(crate) fn exited(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut exit = self.exit.clone();
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(v) => v.clone().unwrap_or_default(),
                Err(_) => "reaper gone".to_owned(),
            }
        }
    }

    /// Waits up to `grace` for Chromium to exit by itself (after `Browser.close`).
    pub(crate) async fn wait_exit(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.exited()).await.is_ok()
    }

    /// SIGKILLs the whole group, waits for the leader to be reaped and until no member is left,
    /// each bounded by `bound`. Safe to call more than once.
    pub(crate) async fn kill_and_reap(&mut self, bound: Duration) {
        kill_group(self.pgid);
        if !self.wait_exit(bound).await {
            tracing::error!(
                pgid = self.pgid,
                "Chromium did not die within {} ms of SIGKILL",
                bound.as_millis()
            );
        }
        // Helpers reparented to init are reaped by init; wait until they are gone so a caller can
        // rely on "no process of this run is left" when stop() returns.
        let deadline = Instant::now() + bound;
        while !group_members(self.pgid).is_empty() && Instant::now() < deadline {
            kill_group(self.pgid);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = group_members(self.pgid);
        if !left.is_empty() {
            tracing::error!(
                pgid = self.pgid,
                ?left,
                "processes of the Chromium group outlived SIGKILL"
            );
        }
    }
}

/// Owns the child: waits for it (which reaps it) and publishes how it ended.
async fn reap(mut child: Child, exit: watch::Sender<Option<String>>) {
    let how = match child.wait().await {
        Ok(status) => format!("Chromium exited ({status})"),
        Err(e) => format!("waiting for Chromium failed: {e}"),
    };
    tracing::debug!("{how}");
    let _ = exit.send(Some(how));
}

/// SIGKILL to every process of group `pgid`. ESRCH (already gone) is fine.
pub(crate) fn kill_group(pgid: i32) {
    // Never signal group 0/1 or our own group: that would hit the sidecar itself.
    // SAFETY: getpgrp has no preconditions and cannot fail.
    let own = unsafe { libc::getpgrp() };
    if pgid <= 1 || pgid == own {
        return;
    }
    // SAFETY: killpg only sends a signal; a stale group id yields ESRCH, which we ignore.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// Reads Chromium's stderr until it closes: logs every line at debug and keeps the last lines
/// for a launch error. Draining it also keeps Chromium from
/// blocking on a full pipe.
async fn read_stderr(stderr: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "chromium", "{line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

/// From `/proc/PID/stat`: (state, ppid, pgrp, starttime).
fn proc_stat(pid: u32) -> Option<(char, u32, i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and ')', so parse from the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Fields 3.. of proc(5): state, ppid, pgrp, …, starttime (field 22).
    let state = fields.first()?.chars().next()?;
    Some((
        state,
        fields.get(1)?.parse().ok()?,
        fields.get(2)?.parse().ok()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// The Chromium switch that names the sidecar process owning a browser: `pid:starttime`.
/// Chromium ignores switches it does not know; `kill_orphans` reads it back from `/proc`.
pub const OWNER_SWITCH: &str = "--wa-sidecar-owner=";

/// This process as an owner mark (pid plus start time, so a reused pid does not match).
pub fn owner_mark() -> String {
    let pid = std::process::id();
    let start = proc_stat(pid).map(|s| s.3).unwrap_or(0);
    format!("{pid}:{start}")
}

/// Whether the process an owner mark names still runs.
fn owner_alive(mark: &str) -> bool {
    let Some((pid, start)) = mark.split_once(':') else { return false };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    matches!(proc_stat(pid), Some((state, _, _, s)) if s == start && state != 'Z')
}

fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// Live (not zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            matches!(proc_stat(pid), Some((state, _, g, _)) if g == pgid && state != 'Z' && state != 'X')
        })
        .collect()
}

/// Finds Chromium browsers whose `--user-data-dir` lies under one of `roots` (the runtime and
/// sessions directories of this sidecar) and whose owning sidecar is gone, and kills their
/// process groups: leftovers of a previous run that crashed or was killed with -9. A browser
/// whose owner still runs (another sidecar on the same folders, or this one) is left alone; one
/// without an owner mark counts as orphaned only once reparented to init. Call at boot, before
/// any session starts. Blocks up to `bound` waiting for them to go; returns the killed group ids.
pub fn kill_orphans(roots: &[PathBuf], bound: Duration) -> Vec<i32> {
    let roots: Vec<PathBuf> =
        roots.iter().map(|r| r.canonicalize().unwrap_or_else(|_| r.clone())).collect();
    // SAFETY: getpgrp has no preconditions and cannot fail.
    let own = unsafe { libc::getpgrp() };
    let mut groups = BTreeSet::new();
    for pid in all_pids() {
        let Some(browser) = browser_of(pid) else { continue };
        if !roots.iter().any(|root| browser.dir.starts_with(root)) {
            continue;
        }
        let Some((_, ppid, pgrp, _)) = proc_stat(pid) else { continue };
        let orphaned = match &browser.owner {
            Some(mark) => !owner_alive(mark),
            None => ppid == 1,
        };
        if orphaned && pgrp > 1 && pgrp != own {
            groups.insert(pgrp);
        }
    }
    let deadline = Instant::now() + bound;
    for &pgid in &groups {
        tracing::warn!(pgid, "killing an orphaned Chromium process group from a previous run");
        kill_group(pgid);
    }
    while groups.iter().any(|&g| !group_members(g).is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    groups.into_iter().collect()
}

/// Kills every Chromium browser whose profile lies under `roots`, whoever owns it, and waits up
/// to `bound` for them to go; returns the killed group ids. For a command that ran a sidecar of
/// its own in a throwaway folder (`bench messages`): after its graceful stop nothing may be left.
pub fn kill_browsers_under(roots: &[PathBuf], bound: Duration) -> Vec<i32> {
    let roots: Vec<PathBuf> =
        roots.iter().map(|r| r.canonicalize().unwrap_or_else(|_| r.clone())).collect();
    // SAFETY: getpgrp has no preconditions and cannot fail.
    let own = unsafe { libc::getpgrp() };
    let groups: BTreeSet<i32> = all_pids()
        .into_iter()
        .filter(|&pid| {
            browser_of(pid).is_some_and(|b| roots.iter().any(|root| b.dir.starts_with(root)))
        })
        .filter_map(|pid| proc_stat(pid).map(|(_, _, pgrp, _)| pgrp))
        .filter(|&pgrp| pgrp > 1 && pgrp != own)
        .collect();
    groups.iter().for_each(|&g| kill_group(g));
    let deadline = Instant::now() + bound;
    while groups.iter().any(|&g| !group_members(g).is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    groups.into_iter().collect()
}

/// A Chromium browser process (not one of its `--type=` helpers) as seen in `/proc`.
struct BrowserProc {
    dir: PathBuf,
    owner: Option<String>,
}

fn browser_of(pid: u32) -> Option<BrowserProc> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> =
        cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if !args.first()?.contains("chrom") || args.iter().any(|a| a.starts_with("--type=")) {
        return None;
    }
    let dir = args.iter().find_map(|a| a.strip_prefix("--user-data-dir="))?;
    let dir = PathBuf::from(dir);
    let owner = args.iter().find_map(|a| a.strip_prefix(OWNER_SWITCH)).map(str::to_owned);
    Some(BrowserProc { dir: dir.canonicalize().unwrap_or(dir), owner })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_in_its_own_group() {
        // SAFETY: getpgrp has no preconditions.
        let own = unsafe { libc::getpgrp() };
        assert!(group_members(own).contains(&std::process::id()));
    }

    #[test]
    fn owner_marks_tell_live_from_gone() {
        assert!(owner_alive(&owner_mark()));
        let pid = std::process::id();
        assert!(!owner_alive(&format!("{pid}:1")), "same pid, other start time: a reused pid");
        assert!(!owner_alive("4194304999:0"));
        assert!(!owner_alive("garbage"));
    }

    #[test]
    fn kill_group_never_targets_our_own_group() {
        // SAFETY: getpgrp has no preconditions.
        kill_group(unsafe { libc::getpgrp() });
        kill_group(0);
        kill_group(1);
    }
}
