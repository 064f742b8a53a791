//! Throughput of sending, API to server ack, pacing off, N sessions on wa-sim. Ignored in normal
//! runs; figures in docs/performance.md:
//! `BENCH_SESSIONS=10 BENCH_MESSAGES=50 cargo nextest run -p wa-sidecar --test api --run-ignored only -E 'test(bench_messages)' --no-capture`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::sessions::{control, create, qr_text, sim, stop_and_check, wait_state, Events};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn connect_as(app: &TestApp, sim: &SimServer, id: &str, phone: &str) {
    create(app, id).await;
    wait_state(app, id, "qr_required", Duration::from_secs(120)).await;
    let code = qr_text(app, id).await;
    control(sim, "/scan", json!({"code": code, "phone": phone})).await;
    wait_state(app, id, "connected", Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run explicitly"]
async fn bench_messages() {
    let (sessions, per) = (env("BENCH_SESSIONS", 10), env("BENCH_MESSAGES", 50));
    let sim = sim();
    let app = sending_app(&sim).await;
    for i in 0..sessions {
        connect_as(&app, &sim, &format!("b{i}"), &format!("1555100{i:04}")).await;
    }
    let mut events = Events::of(&app);
    let started = Instant::now();
    let mut sends = Vec::new();
    for i in 0..sessions {
        let session = format!("b{i}");
        let app_ref = &app;
        sends.push(async move {
            let mut accepted = Vec::new();
            for n in 0..per {
                let t = Instant::now();
                let r = send_ok(app_ref, &session, text(&format!("bench {session} {n}"))).await;
                accepted.push((r["id"].as_str().unwrap().to_owned(), t));
            }
            accepted
        });
    }
    let accepted: HashMap<String, Instant> =
        futures::future::join_all(sends).await.into_iter().flatten().collect();
    let accept_done = started.elapsed();
    let total = accepted.len();
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut acked = std::collections::HashSet::new();
    while acked.len() < total {
        for e in events.drain() {
            if e.kind == "message.status" && e.data["status"] == "sent" {
                let id = e.data["id"].as_str().unwrap().to_owned();
                if let Some(t) = accepted.get(&id) {
                    if acked.insert(id) {
                        latencies.push(t.elapsed());
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "{} of {total} acked", acked.len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "bench messages: {sessions} sessions x {per} = {total} messages; accepted in {:.2?}; all server-acked in {:.2?}: {:.0} messages/s; latency API->server ack p50 {:.0?} p99 {:.0?}",
        accept_done,
        elapsed,
        total as f64 / elapsed.as_secs_f64(),
        p(0.50),
        p(0.99)
    );
    stop_and_check(app).await;
}

/// `wa-sidecar bench messages`, tiny: the built binary links 2 sessions on its embedded wa-sim,
/// sends 5 messages each and prints its figures; nothing is left running afterwards.
#[test]
fn bench_messages_command_prints_its_figures() {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    crate::helpers::init();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let mut cmd = crate::binary::command(dir.path());
    cmd.args(["bench", "messages", "--sessions", "2", "--messages", "5", "--timeout", "120"])
        .arg("--dir")
        .arg(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().expect("wa-sidecar bench messages starts");
    let group = Group(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the bench ends within 5 minutes")
        .expect("the bench's output");
    drop(group);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    assert!(stdout.contains("2 sessions x 5 messages, pacing off"), "{stdout}");
    assert!(stdout.contains("linked 2 sessions"), "{stdout}");
    assert!(stdout.contains("accepted 10 (202)"), "{stdout}");
    let rate = stdout
        .lines()
        .find_map(|l| l.split(": ").nth(1)?.strip_suffix(" messages/s"))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no messages/s figure in:\n{stdout}"));
    assert!(rate > 0.0, "{stdout}");
    assert!(stdout.contains("latency API -> server ack: p50 "), "{stdout}");
    assert!(
        crate::sessions::chromium_groups_under(dir.path()).is_empty(),
        "a Chromium outlived the bench"
    );
}

/// Kills the bench's process group if the test ends early.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: the bench leads its own process group (process_group(0)); killing an empty
        // group is harmless.
        unsafe { libc::killpg(self.0, libc::SIGKILL) };
    }
}
