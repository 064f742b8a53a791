//! `ops/wa-sidecarctl` with the real binary: a `kill -9` of the sidecar is restarted by the
//! supervisor and its session comes back connected with no QR; `restart` and `reload` keep the
//! login and lose no callback; `stop` leaves no Chromium and no process; a crash loop gives up
//! with a clear message.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use super::*;
use crate::sessions::{assert_groups_gone, chromium_groups_under, sim, WS};

/// `ops/wa-sidecarctl` for one folder. Dropping it stops whatever is left: `stop`, then SIGKILL
/// to the supervisor's group, then any orphaned Chromium under the folder.
struct Ctl {
    dir: PathBuf,
    config: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Ctl {
    fn new(dir: &Path, config: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            config: config.to_owned(),
            env: vec![
                ("WA_SIDECARCTL_STOP_TIMEOUT", "30".into()),
                ("WA_SIDECARCTL_BACKOFF_MS", "200".into()),
            ],
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(repo().join("ops/wa-sidecarctl"));
        cmd.args(args).current_dir(&self.dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIDECAR") || key.starts_with("WA_SIDECAR") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("WA_SIDECAR_BIN", BIN)
            .env("WA_SIDECAR_CONFIG", &self.config)
            .env("WA_SIDECAR_DIR", &self.dir)
            .env("WA_SIDECARCTL_STATE", self.state());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a verb (off the async runtime, which keeps serving the callback receiver).
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(150), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("wa-sidecarctl {args:?} did not finish in time"))
            .expect("wa-sidecarctl runs");
        eprintln!(
            "wa-sidecarctl {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn state(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn log(&self) -> PathBuf {
        self.state().join("wa-sidecar.log")
    }

    fn pid(&self, file: &str) -> Option<i32> {
        std::fs::read_to_string(self.state().join(file)).ok()?.trim().parse().ok()
    }

    fn sidecar_pid(&self) -> Option<i32> {
        self.pid("wa-sidecar.pid")
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let supervisor = self.pid("supervisor.pid");
        let _ = self.command(&["stop"]).output();
        if let Some(pid) = supervisor {
            // SAFETY: the group of the supervisor this test started (setsid made it leader).
            unsafe { libc::killpg(pid, libc::SIGKILL) };
        }
        wa_sidecar::engine::kill_orphans(std::slice::from_ref(&self.dir), Duration::from_secs(5));
    }
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat[stat.rfind(')').unwrap_or(0) + 2..].starts_with('Z')
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn address_in(text: &str) -> String {
    let rest = text.split("listening on ").nth(1).expect("an address in the output");
    rest.split_whitespace().next().unwrap().to_owned()
}

async fn wait_new_pid(ctl: &Ctl, old: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = ctl.sidecar_pid().filter(|&p| p != old && alive(p)) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no new sidecar after pid {old}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn wa_sidecarctl_survives_kill_9_restart_and_reload_without_qr_and_stop_leaves_nothing() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (receiver, callbacks) = Callbacks::receiver().await;
    let config = config(dir.path(), &sim, "");
    let ctl = Ctl::new(dir.path(), &config);
    let runtime = dir.path().join("data/runtime");

    let out = ctl.run(&["start"]).await;
    assert!(out.status.success(), "start failed");
    let address = address_in(&stdout(&out));
    let supervisor = ctl.pid("supervisor.pid").expect("a supervisor pidfile");
    assert!(stdout(&ctl.run(&["status"]).await).starts_with("running:"));
    assert_eq!(ctl.run(&["start"]).await.status.code(), Some(0), "a second start is a no-op");
    assert_eq!(ctl.pid("supervisor.pid"), Some(supervisor));

    create_and_link(&address, &sim, "c1", &receiver.url).await;
    wait_outbox_empty(&address).await;
    let qr_before = callbacks.qr_count();
    assert!(qr_before >= 1, "the QR reached the host");

    // kill -9 of the sidecar: the supervisor starts a new one, whose boot kills the orphaned
    // browser, and the session is back without a QR.
    let first = ctl.sidecar_pid().unwrap();
    let orphans = chromium_groups_under(&runtime);
    assert_eq!(orphans.len(), 1);
    let offset = file_len(&ctl.log());
    // SAFETY: the sidecar process this test's supervisor started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let second = wait_new_pid(&ctl, first).await;
    let address = wait_address(&ctl.log(), offset, Duration::from_secs(30)).await;
    wait_connected_without_qr(&address, "c1").await;
    assert_groups_gone(&orphans).await;
    let log = std::fs::read_to_string(ctl.log()).unwrap();
    assert!(log.contains("restart 1/5"), "the supervisor logs the restart:\n{log}");

    // restart: graceful, by the same supervisor, not counted as a crash.
    let out = ctl.run(&["restart"]).await;
    assert!(out.status.success());
    let address = address_in(&stdout(&out));
    let third = ctl.sidecar_pid().unwrap();
    assert_ne!(third, second);
    assert!(!alive(second));
    wait_connected_without_qr(&address, "c1").await;
    assert_eq!(ctl.pid("supervisor.pid"), Some(supervisor), "one supervisor throughout");
    assert!(stdout(&ctl.run(&["status"]).await).contains("1 restart(s)"));

    // reload: SIGHUP re-reads the configuration; the same process and browser go on.
    let browser = chromium_groups_under(&runtime);
    let offset = file_len(&ctl.log());
    assert!(ctl.run(&["reload"]).await.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(ctl.log()).unwrap()[offset..]
        .contains("callback secrets reloaded")
    {
        assert!(Instant::now() < deadline, "the sidecar did not log the reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ctl.sidecar_pid(), Some(third));
    assert!(alive(third), "SIGHUP does not end the sidecar");
    assert_eq!(chromium_groups_under(&runtime), browser, "the same browser");
    assert_eq!(call(&address, "GET", &session_path("c1"), None).await.1["state"], "connected");

    // Every callback committed reached the host once; no QR after the first link.
    wait_outbox_empty(&address).await;
    callbacks.assert_no_duplicates();
    assert_eq!(callbacks.qr_count(), qr_before, "a QR after the first link");
    let connected = callbacks
        .list()
        .iter()
        .filter(|(_, k, s)| k == "session.status" && s == "connected")
        .count();
    assert!(connected >= 3, "connected after the link, the kill -9 and the restart: {connected}");

    // stop: every browser closed, every login sealed, nothing left.
    let browsers = chromium_groups_under(&runtime);
    let out = ctl.run(&["stop"]).await;
    assert!(out.status.success());
    assert_groups_gone(&browsers).await;
    assert!(chromium_groups_under(dir.path()).is_empty(), "a Chromium outlived stop");
    assert!(!alive(third) && !alive(supervisor), "the sidecar or its supervisor is still running");
    let lock = dir.path().join("sessions").join(WS).join("c1").join("lock");
    assert!(!wa_sidecar::sessions::lock::SessionLock::is_held(&lock), "no stale lock");
    assert!(dir.path().join("sessions").join(WS).join("c1/profile.sealed").exists());
    let status = ctl.run(&["status"]).await;
    assert_eq!(status.status.code(), Some(3));
    assert_eq!(stdout(&status).trim(), "stopped");
    let logs = ctl.run(&["logs", "-n", "5"]).await;
    assert!(stdout(&logs).contains("supervisor stopped"), "{}", stdout(&logs));
}

#[tokio::test]
async fn wa_sidecarctl_gives_up_on_a_crash_loop_with_a_clear_message_and_starts_once_fixed() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // The configured port is taken: every start of the sidecar fails at once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let base = config(dir.path(), &sim, "");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("bind = \"127.0.0.1:0\"", &format!("bind = \"127.0.0.1:{port}\""));
    std::fs::write(&base, text).unwrap();
    let mut ctl = Ctl::new(dir.path(), &base);
    ctl.env.push(("WA_SIDECARCTL_MAX_CRASHES", "3".into()));
    ctl.env.push(("WA_SIDECARCTL_WINDOW", "60".into()));
    ctl.env.push(("WA_SIDECARCTL_BACKOFF_MS", "100".into()));

    let out = ctl.run(&["start"]).await;
    assert!(!out.status.success(), "start reports the failure");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("gave up: wa-sidecar exited 3 times within 60s"), "{err}");
    let log = std::fs::read_to_string(ctl.log()).unwrap_or_default();
    assert!(
        err.contains("cannot listen on"),
        "the sidecar's own reason is shown: {err}\nlog:\n{log}"
    );
    let status = ctl.run(&["status"]).await;
    assert_eq!(status.status.code(), Some(1));
    assert!(stdout(&status).starts_with("failed: gave up"), "{}", stdout(&status));
    assert!(ctl.pid("supervisor.pid").is_none(), "the supervisor ended");

    // Fixed: start runs again.
    drop(taken);
    let out = ctl.run(&["start"]).await;
    assert!(out.status.success());
    assert!(stdout(&ctl.run(&["status"]).await).starts_with("running:"));
    let sidecar = ctl.sidecar_pid().unwrap();
    assert!(ctl.run(&["stop"]).await.status.success());
    assert!(!alive(sidecar));
}
