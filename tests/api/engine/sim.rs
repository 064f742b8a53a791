//! The engine against wa-sim, the local WhatsApp Web stand-in: QR → scan → connected, restore
//! without QR, pairing code, unlink, conflict, a bridge that never becomes ready, a killed browser.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wa_sidecar::engine::inbound::{dropped_total, Dropped};
use wa_sidecar::engine::process::group_members;
use wa_sidecar::engine::{Engine, EngineConfig, EngineEvent};
use wa_sidecar::ids::PhoneNumber;
use wa_sim::{SimConfig, SimServer};

use super::support::*;

const PHONE: &str = "15550001111";

fn sim() -> SimServer {
    SimServer::start(SimConfig::fast()).expect("start wa-sim")
}

fn sim_config(sim: &SimServer) -> EngineConfig {
    let mut c = test_config(sim.base_url());
    c.ready_timeout_ms = 15_000;
    c
}

/// POST a JSON body to the simulator's control API; returns (status, body).
async fn control(sim: &SimServer, path: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let mut sock = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let req = format!(
        "POST /_sim{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.addr(),
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let resp = String::from_utf8_lossy(&resp);
    let status = resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = resp
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn is_connected(e: &EngineEvent) -> bool {
    matches!(e, EngineEvent::Connected { .. })
}

/// Starts, waits for the first QR and scans it with the simulated phone; returns once connected.
async fn scan_to_connected(t: &mut TestEngine, sim: &SimServer) {
    let seen = t.wait_for(Duration::from_secs(20), |e| matches!(e, EngineEvent::Qr { .. })).await;
    assert_eq!(
        seen[0],
        EngineEvent::BridgeReady { authenticated: false, version: seen_version(&seen) },
        "{seen:?}"
    );
    let Some(EngineEvent::Qr { code }) = seen.last() else { unreachable!() };
    let (status, body) = control(sim, "/scan", json!({"code": code, "phone": PHONE})).await;
    assert_eq!(status, 200, "scan: {body}");
    let seen = t.wait_for(Duration::from_secs(10), is_connected).await;
    assert!(seen.contains(&EngineEvent::Authenticating), "{seen:?}");
    assert_eq!(seen.last(), Some(&EngineEvent::Connected { phone: Some(PHONE.into()) }));
}

fn seen_version(seen: &[EngineEvent]) -> Option<String> {
    match seen.first() {
        Some(EngineEvent::BridgeReady { version, .. }) => version.clone(),
        _ => None,
    }
}

/// QR → scan → connected; stop; start on the same profile → restored without a QR; then another
/// client takes the account → Conflict; then the browser is killed → BrowserGone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_restore_conflict_and_crash() {
    require_chromium();
    let sim = sim();
    let mut t = TestEngine::new(sim_config(&sim));
    t.start().await.expect("start");
    scan_to_connected(&mut t, &sim).await;
    t.engine.stop().await.unwrap();

    t.start().await.expect("restart on the same profile");
    let seen = t.wait_for(Duration::from_secs(20), is_connected).await;
    assert!(matches!(seen[0], EngineEvent::BridgeReady { authenticated: true, .. }), "{seen:?}");
    assert!(
        !seen.iter().any(|e| matches!(e, EngineEvent::Qr { .. } | EngineEvent::Authenticating)),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&EngineEvent::Connected { phone: Some(PHONE.into()) }));

    let (status, body) = control(&sim, "/conflict", json!({})).await;
    assert_eq!(status, 200, "conflict: {body}");
    t.wait_for(Duration::from_secs(10), |e| *e == EngineEvent::Conflict).await;

    let pgid = t.engine.pgid().unwrap();
    // SAFETY: signals only the browser leader this engine spawned.
    unsafe { libc::kill(pgid, libc::SIGKILL) };
    let seen =
        t.wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::BrowserGone { .. })).await;
    assert!(
        matches!(seen.last(), Some(EngineEvent::BrowserGone { reason }) if reason != "stopped"),
        "{seen:?}"
    );
    t.engine.stop().await.unwrap();
    assert_eq!(group_members(pgid), Vec::<u32>::new());
}

/// A pairing code instead of a QR → connected; then the phone unlinks the device → LoggedOut,
/// and the page comes back to a fresh QR by itself; then the page hangs → PageUnresponsive
/// from the probe, and stop() still cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_login_then_unlink() {
    require_chromium();
    let sim = sim();
    let mut config = sim_config(&sim);
    config.cdp_timeout_ms = 2_000;
    config.probe_interval_ms = 2_000;
    let mut t = TestEngine::new(config);
    t.start().await.expect("start");
    t.wait_for(Duration::from_secs(20), |e| matches!(e, EngineEvent::BridgeReady { .. })).await;
    let phone = PhoneNumber::parse(&format!("+{PHONE}")).unwrap();
    let code = t.engine.pairing_code(&phone).await.expect("pairing code");
    assert_eq!(code.len(), 8, "{code}");
    let (status, body) = control(&sim, "/link-code", json!({"phone": PHONE, "code": code})).await;
    assert_eq!(status, 200, "link-code: {body}");
    let seen = t.wait_for(Duration::from_secs(10), is_connected).await;
    assert_eq!(seen.last(), Some(&EngineEvent::Connected { phone: Some(PHONE.into()) }));

    let (status, body) =
        control(&sim, "/unlink", json!({"phone": PHONE, "reason": "user_initiated"})).await;
    assert_eq!(status, 200, "unlink: {body}");
    let seen =
        t.wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::LoggedOut { .. })).await;
    assert_eq!(
        seen.last(),
        Some(&EngineEvent::LoggedOut { reason: Some("user_initiated".into()) })
    );
    let seen = t.wait_for(Duration::from_secs(15), |e| matches!(e, EngineEvent::Qr { .. })).await;
    assert!(
        seen.contains(&EngineEvent::BridgeReady {
            authenticated: false,
            version: seen_version(&seen)
        }),
        "{seen:?}"
    );

    let (status, body) = control(&sim, "/crash", json!({})).await;
    assert_eq!(status, 200, "crash: {body}");
    let seen = t
        .wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::PageUnresponsive { .. }))
        .await;
    assert!(matches!(seen.last(), Some(EngineEvent::PageUnresponsive { .. })), "{seen:?}");
    t.stop_leaving_nothing().await;
}

/// The simulator's page never reaches `WPP.isReady` (what a WhatsApp deploy that breaks wa-js
/// looks like): BridgeNotReady arrives after the configured timeout, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_ready_bridge_times_out() {
    require_chromium();
    let sim = sim();
    let (status, body) = control(&sim, "/faults", json!({"never_ready": true})).await;
    assert_eq!(status, 200, "faults: {body}");
    let mut config = sim_config(&sim);
    config.ready_timeout_ms = 3_000;
    let mut t = TestEngine::new(config);
    let started = std::time::Instant::now();
    t.start().await.expect("start");
    let seen = t
        .wait_for(Duration::from_secs(15), |e| matches!(e, EngineEvent::BridgeNotReady { .. }))
        .await;
    assert_eq!(seen, vec![EngineEvent::BridgeNotReady { after_ms: 3_000 }]);
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    t.engine.stop().await.unwrap();
}

/// Page script calling the binding itself (an XSS, WhatsApp's own code, a DevTools client):
/// an oversize payload is dropped unread, a forged `conn.logout` is not reported as a logout
/// while WhatsApp Web still holds the login, and a real unlink afterwards still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_binding_calls_are_bounded_and_a_forged_logout_is_ignored() {
    require_chromium();
    let sim = sim();
    let mut t = TestEngine::new(sim_config(&sim));
    t.start().await.expect("start");
    scan_to_connected(&mut t, &sim).await;
    let forge =
        |msg: Value| format!("window.__waSidecarBridge({})", Value::String(msg.to_string()));
    let huge = json!({"t": "ev", "name": "huge.event", "payload": "A".repeat(1 << 20)});
    let forged = [
        huge,
        json!({"t": "ev", "name": "conn.logout_reason", "payload": "forged"}),
        json!({"t": "ev", "name": "conn.logout"}),
        json!({"t": "ev", "name": "marker.done", "payload": 1}),
    ];
    for msg in forged {
        t.engine.call("forge", forge(msg)).await.expect("the binding is callable from the page");
    }
    let seen = t
        .wait_for(
            Duration::from_secs(10),
            |e| matches!(e, EngineEvent::Page { name, .. } if name == "marker.done"),
        )
        .await;
    assert!(
        !seen.iter().any(|e| matches!(e, EngineEvent::LoggedOut { .. })
            || matches!(e, EngineEvent::Page { name, .. } if name == "huge.event")),
        "{seen:?}"
    );
    let (status, body) =
        control(&sim, "/unlink", json!({"phone": PHONE, "reason": "user_initiated"})).await;
    assert_eq!(status, 200, "unlink: {body}");
    let seen =
        t.wait_for(Duration::from_secs(10), |e| matches!(e, EngineEvent::LoggedOut { .. })).await;
    assert_eq!(
        seen.last(),
        Some(&EngineEvent::LoggedOut { reason: Some("user_initiated".into()) })
    );
    t.stop_leaving_nothing().await;
}

/// M3: the binding takes calls from the top frame's main world only; a call from an iframe (which
/// gets the binding too) is dropped, and every drop at the binding (another context, not JSON,
/// not a bridge message, oversize, over the rate) is counted by its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_calls_from_an_iframe_are_dropped_and_every_drop_is_counted() {
    require_chromium();
    let sim = sim();
    let mut t = TestEngine::new(sim_config(&sim));
    t.start().await.expect("start");
    t.wait_for(Duration::from_secs(20), |e| matches!(e, EngineEvent::Qr { .. })).await;
    let before = Dropped::ALL.map(dropped_total);
    let text = |v: Value| Value::String(v.to_string());
    let from_iframe = format!(
        "(() => {{ const f = document.createElement('iframe'); document.body.appendChild(f); \
         f.contentWindow.__waSidecarBridge({}); return typeof f.contentWindow.__waSidecarBridge; }})()",
        text(json!({"t": "ev", "name": "iframe.forged", "payload": 1}))
    );
    let answer = t.engine.call("forge", from_iframe).await.expect("the iframe has the binding");
    assert_eq!(answer, json!("function"), "the binding is installed in the iframe too");
    let main_world = [
        "\"not json\"".to_owned(),
        text(json!({"t": "not-a-bridge-message"})).to_string(),
        text(json!({"t": "ev", "name": "huge.event", "payload": "A".repeat(600 * 1024)}))
            .to_string(),
        text(json!({"t": "ev", "name": "marker.done", "payload": 1})).to_string(),
    ];
    for payload in main_world {
        t.engine.call("forge", format!("window.__waSidecarBridge({payload})")).await.unwrap();
    }
    let seen = t
        .wait_for(
            Duration::from_secs(10),
            |e| matches!(e, EngineEvent::Page { name, .. } if name == "marker.done"),
        )
        .await;
    assert!(
        !seen.iter().any(|e| matches!(e, EngineEvent::Page { name, .. } if name == "iframe.forged" || name == "huge.event")),
        "{seen:?}"
    );
    let grew = |reason: Dropped| {
        dropped_total(reason) - before[Dropped::ALL.iter().position(|r| *r == reason).unwrap()]
    };
    for reason in
        [Dropped::ForeignContext, Dropped::Unparseable, Dropped::UnexpectedType, Dropped::Oversize]
    {
        assert_eq!(grew(reason), 1, "{reason:?}");
    }
    // A flood past the bucket (2,000 at once, then 200/s): what is over it is counted.
    let flood = format!(
        "(() => {{ for (let i = 0; i < 2500; i++) window.__waSidecarBridge({}); return true; }})()",
        text(json!({"t": "flood"}))
    );
    t.engine.call("forge", flood).await.unwrap();
    eventually(Duration::from_secs(10), "rate drops", || {
        (grew(Dropped::RateLimited) > 0).then_some(())
    })
    .await;
    t.stop_leaving_nothing().await;
}
