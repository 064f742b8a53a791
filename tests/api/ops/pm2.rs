//! pm2 (the pinned one from ops/pm2, installed by ops/pm2/install.sh) running the built sidecar
//! through `ops/pm2/ecosystem.config.js`, with its own PM2_HOME: `kill -9` → pm2 restarts it and
//! the session is connected with no QR; `pm2 reload` → no QR, no lost or doubled callback;
//! `pm2 stop` → no Chromium left; `pm2 kill` → no pm2 daemon left.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::sessions::{assert_groups_gone, chromium_groups_under, sim};

const APP: &str = "wa-sidecar-test";

struct Pm2 {
    home: PathBuf,
    dir: PathBuf,
    config: PathBuf,
}

impl Pm2 {
    fn bin() -> PathBuf {
        let bin = repo().join("ops/pm2/node_modules/.bin/pm2");
        assert!(bin.exists(), "pm2 is not installed: run ops/ops-deps.sh (ops/test.sh does)");
        bin
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(Self::bin());
        cmd.args(args).current_dir(&self.dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIDECAR") || key.starts_with("WA_SIDECAR") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("PM2_HOME", &self.home)
            .env("WA_SIDECAR_BIN", BIN)
            .env("WA_SIDECAR_DIR", &self.dir)
            .env("WA_SIDECAR_CONFIG", &self.config)
            .env("WA_SIDECAR_LOG_DIR", self.dir.join("logs"))
            .env("WA_SIDECAR_PM2_NAME", APP);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(150), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("pm2 {args:?} did not finish in time"))
            .expect("pm2 runs");
        assert!(
            out.status.success(),
            "pm2 {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// (pid, status) of the app, from `pm2 jlist`.
    async fn app(&self) -> (i32, String, u64) {
        let out = self.run(&["jlist"]).await;
        let list: Value = serde_json::from_slice(&out.stdout).expect("pm2 jlist is JSON");
        let app = list
            .as_array()
            .and_then(|l| l.iter().find(|a| a["name"] == APP))
            .unwrap_or_else(|| panic!("{APP} in {list}"));
        (
            app["pid"].as_i64().unwrap_or(0) as i32,
            app["pm2_env"]["status"].as_str().unwrap_or("").to_owned(),
            app["pm2_env"]["restart_time"].as_u64().unwrap_or(0),
        )
    }

    fn log(&self) -> PathBuf {
        self.dir.join("logs/wa-sidecar.out.log")
    }

    fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("pm2.pid")).ok()?.trim().parse().ok()
    }

    async fn wait_online_pid(&self, not: i32) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (pid, status, _) = self.app().await;
            if status == "online" && pid > 0 && pid != not {
                return pid;
            }
            assert!(Instant::now() < deadline, "{APP} not online with a new pid: {status} {pid}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        // Only while a daemon runs: `pm2 kill` without one starts one first.
        let daemon = self.daemon_pid();
        if daemon.is_some() {
            let _ = self.command(&["kill"]).output();
        }
        if let Some(pid) = daemon {
            // SAFETY: pm2's daemon for this test's PM2_HOME leads its own process group.
            unsafe { libc::killpg(pid, libc::SIGKILL) };
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        wa_sidecar::engine::kill_orphans(std::slice::from_ref(&self.dir), Duration::from_secs(5));
    }
}

fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat[stat.rfind(')').unwrap_or(0) + 2..].starts_with('Z')
}

async fn wait_gone(pid: i32, within: Duration) {
    let deadline = Instant::now() + within;
    while !gone(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pm2_restarts_a_killed_sidecar_reloads_gracefully_and_stop_leaves_no_chromium() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::Builder::new().prefix("pm2").tempdir_in("/tmp").unwrap();
    let (receiver, callbacks) = Callbacks::receiver().await;
    let config = config(dir.path(), &sim, "");
    let pm2 = Pm2 { home: home.path().to_owned(), dir: dir.path().to_owned(), config };
    let runtime = dir.path().join("data/runtime");
    let ecosystem = repo().join("ops/pm2/ecosystem.config.js");

    pm2.run(&["start", ecosystem.to_str().unwrap()]).await;
    let first = pm2.wait_online_pid(0).await;
    let address = wait_address(&pm2.log(), 0, Duration::from_secs(60)).await;
    create_and_link(&address, &sim, "p1", &receiver.url).await;
    wait_outbox_empty(&address).await;
    let qr_before = callbacks.qr_count();

    // kill -9: pm2 restarts it; the new one kills the orphaned browser and reconnects, no QR.
    let orphans = chromium_groups_under(&runtime);
    let offset = file_len(&pm2.log());
    // SAFETY: the sidecar pm2 started for this test.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let second = pm2.wait_online_pid(first).await;
    let address = wait_address(&pm2.log(), offset, Duration::from_secs(60)).await;
    wait_connected_without_qr(&address, "p1").await;
    assert_groups_gone(&orphans).await;
    assert_eq!(pm2.app().await.2, 1, "pm2 counted one restart");

    // pm2 reload: a graceful restart (SIGTERM, the login sealed, a new process), no QR.
    let browsers = chromium_groups_under(&runtime);
    let offset = file_len(&pm2.log());
    pm2.run(&["reload", APP]).await;
    let third = pm2.wait_online_pid(second).await;
    wait_gone(second, Duration::from_secs(30)).await;
    let address = wait_address(&pm2.log(), offset, Duration::from_secs(60)).await;
    let log = std::fs::read_to_string(pm2.log()).unwrap();
    assert!(
        log[offset..].contains("stopped"),
        "the old one stopped gracefully:\n{}",
        &log[offset..]
    );
    wait_connected_without_qr(&address, "p1").await;
    assert_groups_gone(&browsers).await;
    wait_outbox_empty(&address).await;
    callbacks.assert_no_duplicates();
    assert_eq!(callbacks.qr_count(), qr_before, "a QR after the first link");
    let connected = callbacks
        .list()
        .iter()
        .filter(|(_, k, s)| k == "session.status" && s == "connected")
        .count();
    assert!(connected >= 3, "connected after the link, the kill -9 and the reload: {connected}");

    // pm2 stop: SIGTERM, every browser closed, the process gone.
    let browsers = chromium_groups_under(&runtime);
    pm2.run(&["stop", APP]).await;
    wait_gone(third, Duration::from_secs(30)).await;
    assert_groups_gone(&browsers).await;
    assert!(chromium_groups_under(dir.path()).is_empty(), "a Chromium outlived pm2 stop");
    assert_eq!(pm2.app().await.1, "stopped");

    // pm2 kill: the daemon goes too.
    let daemon = pm2.daemon_pid().expect("pm2's daemon pid");
    pm2.run(&["kill"]).await;
    wait_gone(daemon, Duration::from_secs(20)).await;
    assert_no_process(&[home.path().to_str().unwrap()], Duration::from_secs(5)).await;
}
