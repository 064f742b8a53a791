//! `wa-sidecar demo` as a newcomer runs it: the QR drawn in the terminal, Enter pressed, the
//! simulated phone scans, `connected`; then a graceful stop that leaves no Chromium.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::sessions::chromium_groups_under;

struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    dir: std::path::PathBuf,
    seen: Vec<String>,
}

impl Demo {
    fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        let mut cmd = crate::binary::command(dir);
        cmd.args(["demo", "--exit-when-connected", "--step-timeout", "60", "--dir"])
            .arg(dir.join("demo"))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = cmd.spawn().expect("wa-sidecar demo starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, dir: dir.to_owned(), seen: Vec::new() }
    }

    /// Reads the output until a line contains `needle` (up to `within`).
    fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    panic!("no {needle:?} within {within:?}; output:\n{}", self.seen.join("\n"))
                }
            }
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: the demo leads its own process group (process_group(0) above).
        unsafe { libc::killpg(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
        wa_sidecar::engine::kill_orphans(std::slice::from_ref(&self.dir), Duration::from_secs(5));
    }
}

#[test]
fn demo_draws_the_qr_scans_on_enter_and_reaches_connected() {
    crate::helpers::init();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(dir.path(), &[]);
    demo.wait_for("Press Enter and the simulated phone scans this QR", Duration::from_secs(90));
    // The QR is drawn with half blocks just above the prompt.
    assert!(demo.seen.iter().filter(|l| l.contains('▀') || l.contains('▄')).count() > 10);
    assert!(demo.seen.iter().any(|l| l == "state: qr_required"), "{:?}", demo.seen);
    demo.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    demo.wait_for("Connected as +15550001234", Duration::from_secs(60));
    // A message out (its status followed to the phone) and one back, through the real routes.
    demo.wait_for(
        "Message round trip: out and delivered, back and received.",
        Duration::from_secs(120),
    );
    assert!(
        demo.seen.iter().any(|l| l == "  status: delivered" || l == "  status: read"),
        "{:?}",
        demo.seen
    );
    demo.wait_for("Stopped.", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}; output:\n{}", demo.seen.join("\n"));
    assert!(chromium_groups_under(dir.path()).is_empty(), "a Chromium outlived the demo");
    let sealed = dir.path().join("demo/sessions/demo/phone/profile.sealed");
    assert!(sealed.exists(), "the login is sealed at the end");
}

#[test]
fn demo_auto_scan_needs_no_terminal() {
    crate::helpers::init();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(dir.path(), &["--auto-scan"]);
    drop(demo.child.stdin.take()); // nothing on stdin at all
    demo.wait_for("Connected as +15550001234", Duration::from_secs(90));
    demo.wait_for("Stopped.", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(20);
    while demo.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the demo did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(demo.child.wait().unwrap().success());
    assert!(chromium_groups_under(dir.path()).is_empty(), "a Chromium outlived the demo");
}
