//! The vault against a real Chromium profile: a page writes a marker into IndexedDB, the browser
//! closes, the profile is sealed (the marker must not be in the sealed file), unsealed into a fresh
//! runtime directory, and a relaunched browser must read the marker back.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::tests::{keys, sk, Env};
use crate::sessions::profile::ProfileStore;

const CHROMIUM: &str = "/usr/lib/chromium/chromium";

const PAGE: &str = r#"<!doctype html><title>vault</title><script>
const marker = new URLSearchParams(location.search).get('m');
const req = indexedDB.open('login', 1);
req.onupgradeneeded = () => req.result.createObjectStore('kv');
req.onsuccess = () => {
  const db = req.result;
  const get = db.transaction('kv').objectStore('kv').get('creds');
  get.onsuccess = () => {
    if (get.result) { fetch('/report?found=' + encodeURIComponent(get.result)); return; }
    const tx = db.transaction('kv', 'readwrite', {durability: 'strict'});
    tx.objectStore('kv').put(marker, 'creds');
    tx.oncomplete = () => fetch('/report?wrote=' + encodeURIComponent(marker));
  };
};
</script>"#;

/// A one-page HTTP server on 127.0.0.1 that records the `/report?...` queries it gets.
struct Server {
    port: u16,
    reports: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        // Detached: it only ever blocks in accept, and dies with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &sink);
            }
        });
        Self { port, reports }
    }

    fn wait_report(&self, prefix: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = self.reports.lock().unwrap().iter().find(|r| r.starts_with(prefix)) {
                return r.clone();
            }
            assert!(
                Instant::now() < end,
                "no report {prefix:?} within {timeout:?}: {:?}",
                self.reports.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(stream: TcpStream, reports: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (ctype, body) = match target.strip_prefix("/report?") {
        Some(q) => {
            reports.lock().unwrap().push(q.to_owned());
            ("text/plain", "ok")
        }
        None if target.starts_with("/?") || target == "/" => ("text/html", PAGE),
        None => ("text/plain", ""),
    };
    let mut s = stream;
    write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// Chromium in its own process group: closed gracefully by `close`, killed and reaped on drop.
struct Browser(Child);

impl Browser {
    fn launch(profile: &Path, url: &str) -> Self {
        let child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start Chromium");
        Self(child)
    }

    /// SIGTERM (Chromium shuts down cleanly), then wait; SIGKILL the group after the timeout.
    fn close(mut self, timeout: Duration) {
        signal_group(&self.0, libc::SIGTERM);
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                // Helpers (renderers, zygote) share the group; make sure none outlives the browser.
                signal_group(&self.0, libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Chromium did not exit within {timeout:?} of SIGTERM");
    }
}

fn signal_group(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals our own child's process group; no memory involved.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), sig);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        signal_group(&self.0, libc::SIGKILL);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn grep_tree(root: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

#[test]
fn a_real_chromium_login_survives_seal_and_unseal_and_is_not_in_the_sealed_file() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "this test needs Chromium at {CHROMIUM} (ops/setup.sh installs it)"
    );
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let server = Server::start();
    let marker = format!("wa-vault-marker-{}", std::process::id());
    let url = format!("http://127.0.0.1:{}/?m={marker}", server.port);

    let live = store.open(&key).unwrap();
    let browser = Browser::launch(&live, &url);
    server.wait_report("wrote=", Duration::from_secs(30));
    browser.close(Duration::from_secs(15));
    assert!(
        grep_tree(&live.join("Default/IndexedDB"), marker.as_bytes()),
        "the marker is in the live IndexedDB"
    );
    store.close(&key).unwrap();
    assert!(!live.exists(), "live profile wiped after close");
    let sealed = std::fs::read(store.sealed_path(&key)).unwrap();
    assert!(
        !sealed.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "marker found in the sealed file"
    );

    let live = store.open(&key).unwrap();
    assert!(!live.join("Default/Cache").exists() && !live.join("SingletonLock").exists());
    let browser = Browser::launch(&live, &url);
    let found = server.wait_report("found=", Duration::from_secs(30));
    browser.close(Duration::from_secs(15));
    assert_eq!(found, format!("found={marker}"));
    store.close(&key).unwrap();
}
