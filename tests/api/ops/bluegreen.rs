//! `ops/deploy/blue-green.sh` with the real binary, wa-sidecarctl and Debian's nginx on loopback:
//! three connected sessions under a steady signed load through nginx (session reads, and sends
//! with an `Idempotency-Key` each, retried with the same key until the sidecar answers); a green
//! that fails its health check leaves everything on blue; a deploy to another build moves every
//! session with 0 QR, no callback lost or doubled, every accepted message on its phone exactly
//! once and in order, failures only inside each session's own move, and never two browsers
//! holding one account at once: WhatsApp (wa-sim) would end the older one's connection with a
//! conflict, so no page of the test may ever have been taken over. This holds whether each
//! session has a browser of its own or shares a pooled one (`engine.sessions_per_browser`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::*;
use crate::sessions::{chromium_groups_under, sim};

const NGINX: &str = "/usr/sbin/nginx";
const IDS: [&str; 3] = ["s1", "s2", "s3"];
/// Each session writes to its own friend, so order per chat is one friend's inbox.
const FRIENDS: [&str; 3] = ["15557650001", "15557650002", "15557650003"];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx in the foreground, in its own process group, killed and reaped on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, port: u16) -> Self {
        assert!(Path::new(NGINX).exists(), "nginx is not installed: run ops/ops-deps.sh");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let d = dir.display();
        let conf = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/tmp/body;\nproxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fcgi;\nuwsgi_temp_path {d}/tmp/uwsgi;\nscgi_temp_path {d}/tmp/scgi;\n\
             include {d}/upstream.conf;\nserver {{\n listen 127.0.0.1:{port};\n location / {{\n\
             proxy_pass http://wa_sidecar;\n proxy_http_version 1.1;\n proxy_set_header Connection \"\";\n\
             proxy_next_upstream error timeout http_404 http_502 http_503 non_idempotent;\n }}\n}}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(NGINX)
            .args(Self::args(dir))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("nginx starts");
        Self { child, dir: dir.to_owned() }
    }

    fn args(dir: &Path) -> Vec<String> {
        let d = dir.display();
        vec![
            "-p".into(),
            format!("{d}/"),
            "-c".into(),
            format!("{d}/nginx.conf"),
            "-e".into(),
            format!("{d}/error.log"),
        ]
    }

    fn reload_command(&self) -> String {
        format!("{NGINX} {} -s reload", Self::args(&self.dir).join(" "))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: nginx leads the process group this test gave it.
        unsafe { libc::killpg(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

struct Deploy {
    dir: PathBuf,
    deploy_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Deploy {
    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = tokio::process::Command::new(repo().join("ops/deploy/blue-green.sh"));
        cmd.args(args).current_dir(&self.dir).kill_on_drop(true);
        for (key, _) in std::env::vars() {
            if key.starts_with("SIDECAR") || key.starts_with("WA_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
            .await
            .expect("blue-green.sh finishes")
            .unwrap();
        eprintln!(
            "blue-green.sh {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Deploy {
    fn drop(&mut self) {
        let mut cmd = std::process::Command::new(repo().join("ops/deploy/blue-green.sh"));
        cmd.arg("stop").current_dir(&self.dir).envs(self.env.iter().map(|(k, v)| (k, v)));
        let _ = cmd.output();
        for color in ["blue", "green"] {
            let pid = std::fs::read_to_string(self.deploy_dir.join(color).join("supervisor.pid"));
            if let Some(pid) = pid.ok().and_then(|p| p.trim().parse::<i32>().ok()) {
                // SAFETY: a supervisor this test started (its own process group).
                unsafe { libc::killpg(pid, libc::SIGKILL) };
            }
        }
        wa_sidecar::engine::kill_orphans(std::slice::from_ref(&self.dir), Duration::from_secs(5));
    }
}

/// Pages of wa-sim that another page of the same account took over (its `conflict`): what two
/// browsers holding one login at once look like from WhatsApp's side.
fn taken_over_pages(sim: &wa_sim::SimServer) -> Vec<serde_json::Value> {
    let pages = sim.world().lock().pages_json();
    pages.as_array().unwrap().iter().filter(|p| p["state"] == "conflict").cloned().collect()
}

/// Devices (linked accounts) whose current page is connected to wa-sim.
fn connected_devices(sim: &wa_sim::SimServer) -> usize {
    let devices = sim.world().lock().devices_json();
    devices.as_array().unwrap().iter().filter(|d| d["connected"] == true).count()
}

/// (when, session, status or 0 for no answer) of every load request.
type Samples = Arc<Mutex<Vec<(Instant, &'static str, u16)>>>;

fn start_load(front: String, stop: Arc<AtomicBool>) -> (Samples, tokio::task::JoinHandle<()>) {
    let samples: Samples = Arc::default();
    let record = samples.clone();
    let task = tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            for id in IDS {
                let status =
                    try_call(&front, "GET", &session_path(id), None).await.map_or(0, |r| r.0);
                record.lock().unwrap().push((Instant::now(), id, status));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
    (samples, task)
}

/// One message of the send load: the session, the text, and when the sidecar settled it, the
/// message id it accepted (`None`: refused with `409 SESSION_NOT_READY`, nothing queued).
#[derive(Clone, Debug)]
struct Sent {
    session: &'static str,
    text: String,
    at: Instant,
    accepted: Option<String>,
}

/// Every 200 ms a message per session to its friend. A send that gets no answer, or an answer
/// other than 202 or 409 (nginx between two upstreams), is repeated with the same
/// `Idempotency-Key` until it gets one of those: so a send is either accepted once or refused.
fn start_sends(front: String, stop: Arc<AtomicBool>) -> (Arc<Mutex<Vec<Sent>>>, JoinHandle<()>) {
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let record = sent.clone();
    let task = tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            for (id, friend) in IDS.into_iter().zip(FRIENDS) {
                let text = format!("deploy {id} {n:04}");
                let key = format!("deploy-{id}-{n}");
                let body = json!({"to": friend, "type": "text", "text": {"body": text}});
                let path = format!("{}/messages", session_path(id));
                let deadline = Instant::now() + Duration::from_secs(60);
                let accepted = loop {
                    let answer = try_call_with(
                        &front,
                        "POST",
                        &path,
                        Some(body.clone()),
                        &[("Idempotency-Key", &key)],
                    )
                    .await;
                    match answer {
                        Some((202, v)) => break Some(v["id"].as_str().unwrap().to_owned()),
                        Some((409, v)) if v["code"] == "SESSION_NOT_READY" => break None,
                        other => {
                            assert!(Instant::now() < deadline, "{key}: no answer, last {other:?}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                };
                record.lock().unwrap().push(Sent {
                    session: id,
                    text,
                    at: Instant::now(),
                    accepted,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (sent, task)
}

/// Waits until every accepted message is `sent` or past it, then checks each friend's inbox:
/// every accepted text exactly once, in the order accepted, and no refused one.
async fn check_sends(front: &str, sim: &wa_sim::SimServer, sent: &[Sent]) {
    for s in sent {
        let Some(id) = &s.accepted else { continue };
        let path = format!("{}/messages/{id}", session_path(s.session));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, m) = call(front, "GET", &path, None).await;
            assert_eq!(status, 200, "{m}");
            match m["status"].as_str().unwrap_or("") {
                "sent" | "delivered" | "read" => break,
                "failed" => panic!("{} failed: {m}", s.text),
                _ => {}
            }
            assert!(Instant::now() < deadline, "{} not sent: {m}", s.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (id, friend) in IDS.into_iter().zip(FRIENDS) {
        let inbox: Vec<String> = crate::messages::received(sim, friend)
            .await
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_owned))
            .collect();
        let accepted: Vec<&str> = sent
            .iter()
            .filter(|s| s.session == id && s.accepted.is_some())
            .map(|s| s.text.as_str())
            .collect();
        let refused = sent.iter().filter(|s| s.session == id && s.accepted.is_none()).count();
        eprintln!("{id}: {} sends accepted, {refused} refused during its move", accepted.len());
        assert!(accepted.len() >= 10, "{id}: too few sends to say anything: {}", accepted.len());
        assert_eq!(inbox, accepted, "{friend}'s inbox is not exactly the accepted sends, in order");
    }
}

#[tokio::test]
async fn blue_green_deploy_moves_every_session_with_no_qr_and_a_failed_green_changes_nothing() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (receiver, callbacks) = Callbacks::receiver().await;
    let vault =
        format!("[vault]\nmaster_keys = [\"test:{}\"]\n", crate::helpers::TEST_VAULT_KEY_B64);
    let config = config(&root, &sim, "[sending.pacing]\nenabled = false\n");
    // The script sets the port and data folder per color: the shared file leaves them out.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[vault]\n", &vault)
        .lines()
        .filter(|l| !l.starts_with("bind =") && !l.starts_with("data_dir ="))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();
    let (blue_port, green_port, front_port) = (free_port(), free_port(), free_port());
    let nginx_dir = root.join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    std::fs::write(
        nginx_dir.join("upstream.conf"),
        format!("upstream wa_sidecar {{ server 127.0.0.1:{blue_port}; }}\n"),
    )
    .unwrap();
    let nginx = Nginx::start(&nginx_dir, front_port);
    let deploy_dir = root.join("deploy");
    let deploy = Deploy {
        dir: root.clone(),
        deploy_dir: deploy_dir.clone(),
        env: vec![
            ("WA_SIDECAR_CONFIG".into(), config.display().to_string()),
            ("WA_DEPLOY_DIR".into(), deploy_dir.display().to_string()),
            ("WA_DEPLOY_PORTS".into(), format!("{blue_port} {green_port}")),
            ("WA_DEPLOY_UPSTREAM".into(), nginx_dir.join("upstream.conf").display().to_string()),
            ("WA_DEPLOY_NGINX_RELOAD".into(), nginx.reload_command()),
            ("WA_DEPLOY_READY_TIMEOUT".into(), "20".into()),
            ("WA_SIDECARCTL_START_TIMEOUT".into(), "20".into()),
            ("WA_SIDECARCTL_STOP_TIMEOUT".into(), "30".into()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ],
    };
    assert!(deploy.run(&["start", BIN]).await.status.success());
    let front = format!("http://127.0.0.1:{front_port}");
    for id in IDS {
        create_and_link(&front, &sim, id, &receiver.url).await;
    }
    wait_outbox_empty(&front).await;
    let qr_before = callbacks.qr_count();

    // The load, from here to the end.
    let stop = Arc::new(AtomicBool::new(false));
    let (samples, load) = start_load(front.clone(), stop.clone());
    let (sent, sends) = start_sends(front.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A green that never becomes ready: blue keeps everything, nothing fails.
    let broken = root.join("broken-build");
    std::fs::write(&broken, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = deploy.run(&["deploy", broken.to_str().unwrap()]).await;
    assert!(!out.status.success(), "a green that fails its health check fails the deploy");
    assert!(String::from_utf8_lossy(&out.stdout).contains("keeps everything"));
    assert_eq!(std::fs::read_to_string(deploy_dir.join("live")).unwrap().trim(), "blue");
    for id in IDS {
        assert_eq!(call(&front, "GET", &session_path(id), None).await.1["state"], "connected");
    }
    let failed_so_far = samples.lock().unwrap().iter().filter(|s| s.2 != 200).count();
    assert_eq!(failed_so_far, 0, "a request failed while green failed its health check");
    let refused_so_far = sent.lock().unwrap().iter().filter(|s| s.accepted.is_none()).count();
    assert_eq!(refused_so_far, 0, "a send was refused while green failed its health check");

    // The real deploy: another build (a copy of the binary) as green.
    let new_build = root.join("wa-sidecar-new");
    std::fs::copy(BIN, &new_build).unwrap();
    let started = Instant::now();
    let out = deploy.run(&["deploy", new_build.to_str().unwrap()]).await;
    assert!(out.status.success(), "the deploy succeeds");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("moving 3 session(s)"), "{said}");
    let took = started.elapsed();
    assert_eq!(std::fs::read_to_string(deploy_dir.join("live")).unwrap().trim(), "green");
    for id in IDS {
        wait_connected_without_qr(&front, id).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    sends.await.unwrap();

    // Nothing left on blue; green serves everything.
    assert!(
        chromium_groups_under(&deploy_dir.join("blue")).is_empty(),
        "a browser of blue is left"
    );
    assert!(!chromium_groups_under(&deploy_dir.join("green")).is_empty(), "green runs no browser");
    assert_eq!(connected_devices(&sim), 3, "green holds all three accounts online");
    assert_eq!(
        taken_over_pages(&sim),
        Vec::<serde_json::Value>::new(),
        "two browsers held one account at once"
    );

    // Failures: per session, only inside one window (its own move), and no two windows overlap.
    let samples = samples.lock().unwrap().clone();
    let total = samples.len();
    let mut windows: Vec<(&str, Instant, Instant, usize)> = Vec::new();
    for id in IDS {
        let failed: Vec<Instant> =
            samples.iter().filter(|s| s.1 == id && s.2 != 200).map(|s| s.0).collect();
        if let (Some(first), Some(last)) = (failed.first(), failed.last()) {
            windows.push((id, *first, *last, failed.len()));
        }
    }
    for (id, first, last, n) in &windows {
        eprintln!("{id}: {n} failed requests over {:?}", *last - *first);
        assert!(*last - *first < Duration::from_secs(20), "{id} failed for {:?}", *last - *first);
    }
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            assert!(a.2 < b.1 || b.2 < a.1, "{} and {} failed at the same time", a.0, b.0);
        }
    }
    eprintln!("deploy took {took:?}; {total} requests during the test");

    // Sends: refusals only inside the session's own window of failed reads (give or take the
    // 200 ms between two rounds), each accepted one on the phone once, in order.
    let sent = sent.lock().unwrap().clone();
    for s in sent.iter().filter(|s| s.accepted.is_none()) {
        let window = windows.iter().find(|w| w.0 == s.session);
        let inside = window.is_some_and(|w| {
            s.at + Duration::from_secs(2) >= w.1 && s.at <= w.2 + Duration::from_secs(2)
        });
        assert!(inside, "{} was refused outside its session's move", s.text);
    }
    check_sends(&front, &sim, &sent).await;

    // Callbacks: none lost (the outbox both colors share is empty), none doubled (each process
    // delivers only what it claimed), no QR after the links.
    wait_outbox_empty(&front).await;
    callbacks.assert_no_duplicates();
    assert_eq!(callbacks.qr_count(), qr_before, "a QR during the deploy");
    drop(receiver);

    assert!(deploy.run(&["stop"]).await.status.success());
    assert!(chromium_groups_under(&root).is_empty(), "a Chromium outlived the stop");
}
