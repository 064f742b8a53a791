//! The engine against local pages (no simulator): bridge injection, process ownership, stale locks.

use std::time::{Duration, Instant};

use wa_sidecar::engine::process::{group_members, owner_mark, OWNER_SWITCH};
use wa_sidecar::engine::{kill_orphans, Engine, EngineEvent};

use super::support::*;

/// The real wa-js bundle, injected at document start into a blank local page: `WPP` exists and is
/// not ready (no WhatsApp there), analytics is off, and nothing leaves localhost. Every request
/// not addressed to 127.0.0.1 goes through the test's proxy and is logged; the page's own beacon
/// to a non-local host afterwards proves that log would catch one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bridge_defines_wpp_and_stays_local() {
    require_chromium();
    assert!(
        repo_bridge().is_file(),
        "run ops/fetch-bridge.sh first: {} is missing",
        repo_bridge().display()
    );
    let server = PageServer::start().await;
    let mut config = test_config(server.url());
    config.inject_bridge = true;
    config.extra_args = vec![format!("proxy-server=http://127.0.0.1:{}", server.port)];
    let mut t = TestEngine::new(config);
    t.start().await.expect("start");

    let report = eventually(Duration::from_secs(15), "the page's report", || {
        server.reports().into_iter().next()
    })
    .await;
    assert_eq!(report["wpp"], "object", "{report}");
    assert_eq!(report["isReady"], false, "{report}");
    assert_eq!(report["version"], "4.6.0", "{report}");
    assert_eq!(report["analyticsOff"], true, "{report}");
    assert_eq!(report["webdriver"], false, "{report}");
    let ua = report["ua"].as_str().unwrap();
    assert!(ua.contains("Chrome/") && !ua.contains("Headless"), "{ua}");
    assert_eq!(server.proxied(), Vec::<String>::new(), "requests left localhost");

    let control = eventually(Duration::from_secs(10), "the control beacon at the proxy", || {
        let p = server.proxied();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert!(control.iter().all(|l| l.contains("beacon-control.example")), "{control:?}");
    // No WhatsApp behind the page, so the bridge never became ready and reported nothing.
    assert!(t.events.try_recv().is_err(), "no engine event expected on a blank page");

    // Every WPP function the sidecar calls anywhere in its sources exists in the real bundle.
    let called = wpp_functions_called();
    assert!(called.len() > 20, "the scan found too few calls: {called:?}");
    let names = serde_json::to_string(&called).unwrap();
    let check = format!(
        "(() => {names}.filter((n) => typeof n.split('.').slice(1)\
         .reduce((o, k) => (o == null ? undefined : o[k]), window.WPP) !== 'function'))()"
    );
    let missing = t.engine.call("check", check).await.expect("the check runs in the page");
    assert_eq!(missing, serde_json::json!([]), "called by the sidecar, absent from wa-js");
    t.engine.stop().await.unwrap();
}

/// `WPP.<namespace>.<function>` names written anywhere under src/ (Rust and the page glue).
fn wpp_functions_called() -> std::collections::BTreeSet<String> {
    fn scan(dir: &std::path::Path, found: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                scan(&path, found);
                continue;
            }
            if !path.extension().is_some_and(|e| e == "rs" || e == "js") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("WPP.") {
                let rest = &text[at + 4..];
                let word = |s: &str| s.chars().take_while(char::is_ascii_alphanumeric).count();
                let ns = word(rest);
                if ns == 0 || !rest[ns..].starts_with('.') {
                    continue;
                }
                let func = word(&rest[ns + 1..]);
                let first = rest[..ns].chars().next().unwrap();
                if func > 0 && first.is_ascii_lowercase() {
                    found.insert(format!("WPP.{}", &rest[..ns + 1 + func]));
                }
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    scan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    found
}

/// Launch → the group has processes → stop → none left, the leader reaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_no_process_in_the_group() {
    require_chromium();
    let server = PageServer::start().await;
    let mut t = TestEngine::new(test_config(server.url()));
    t.start().await.expect("start");
    let pgid = t.engine.pgid().expect("pgid while running");
    // SAFETY: getpgrp has no preconditions.
    assert_ne!(pgid, unsafe { libc::getpgrp() }, "Chromium must not share the test's group");
    eventually(Duration::from_secs(15), "page report", || server.reports().into_iter().next())
        .await;
    assert!(
        group_members(pgid).len() >= 3,
        "browser, zygote, renderer…: {:?}",
        group_members(pgid)
    );

    let started = Instant::now();
    t.engine.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "graceful stop took {:?}",
        started.elapsed()
    );
    assert_eq!(group_members(pgid), Vec::<u32>::new());
    assert_eq!(t.engine.pgid(), None);
    let last =
        t.wait_for(Duration::from_secs(2), |e| matches!(e, EngineEvent::BrowserGone { .. })).await;
    assert_eq!(last.last(), Some(&EngineEvent::BrowserGone { reason: "stopped".into() }));
    t.engine.stop().await.expect("stop is idempotent");
}

/// The browser is SIGKILLed: the engine reports BrowserGone by itself, stop() cleans up the
/// group, and a new start on the same profile (now holding stale Singleton files) works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_browser_is_reported_and_profile_relaunches() {
    require_chromium();
    let server = PageServer::start().await;
    let mut t = TestEngine::new(test_config(server.url()));
    t.start().await.expect("start");
    let pgid = t.engine.pgid().unwrap();
    eventually(Duration::from_secs(15), "page report", || server.reports().into_iter().next())
        .await;
    assert!(
        t.profile.join("SingletonLock").symlink_metadata().is_ok(),
        "Chromium holds its profile lock"
    );

    // SAFETY: kill only signals the browser leader we spawned.
    unsafe { libc::kill(pgid, libc::SIGKILL) };
    let seen =
        t.wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::BrowserGone { .. })).await;
    assert!(
        matches!(seen.last(), Some(EngineEvent::BrowserGone { reason }) if reason != "stopped"),
        "{seen:?}"
    );
    t.engine.stop().await.unwrap();
    assert_eq!(group_members(pgid), Vec::<u32>::new());
    assert!(
        t.profile.join("SingletonLock").symlink_metadata().is_ok(),
        "a killed browser leaves its lock"
    );

    t.start().await.expect("relaunch on the same profile");
    eventually(Duration::from_secs(15), "second page report", || {
        (server.reports().len() >= 2).then_some(())
    })
    .await;
    t.stop_leaving_nothing().await;
}

/// A lock left by "another machine" (what a copied profile looks like) makes Chromium refuse the
/// profile unless it is removed; the engine removes stale Singleton files before launch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_singleton_files_do_not_block_launch() {
    require_chromium();
    let server = PageServer::start().await;
    let mut t = TestEngine::new(test_config(server.url()));
    std::fs::create_dir_all(&t.profile).unwrap();
    std::os::unix::fs::symlink("another-host-4242", t.profile.join("SingletonLock")).unwrap();
    std::os::unix::fs::symlink("/tmp/nowhere/SingletonSocket", t.profile.join("SingletonSocket"))
        .unwrap();
    std::os::unix::fs::symlink("1234567890", t.profile.join("SingletonCookie")).unwrap();
    std::fs::write(t.profile.join("DevToolsActivePort"), "1\n/devtools/browser/stale\n").unwrap();
    t.start().await.expect("start despite stale locks");
    eventually(Duration::from_secs(15), "page report", || server.reports().into_iter().next())
        .await;
    let lock = std::fs::read_link(t.profile.join("SingletonLock")).unwrap();
    assert_ne!(lock.to_string_lossy(), "another-host-4242");
    t.engine.stop().await.unwrap();
}

/// Browser.close is never answered (the browser is frozen with SIGSTOP): stop() still returns
/// within its bounds and leaves no process. Then a page with no bridge: BridgeNotReady in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_browser_is_killed_and_missing_bridge_times_out() {
    require_chromium();
    let server = PageServer::start().await;
    let mut config = test_config(server.url());
    config.cdp_timeout_ms = 3_000;
    config.close_grace_ms = 1_000;
    config.ready_timeout_ms = 2_000;
    let mut t = TestEngine::new(config);
    let started = Instant::now();
    t.start().await.expect("start");
    let seen = t
        .wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::BridgeNotReady { .. }))
        .await;
    assert_eq!(seen.last(), Some(&EngineEvent::BridgeNotReady { after_ms: 2_000 }));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2_000) && waited < Duration::from_secs(8),
        "{waited:?}"
    );

    let pgid = t.engine.pgid().unwrap();
    // SAFETY: signals only the browser leader we spawned.
    unsafe { libc::kill(pgid, libc::SIGSTOP) };
    let stopping = Instant::now();
    t.engine.stop().await.unwrap();
    let took = stopping.elapsed();
    // Browser.close unanswered (3 s) + grace (1 s) + kill/reap; the bound is 3 s + 3 × 1 s.
    assert!(
        took >= Duration::from_millis(3_000) && took < Duration::from_secs(7),
        "stop took {took:?}"
    );
    assert_eq!(group_members(pgid), Vec::<u32>::new());
}

/// Browsers left running by a "crashed" sidecar (an owner mark naming a process that is gone) are
/// found and killed; a browser under the same root whose owner still runs (a second sidecar on
/// the same folders; here, this test process) and one outside the roots are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_under_our_roots_are_killed() {
    require_chromium();
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let gone_owner = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        format!("{}:1", c.id())
    };
    let spawn = |dir: &std::path::Path, owner: &str| {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(CHROMIUM)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", dir.display()))
            .arg(format!("{OWNER_SWITCH}{owner}"))
            .arg("about:blank")
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    struct Reap(Vec<std::process::Child>);
    impl Drop for Reap {
        fn drop(&mut self) {
            for c in &mut self.0 {
                // SAFETY: signals only groups this test spawned.
                unsafe { libc::killpg(c.id() as i32, libc::SIGKILL) };
                let _ = c.wait();
            }
        }
    }
    let browsers = Reap(vec![
        spawn(&root.path().join("acme/s1"), &gone_owner),
        spawn(&root.path().join("acme/s2"), &owner_mark()),
        spawn(&elsewhere.path().join("p"), &gone_owner),
    ]);
    let pgids: Vec<i32> = browsers.0.iter().map(|c| c.id() as i32).collect();
    eventually(Duration::from_secs(10), "three browsers up", || {
        pgids.iter().all(|&g| group_members(g).len() > 1).then_some(())
    })
    .await;
    let killed = kill_orphans(&[root.path().to_path_buf()], Duration::from_secs(5));
    assert_eq!(killed, vec![pgids[0]]);
    // The leader is this test's child, so it stays a zombie until reaped: not a live member.
    assert_eq!(group_members(pgids[0]), Vec::<u32>::new());
    assert!(group_members(pgids[1]).len() > 1, "a browser whose owner runs is left alone");
    assert!(group_members(pgids[2]).len() > 1, "a browser outside our roots is left alone");
    drop(browsers);
}

/// DevTools travels over a pipe: no process of the browser listens on any TCP port another local
/// process could connect to, the command line asks for no port, and the browser's environment
/// holds nothing of the sidecar's but the locale and paths (a secret given to the sidecar in its
/// environment never reaches a page's process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devtools_has_no_port_and_chromium_inherits_no_secret() {
    require_chromium();
    // The test process is the sidecar here: give it a secret the way an operator would.
    std::env::set_var("SIDECAR__VAULT__MASTER_KEY", "c2VjcmV0LXZhdWx0LWtleS1ub3QtZm9yLWNocm9taXVt");
    let server = PageServer::start().await;
    let mut t = TestEngine::new(test_config(server.url()));
    t.start().await.expect("start");
    eventually(Duration::from_secs(15), "page report", || server.reports().into_iter().next())
        .await;
    let pgid = t.engine.pgid().unwrap();
    let members = group_members(pgid);
    assert!(members.len() > 1, "the browser runs several processes: {members:?}");
    let listening = listening_socket_inodes();
    for pid in &members {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(!cmdline.contains("remote-debugging-port"), "pid {pid}: {cmdline}");
        for inode in socket_inodes(*pid) {
            assert!(!listening.contains(&inode), "pid {pid} listens on a TCP socket ({cmdline})");
        }
    }
    let environ = std::fs::read(format!("/proc/{pgid}/environ")).unwrap();
    let names: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| String::from_utf8_lossy(kv).split('=').next().unwrap_or_default().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("SIDECAR")), "{names:?}");
    assert!(!String::from_utf8_lossy(&environ).contains("c2VjcmV0LXZhdWx0"), "the secret leaked");
    t.stop_leaving_nothing().await;
}

/// Inodes of TCP sockets in LISTEN state (IPv4 and IPv6), from /proc/net.
fn listening_socket_inodes() -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if cols.get(3) == Some(&"0A") {
                if let Some(inode) = cols.get(9) {
                    out.insert((*inode).to_owned());
                }
            }
        }
    }
    out
}

/// Inodes of the sockets a process holds open.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')).map(str::to_owned)
        })
        .collect()
}
