//! The baseline: `ops/bench/baseline.mjs` launches N browsers with puppeteer-core the way
//! whatsapp-web.js does (one browser and profile per client, its default flags). This module
//! installs its npm package when missing, runs it, and makes sure none of its browsers survives.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::procs::RUN_MARK;

/// `ops/bench` of this checkout.
pub fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/bench")
}

/// Installs puppeteer-core (pinned by package-lock.json) with npm when node_modules lacks it.
pub async fn ensure_installed(dir: &Path) -> anyhow::Result<()> {
    if dir.join("node_modules/puppeteer-core/package.json").is_file() {
        return Ok(());
    }
    eprintln!("baseline: installing puppeteer-core in {} (npm ci)", dir.display());
    let npm = |args: &'static [&'static str]| {
        let mut c = Command::new("npm");
        c.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).kill_on_drop(true);
        c
    };
    let mut ok =
        run_bounded(npm(&["ci", "--no-audit", "--no-fund"]), Duration::from_secs(300)).await;
    if ok.is_err() {
        eprintln!("baseline: npm ci failed ({ok:?}); trying npm install");
        ok = run_bounded(npm(&["install", "--no-audit", "--no-fund"]), Duration::from_secs(300))
            .await;
    }
    ok?;
    if !dir.join("node_modules/puppeteer-core/package.json").is_file() {
        bail!("npm finished but node_modules/puppeteer-core is still missing");
    }
    Ok(())
}

async fn run_bounded(mut cmd: Command, bound: Duration) -> anyhow::Result<()> {
    let status = tokio::time::timeout(bound, cmd.status())
        .await
        .context("npm timed out")?
        .context("cannot run npm")?;
    if !status.success() {
        bail!("npm exited with {status}");
    }
    Ok(())
}

/// The running baseline script and the browsers it launched.
pub struct Baseline {
    child: Child,
    /// The node process leads its own group, so a kill reaches it and nothing else.
    node_pgid: i32,
    stdin: Option<ChildStdin>,
    /// The browsers' pids as puppeteer reports them (`browser.process().pid`).
    pub pids: Vec<u32>,
    pub profiles: PathBuf,
}

impl Baseline {
    /// Starts `count` browsers on `url` and returns once every page has loaded.
    pub async fn launch(
        chromium: &Path,
        url: &str,
        count: usize,
        profiles: PathBuf,
        mark: &str,
    ) -> anyhow::Result<Self> {
        let dir = script_dir();
        let mut child = Command::new("node")
            .arg(dir.join("baseline.mjs"))
            .args([
                "--chromium",
                &chromium.to_string_lossy(),
                "--url",
                url,
                "--count",
                &count.to_string(),
            ])
            .arg("--profiles")
            .arg(&profiles)
            .current_dir(&dir)
            .env(RUN_MARK, format!("{mark}-baseline"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("cannot run node")?;
        let node_pgid = child.id().map_or(0, |p| p as i32);
        let stdin = child.stdin.take();
        let stderr_tail = Arc::new(Mutex::new(Vec::<String>::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut t) = tail.lock() {
                        t.push(line);
                    }
                }
            });
        }
        let mut baseline = Self { child, node_pgid, stdin, pids: Vec::new(), profiles };
        let stdout = baseline.child.stdout.take().context("no stdout")?;
        let bound = Duration::from_secs(60 + 20 * count as u64);
        let line = tokio::time::timeout(bound, BufReader::new(stdout).lines().next_line()).await;
        let why = match line {
            Ok(Ok(Some(line))) => match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(v) => {
                    let pids: Vec<u32> = v["pids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_u64())
                        .map(|p| p as u32)
                        .collect();
                    if pids.len() == count {
                        baseline.pids = pids;
                        return Ok(baseline);
                    }
                    format!("expected {count} pids, got {line}")
                }
                Err(e) => format!("not JSON ({e}): {line}"),
            },
            Ok(Ok(None)) => "baseline.mjs exited without printing its pids".to_owned(),
            Ok(Err(e)) => format!("reading its stdout failed: {e}"),
            Err(_) => format!("no pids within {} s", bound.as_secs()),
        };
        let tail = stderr_tail.lock().map(|t| t.join(" | ")).unwrap_or_default();
        baseline.kill();
        bail!("{why}; stderr: {tail}")
    }

    /// Asks the script to close every browser (puppeteer's `browser.close()`), waits up to
    /// `bound`, then kills whatever is left. Returns how many leftover processes it had to kill.
    pub async fn close(mut self, bound: Duration) -> usize {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"close\n").await;
            drop(stdin);
        }
        if tokio::time::timeout(bound, self.child.wait()).await.is_err() {
            eprintln!("baseline: node did not exit within {} ms; killing it", bound.as_millis());
        }
        self.kill()
    }

    /// SIGKILL to the node group and to every browser on our profiles; returns the groups killed.
    fn kill(&mut self) -> usize {
        if self.node_pgid > 1 {
            // SAFETY: killpg only sends a signal; a stale group id yields ESRCH, which is fine.
            unsafe { libc::killpg(self.node_pgid, libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
        wa_sidecar::engine::kill_orphans(
            std::slice::from_ref(&self.profiles),
            Duration::from_secs(5),
        )
        .len()
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.kill();
    }
}
