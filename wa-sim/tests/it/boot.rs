//! Boot, readiness, QR rotation and idle, scanning, and coming back logged in.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use wa_sim::SimConfig;

fn index_of(names: &[String], name: &str) -> usize {
    names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("`{name}` missing from {names:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_emits_loader_and_conn_events_in_order_and_main_ready_on_the_qr_screen() {
    // A first code that outlives the test, so the code seen here is the code shown.
    let sim = start_sim(SimConfig { qr_first_ttl_ms: 60_000, ..SimConfig::fast() });
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;

    let names = page.names();
    let order = [
        "glue.attached",
        "loader.injected",
        "conn.auth_code_change",
        "conn.main_init",
        "loader.ready",
        "conn.stream_mode_changed",
        "conn.main_ready",
        "loader.full_ready",
        "conn.require_auth",
    ];
    let idx: Vec<usize> = order.iter().map(|n| index_of(&names, n)).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "order {order:?} not kept: {names:?}");
    assert!(!names.contains(&"conn.authenticated".to_string()));
    // The glue attached before the bridge was ready, as it would to the real bundle.
    assert_eq!(page.events()[0].1, json!([false]));

    let first = &page.all("conn.auth_code_change", 0)[0].0[0];
    assert_eq!(first["type"], "multidevice");
    let full = first["fullCode"].as_str().unwrap();
    assert_eq!(full.split(',').count(), 4, "ref,static,identity,secret: {full}");
    assert!(full.starts_with(first["ref"].as_str().unwrap()));
    assert_eq!(page.all("conn.stream_mode_changed", 0)[0].0, json!(["QR"]));

    let flags = page.ok("({ready: WPP.isReady, full: WPP.isFullReady, injected: WPP.isInjected, auth: WPP.conn.isAuthenticated(), \
        reg: WPP.conn.isRegistered(), mainReady: WPP.conn.isMainReady(), debug: window.Debug.VERSION, stream: WPP.conn.getStreamData()})").await;
    assert_eq!(flags["ready"], true);
    assert_eq!(flags["full"], true);
    assert_eq!(flags["injected"], true);
    assert_eq!(flags["auth"], false);
    assert_eq!(flags["reg"], false);
    assert_eq!(flags["mainReady"], true, "main_ready also on the QR screen");
    assert!(flags["debug"].as_str().unwrap().starts_with("2.3000."));
    assert_eq!(flags["stream"]["mode"], "QR");

    // The control API sees the same code the page shows.
    assert_eq!(ctl.current_qr().await, full);
    let code = page.ok("WPP.conn.getAuthCode()").await;
    assert_eq!(code["fullCode"], full);
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_rotates_on_the_configured_schedule_then_idles_until_refresh() {
    let cfg = SimConfig {
        qr_first_ttl_ms: 900,
        // The first code is emitted at injection, boot_delay_ms after its timer started.
        boot_delay_ms: 50,
        qr_interval_ms: 300,
        qr_count: 4,
        ..SimConfig::fast()
    };
    let sim = start_sim(cfg);
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event_from("conn.qrcode_idle", 0, Duration::from_secs(6)).await;

    let codes = page.all("conn.auth_code_change", 0);
    assert_eq!(codes.len(), 4, "four codes, then idle: {:?}", page.names());
    let texts: Vec<String> =
        codes.iter().map(|(a, _)| a[0]["fullCode"].as_str().unwrap().to_string()).collect();
    let mut unique = texts.clone();
    unique.dedup();
    assert_eq!(unique.len(), 4, "every rotation is a new code");
    // Timed on the page's clock, where the server's timer frames land.
    let at = page.emitted_at("conn.auth_code_change", 0);
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!((700..1600).contains(&gaps[0]), "first code lives ~900 ms: {gaps:?}");
    assert!(
        gaps[1..].iter().all(|g| (150..800).contains(g) && *g < gaps[0]),
        "later codes ~300 ms: {gaps:?}"
    );
    let idle_gap = page.emitted_at("conn.qrcode_idle", 0)[0] - at[3];
    assert!((150..800).contains(&idle_gap), "idle one interval after the last code: {idle_gap}");

    // Idle: no code, no more rotation, and the old code no longer scans.
    assert_eq!(page.ok("WPP.conn.isIdle()").await, json!(true));
    assert_eq!(page.ok("WPP.conn.getAuthCode()").await, Value::Null);
    let (status, body) =
        ctl.post_status("/scan", json!({"code": texts[3], "phone": "15550000001"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "QR_NOT_FOUND");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(page.all("conn.auth_code_change", 0).len(), 4);

    // refreshQR brings a fresh code and the page rotates again.
    let mark = page.mark();
    let fresh = page.ok("WPP.conn.refreshQR()").await;
    let full = fresh["fullCode"].as_str().unwrap().to_string();
    assert!(!texts.contains(&full));
    let (_, ev) = page.wait_event_from("conn.auth_code_change", mark, T).await;
    assert_eq!(ev[0]["fullCode"], full.as_str());
    assert_eq!(page.ok("WPP.conn.isIdle()").await, json!(false));
    // The control API shows what the page shows (it may have rotated again by now, under load).
    assert!(page_showed(&page, mark, &ctl.current_qr().await).await);
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_logs_in_and_the_same_profile_comes_back_without_qr_while_a_fresh_one_gets_a_qr() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    let mark = page.mark();
    let device = ctl.scan("15550001111").await;
    page.wait_event_from("conn.main_loaded", mark, T).await;

    let after = page.names_since(mark);
    let order = ["conn.auth_code_change", "conn.authenticated", "conn.main_loaded"];
    let idx: Vec<usize> = order.iter().map(|n| index_of(&after, n)).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{after:?}");
    assert_eq!(
        page.all("conn.auth_code_change", mark)[0].0,
        json!([null]),
        "the code is cleared once scanned"
    );
    assert_eq!(page.all("conn.main_ready", 0).len(), 1, "main_ready fires once per page load");
    page.until("WPP.conn.getStreamData().mode === 'MAIN'", T).await;
    let me = page.ok("({auth: WPP.conn.isAuthenticated(), reg: WPP.conn.isRegistered(), id: WPP.conn.getMyUserId(), dev: WPP.conn.getMyDeviceId()})").await;
    assert_eq!(me["auth"], true);
    assert_eq!(me["reg"], true);
    assert_eq!(me["id"], "15550001111@c.us");
    assert_eq!(me["dev"], format!("{}@c.us", device["id"].as_str().unwrap()));

    // The login lives in IndexedDB, with its marker.
    let marker = device["login_marker"].as_str().unwrap().to_string();
    assert!(marker.starts_with("WASIM-LOGIN-"));
    let rec = page.ok("new Promise((res, rej) => { const r = indexedDB.open('wawc'); r.onsuccess = () => { \
        const q = r.result.transaction('user').objectStore('user').get('login'); q.onsuccess = () => { res(q.result); r.result.close(); }; }; r.onerror = rej; })").await;
    assert_eq!(rec["wa_sim_login_marker"], marker.as_str());
    assert_eq!(page.ok("localStorage.getItem('wa-sim-login')").await, device["id"]);
    // Its secret is sealed with a non-extractable CryptoKey kept in the same record.
    let key = page.ok("new Promise((res, rej) => { const r = indexedDB.open('wawc'); r.onsuccess = () => { \
        const q = r.result.transaction('user').objectStore('user').get('login'); q.onsuccess = () => { const v = q.result; \
        res({key: v.token_key instanceof CryptoKey, extractable: v.token_key.extractable, plain: 'token' in v}); r.result.close(); }; }; r.onerror = rej; })").await;
    assert_eq!(key, json!({"key": true, "extractable": false, "plain": false}));

    // Reload: logged in again, no QR, no conn.authenticated.
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.main_ready", mark, T).await;
    page.wait_event_from("conn.main_loaded", mark, T).await;
    let after = page.names_since(mark);
    assert!(!after.contains(&"conn.authenticated".to_string()), "{after:?}");
    assert!(!after.contains(&"conn.require_auth".to_string()), "{after:?}");
    assert!(page.all("conn.auth_code_change", mark).iter().all(|(a, _)| a[0].is_null()));
    assert_eq!(page.ok("WPP.conn.isAuthenticated()").await, json!(true));
    drop(page);

    // Restart the browser on the same profile: still logged in; the marker is on disk.
    chrome.close().await;
    let on_disk = grep_dir(&dir.path().join("Default/IndexedDB"), marker.as_bytes());
    assert!(on_disk, "the login marker is in the profile's IndexedDB files");
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.main_loaded").await;
    let names = page.names();
    assert!(
        !names.contains(&"conn.authenticated".to_string())
            && !names.contains(&"conn.require_auth".to_string()),
        "{names:?}"
    );
    assert_eq!(page.ok("WPP.conn.getMyUserId()").await, "15550001111@c.us");
    let devices = ctl.get("/devices").await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "the same device came back: {devices}");
    assert_eq!(devices[0]["connected"], true);
    drop(page);
    chrome.close().await;

    // A fresh profile has no login: QR again.
    let fresh = profile();
    let chrome = Chrome::launch(fresh.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    assert!(page.all("conn.auth_code_change", 0)[0].0[0]["fullCode"].is_string());
    assert_eq!(page.ok("WPP.conn.isAuthenticated()").await, json!(false));
    chrome.close().await;
}

/// Whether the page emitted `code` on `conn.auth_code_change` since `from` (waits for delivery).
async fn page_showed(page: &SimPage, from: usize, code: &str) -> bool {
    let deadline = std::time::Instant::now() + T;
    loop {
        if page.all("conn.auth_code_change", from).iter().any(|(a, _)| a[0]["fullCode"] == code) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            grep_dir(&p, needle)
        } else {
            std::fs::read(&p).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false)
        }
    })
}

/// What the vault keeps (Default/IndexedDB + Default/Local Storage) is enough to come back
/// logged in; Local Storage alone is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexeddb_alone_carries_the_login_to_another_profile() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let original = profile();
    let chrome = Chrome::launch(original.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550009000").await;
    drop(page);
    chrome.close().await;

    let copied = profile();
    copy_dir(&original.path().join("Default/IndexedDB"), &copied.path().join("Default/IndexedDB"));
    copy_dir(
        &original.path().join("Default/Local Storage"),
        &copied.path().join("Default/Local Storage"),
    );
    let chrome = Chrome::launch(copied.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.main_loaded").await;
    assert_eq!(page.ok("WPP.conn.getMyUserId()").await, "15550009000@c.us");
    assert!(!page.names().contains(&"conn.require_auth".to_string()));
    drop(page);
    chrome.close().await;

    let without_idb = profile();
    copy_dir(
        &original.path().join("Default/Local Storage"),
        &without_idb.path().join("Default/Local Storage"),
    );
    let chrome = Chrome::launch(without_idb.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    assert_eq!(page.ok("WPP.conn.isRegistered()").await, json!(false));
    drop(page);
    chrome.close().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_login_without_its_cryptokey_is_no_login() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    let mark = page.mark();
    ctl.scan("15550001111").await;
    page.wait_event_from("conn.main_loaded", mark, T).await;
    // What a storage copy that cannot carry CryptoKeys would write back: the record, key dropped.
    page.ok("new Promise((res, rej) => { const r = indexedDB.open('wawc'); r.onsuccess = () => { \
        const tx = r.result.transaction('user', 'readwrite'); const s = tx.objectStore('user'); \
        const q = s.get('login'); q.onsuccess = () => { const v = q.result; delete v.token_key; s.put(v, 'login'); }; \
        tx.oncomplete = () => { r.result.close(); res(true); }; tx.onerror = rej; }; r.onerror = rej; })").await;
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.require_auth", mark, T).await;
    assert_eq!(page.ok("WPP.conn.isAuthenticated()").await, json!(false));
    chrome.close().await;
}
