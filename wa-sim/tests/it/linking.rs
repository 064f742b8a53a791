//! Pairing by phone number, logout (both ways), conflict, offline/online.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use wa_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_links_the_phone_that_enters_it_and_the_managed_flow_refreshes_then_expires() {
    let cfg = SimConfig { link_code_ttl_ms: 300, link_code_refreshes: 2, ..SimConfig::fast() };
    let sim = start_sim(cfg);
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;

    let err = page.call("WPP.conn.genLinkDeviceCodeForPhoneNumber('')").await.unwrap_err();
    assert_eq!(err["code"], "send_the_phone_number_to_connect");

    // Managed flow: a code now, refreshed twice, then expired.
    let first = page.ok("WPP.conn.startLinkDeviceCodeForPhoneNumber('15550002222')").await;
    page.wait_event_from("conn.link_code_expired", 0, Duration::from_secs(5)).await;
    let changes: Vec<String> = page
        .all("conn.link_code_change", 0)
        .iter()
        .map(|(a, _)| a[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(changes.len(), 3, "first code + 2 refreshes: {changes:?}");
    assert_eq!(changes[0], first.as_str().unwrap());

    // One-shot code: 8 characters, shown for that phone only.
    let code = page.ok("WPP.conn.genLinkDeviceCodeForPhoneNumber('15550002222')").await;
    let code = code.as_str().unwrap().to_string();
    assert_eq!(code.len(), 8);
    assert!(code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{code}");
    let pages = ctl.get("/pages").await;
    assert_eq!(pages[0]["state"], "linking");
    assert_eq!(pages[0]["link_code"]["code"], code.as_str());
    let (status, body) =
        ctl.post_status("/link-code", json!({"phone": "15559999999", "code": code})).await;
    assert_eq!(status, 404, "another phone cannot use the code: {body}");

    let mark = page.mark();
    let dashed = format!("{}-{}", &code[..4], &code[4..]);
    ctl.post("/link-code", json!({"phone": "15550002222", "code": dashed})).await;
    page.wait_event_from("conn.authenticated", mark, T).await;
    page.wait_event_from("conn.main_loaded", mark, T).await;
    assert_eq!(page.ok("WPP.conn.getMyUserId()").await, "15550002222@c.us");
    let err =
        page.call("WPP.conn.genLinkDeviceCodeForPhoneNumber('15550002222')").await.unwrap_err();
    assert_eq!(err["code"], "cannot_get_code_for_already_authenticated");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_online_conflict_unlink_and_logout_reach_the_page() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550003000").await;
    let device = ctl.get("/devices").await[0]["id"].as_str().unwrap().to_string();

    // The connection drops: offline events; a message sent meanwhile is in the chat when it
    // returns, without `chat.new_message` (WhatsApp Web's offline delivery, wa-js issue 730).
    let mark = page.mark();
    ctl.post("/offline", json!({"device": device})).await;
    page.wait_event_from("conn.online", mark, T).await;
    page.until("WPP.conn.getStreamData().mode === 'OFFLINE' && !WPP.conn.isOnline()", T).await;
    assert_eq!(page.all("conn.online", mark)[0].0, json!([false]));
    assert_eq!(page.all("conn.stream_info_changed", mark)[0].0, json!(["OFFLINE"]));
    ctl.post("/messages", json!({"from": "15550003001", "to": "15550003000", "type": "text", "text": "while you were away"})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(page.all("chat.new_message", mark).is_empty(), "nothing arrives while offline");
    let mark = page.mark();
    ctl.post("/online", json!({"device": device})).await;
    page.until("WPP.conn.getStreamData().mode === 'MAIN' && WPP.conn.isOnline()", T).await;
    let (_, online) = page.wait_event_from("conn.online", mark, T).await;
    assert_eq!(online, json!([true]));
    let got = page
        .ok("WPP.chat.getMessages('15550003001@c.us', {count: 5}).then(l => l.map(m => m.body))")
        .await;
    assert_eq!(got, json!(["while you were away"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(page.all("chat.new_message", mark).is_empty(), "caught up, not replayed");

    // Another client takes over: CONFLICT, and the page does not fight back.
    let mark = page.mark();
    ctl.post("/conflict", json!({"device": device})).await;
    let (_, mode) = page.wait_event_from("conn.stream_mode_changed", mark, T).await;
    assert_eq!(mode, json!(["CONFLICT"]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pages = ctl.get("/pages").await;
    let me = pages.as_array().unwrap().iter().find(|p| p["device"] == device.as_str()).unwrap();
    assert_eq!(me["state"], "conflict");
    assert_eq!(me["connected"], false);

    // Reload takes the session back; then the phone unlinks it: logout, reload, QR.
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.main_loaded", mark, T).await;
    // WhatsApp demands a newer client: a hard block until reload.
    let mark = page.mark();
    let (status, _) = ctl.post_status("/block", json!({"device": device, "mode": "NOPE"})).await;
    assert_eq!(status, 400);
    ctl.post("/block", json!({"device": device, "mode": "DEPRECATED_VERSION"})).await;
    page.wait_event_from("conn.needs_update", mark, T).await;
    assert_eq!(page.all("conn.stream_mode_changed", mark)[0].0, json!(["DEPRECATED_VERSION"]));
    assert_eq!(page.ok("WPP.conn.needsUpdate()").await, json!(true));
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.main_loaded", mark, T).await;

    let mark = page.mark();
    ctl.post("/unlink", json!({"device": device})).await;
    page.wait_event_from("conn.logout", mark, T).await;
    assert_eq!(page.all("conn.logout_reason", mark)[0].0, json!(["user_initiated"]));
    page.wait_event_from("conn.require_auth", mark, T).await;
    assert_eq!(page.ok("localStorage.getItem('wa-sim-login')").await, serde_json::Value::Null);
    assert!(ctl.get("/devices").await.as_array().unwrap().is_empty());

    // Link again and log out from the page itself.
    let mark = page.mark();
    ctl.scan("15550003000").await;
    page.wait_event_from("conn.main_loaded", mark, T).await;
    let mark = page.mark();
    assert_eq!(page.ok("WPP.conn.logout()").await, json!(true));
    page.wait_event_from("conn.logout", mark, T).await;
    assert!(ctl.get("/devices").await.as_array().unwrap().is_empty());
    page.wait_event_from("conn.require_auth", mark, T).await;
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_unlinked_while_the_browser_was_closed_log_out_on_reconnect() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550004000").await;
    drop(page);
    chrome.close().await;
    // (through the typed client)
    let control = wa_sim::Control::for_server(&sim).unwrap();
    let unlinked = control.unlink_phone("15550004000", Some("unknown_companion")).await.unwrap();
    assert_eq!(unlinked["unlinked"].as_array().unwrap().len(), 1);
    match control.unlink_phone("15550004000", None).await {
        Err(wa_sim::ControlError::Api { status: 404, code, .. }) => {
            assert_eq!(code, "DEVICE_NOT_FOUND")
        }
        other => panic!("unlinking twice: {other:?}"),
    }

    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.logout").await;
    assert_eq!(page.all("conn.logout_reason", 0)[0].0, json!(["unknown_companion"]));
    assert!(!page.names().contains(&"conn.main_loaded".to_string()));
    // WhatsApp reloads after a logout: the next document asks for a QR.
    let (i, _) = page.wait_event_from("conn.require_auth", 0, T).await;
    assert!(
        page.all("conn.auth_code_change", 0).iter().any(|(a, _)| a[0]["fullCode"].is_string()),
        "{i}"
    );
    chrome.close().await;
}
