//! The session bus into the outbox, end to end: a real session (headless Chromium against wa-sim)
//! created with its own `callback_url` reports its states and QR there, signed and in order, and
//! the host can link it with the QR text from the callback alone.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use wa_sim::{SimConfig, SimServer};

use super::helpers::{init, spawn_app_with};
use super::receiver::TestReceiver;
use super::*;

/// PIDs of live (non-zombie) processes whose `--user-data-dir` is under `root`.
fn chromium_under(root: &Path) -> Vec<u32> {
    crate::procs::chromium_under(root).iter().map(|p| p.pid).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_calls_back_its_own_endpoint_and_links_from_the_callback_qr() {
    init();
    let sim = SimServer::start(SimConfig::fast()).expect("wa-sim starts");
    let mut global = TestReceiver::start().await;
    let mut own = TestReceiver::start().await;
    let callbacks = config(&global.url);
    let app = spawn_app_with(|s| {
        s.engine.wa_web_url = sim.base_url();
        s.engine.inject_bridge = false;
        s.engine.cdp_timeout_ms = 5_000;
        s.engine.ready_timeout_ms = 15_000;
        s.engine.close_grace_ms = 2_000;
        s.sessions.command_timeout_ms = 30_000;
        s.callbacks = callbacks;
    })
    .await;

    let create = json!({"id": "main", "start": true, "callback_url": own.url});
    let r = app.signed_post("/v1/workspaces/acme/sessions", &create).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let mut states = Vec::new();
    let qr = loop {
        let got = own.next(Duration::from_secs(40)).await;
        verify::standard_webhooks(SECRET_A, &got).expect("session callbacks are signed");
        let body = got.json();
        assert_eq!(
            (body["workspace"].as_str(), body["session"].as_str()),
            (Some("acme"), Some("main"))
        );
        match body["type"].as_str() {
            Some("session.status") => {
                states.push(body["data"]["state"].as_str().unwrap().to_owned())
            }
            Some("session.qr") => break body["data"].clone(),
            other => panic!("unexpected callback type {other:?}"),
        }
    };
    assert_eq!(states.first().map(String::as_str), Some("starting"), "{states:?}");
    assert_eq!(
        states.last().map(String::as_str),
        Some("qr_required"),
        "the QR follows its status: {states:?}"
    );
    assert!(qr["data_url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert_eq!(qr["attempt"], 1);

    // The host links the phone with nothing but the callback's QR text.
    let scan = reqwest::Client::new()
        .post(format!("{}/scan", sim.control_url()))
        .json(&json!({"code": qr["raw"], "phone": "15550001111"}))
        .send()
        .await
        .unwrap();
    assert!(scan.status().is_success());
    loop {
        let body: Value = own.next(Duration::from_secs(40)).await.json();
        if body["type"] == "session.status" {
            states.push(body["data"]["state"].as_str().unwrap().to_owned());
            if body["data"]["state"] == "connected" {
                break;
            }
        }
    }
    let at = |s: &str| {
        states.iter().position(|x| x == s).unwrap_or_else(|| panic!("{s} missing from {states:?}"))
    };
    assert!(
        at("starting") < at("qr_required") && at("qr_required") < at("connected"),
        "{states:?}"
    );
    global.expect_nothing(Duration::from_millis(200)).await;

    let runtime = app.data_dir().join("runtime");
    let _dir = app.stop().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !chromium_under(&runtime).is_empty() {
        assert!(std::time::Instant::now() < deadline, "a Chromium of this test outlived the app");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
