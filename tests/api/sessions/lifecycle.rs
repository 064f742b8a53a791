//! Linking and the states a workspace admin sees: QR, pairing code, stop/start, logout, delete,
//! and what the phone or WhatsApp can do to a session (unlink, conflict, QR left unscanned,
//! WhatsApp Web that never becomes usable).

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;

use super::*;

fn decode_qr_png(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the PNG");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn a_scanned_qr_connects_and_the_states_come_in_order() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let mut events = Events::of(&app);

    create(&app, "main").await;
    wait_state(&app, "main", "qr_required", Duration::from_secs(30)).await;

    // The PNG decodes back to exactly the text the page shows.
    let raw = qr_text(&app, "main").await;
    let png = app.signed(Method::GET, &format!("{}/qr", session_path("main"))).send().await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let decoded = decode_qr_png(&png.bytes().await.unwrap());
    let pages =
        reqwest::get(format!("{}/pages", sim.control_url())).await.unwrap().text().await.unwrap();
    assert!(pages.contains(&decoded), "the QR shown by the page is the one served: {pages}");
    assert_eq!(decoded, raw);

    let as_json: serde_json::Value = app
        .signed(Method::GET, &format!("{}/qr", session_path("main")))
        .header("Accept", "application/json")
        .send()
        .await
        .json()
        .await
        .unwrap();
    let data_url = as_json["data_url"].as_str().unwrap();
    let png_b64 = data_url.strip_prefix("data:image/png;base64,").unwrap();
    let from_url =
        decode_qr_png(&base64::engine::general_purpose::STANDARD.decode(png_b64).unwrap());
    assert_eq!(from_url, as_json["raw"].as_str().unwrap());
    assert_eq!(as_json["max_attempts"], 6);

    control(&sim, "/scan", json!({"code": as_json["raw"], "phone": PHONE})).await;
    wait_state(&app, "main", "connected", Duration::from_secs(30)).await;

    let session = get(&app, "main").await;
    assert_eq!(session["phone"], PHONE);
    assert!(session["qr"].is_null());
    let all = events.drain();
    assert_eq!(statuses(&all, "main"), ["starting", "qr_required", "authenticating", "connected"]);
    assert!(
        all.iter().any(|e| e.kind == "session.qr" && e.data["raw"] == as_json["raw"]),
        "the scanned QR was published"
    );

    // A connected session has no QR to show.
    let none = app.signed(Method::GET, &format!("{}/qr", session_path("main"))).send().await;
    crate::helpers::assert_envelope(none, 404, "QR_NOT_AVAILABLE").await;
    stop_and_check(app).await;
}

#[tokio::test]
async fn qr_events_carry_the_attempt_and_a_pairing_code_connects() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let mut events = Events::of(&app);
    create(&app, "pair").await;
    wait_state(&app, "pair", "qr_required", Duration::from_secs(30)).await;

    let r = app
        .signed_post(
            &format!("{}/pairing-code", session_path("pair")),
            &json!({"phone": "+1 555-000-1111"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.chars().filter(|c| c.is_ascii_alphanumeric()).count(), 8, "{code}");
    assert_eq!(body["phone"], PHONE);
    assert_eq!(get(&app, "pair").await["state"], "pairing");

    control(&sim, "/link-code", json!({"phone": PHONE, "code": code})).await;
    wait_state(&app, "pair", "connected", Duration::from_secs(30)).await;

    let all = events.drain();
    let qr = all.iter().find(|e| e.kind == "session.qr").expect("a session.qr event");
    assert_eq!(qr.data["attempt"], 1);
    assert!(qr.data["data_url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    let pairing =
        all.iter().find(|e| e.kind == "session.pairing_code").expect("a pairing code event");
    assert_eq!(pairing.data["code"], code.as_str());
    assert_eq!(
        statuses(&all, "pair"),
        ["starting", "qr_required", "pairing", "authenticating", "connected"]
    );
    stop_and_check(app).await;
}

#[tokio::test]
async fn stop_start_and_delete_are_idempotent_and_leave_nothing_behind() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let runtime = app.data_dir().join("runtime");
    create(&app, "tidy").await;
    wait_state(&app, "tidy", "qr_required", Duration::from_secs(30)).await;
    let groups = chromium_groups_under(&runtime);
    assert_eq!(groups.len(), 1, "one Chromium process group per session");

    // Starting a running session changes nothing.
    assert_eq!(post(&app, &format!("{}/start", session_path("tidy"))).await.status(), 200);
    assert_eq!(chromium_groups_under(&runtime), groups);

    for _ in 0..2 {
        let r = post(&app, &format!("{}/stop", session_path("tidy"))).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["state"], "stopped");
    }
    assert_groups_gone(&groups).await;

    let session_dir = app.settings.server.sessions_dir.join(WS).join("tidy");
    assert!(session_dir.join("lock").exists());
    for _ in 0..2 {
        assert_eq!(app.signed(Method::DELETE, &session_path("tidy")).send().await.status(), 204);
    }
    assert!(!session_dir.exists(), "delete removes the session's folder, lock included");
    assert!(!runtime.join(WS).join("tidy").exists());
    let gone = app.signed_get(&session_path("tidy")).await;
    crate::helpers::assert_envelope(gone, 404, "SESSION_NOT_FOUND").await;
    stop_and_check(app).await;
}

#[tokio::test]
async fn logout_unlinks_and_the_next_start_shows_a_new_qr() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "out").await;
    let r = post(&app, &format!("{}/logout", session_path("out"))).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["state"], "logged_out");
    assert!(
        !app.settings.server.sessions_dir.join(WS).join("out").join("profile.sealed").exists(),
        "the login is wiped"
    );

    assert_eq!(post(&app, &format!("{}/start", session_path("out"))).await.status(), 200);
    wait_state(&app, "out", "qr_required", Duration::from_secs(30)).await;
    stop_and_check(app).await;
}

#[tokio::test]
async fn the_phone_unlinking_the_device_logs_the_session_out() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "unl").await;
    control(&sim, "/unlink", json!({"phone": PHONE})).await;
    wait_state(&app, "unl", "logged_out", Duration::from_secs(20)).await;
    assert!(
        chromium_groups_under(&app.data_dir().join("runtime")).is_empty(),
        "a logged-out session runs no browser"
    );
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_conflict_stops_the_session_without_a_reconnect_loop() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "conf").await;
    let mut events = Events::of(&app);
    control(&sim, "/conflict", json!({"phone": PHONE})).await;
    wait_state(&app, "conf", "conflict", Duration::from_secs(20)).await;
    // Stays there: no restart, no browser fighting for the account.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(get(&app, "conf").await["state"], "conflict");
    assert_eq!(statuses(&events.drain(), "conf"), ["conflict"]);
    assert!(chromium_groups_under(&app.data_dir().join("runtime")).is_empty());
    stop_and_check(app).await;
}

#[tokio::test]
async fn an_unscanned_qr_goes_idle_and_the_session_fails_with_qr_timeout() {
    let sim = sim_fast_qr();
    let app = app_for(&sim, |_| {}).await;
    let mut events = Events::of(&app);
    create(&app, "idle").await;
    // wa-sim's fast schedule: 1.5 s, then 5 × 0.5 s, then idle.
    wait_state(&app, "idle", "failed", Duration::from_secs(30)).await;
    let session = get(&app, "idle").await;
    assert_eq!(session["reason"], "qr_timeout");
    let qrs: Vec<_> = events
        .drain()
        .into_iter()
        .filter(|e| e.kind == "session.qr")
        .map(|e| e.data["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(qrs, [1, 2, 3, 4, 5, 6], "six QR codes, numbered");
    stop_and_check(app).await;
}

#[tokio::test]
async fn whatsapp_web_that_never_becomes_ready_fails_within_the_timeout() {
    let sim = sim();
    control(&sim, "/faults", json!({"never_ready": true})).await;
    let app = app_for(&sim, |s| s.engine.ready_timeout_ms = 2_000).await;
    let started = Instant::now();
    create(&app, "stuck").await;
    wait_state(&app, "stuck", "failed", Duration::from_secs(15)).await;
    let took = started.elapsed();
    let reason = get(&app, "stuck").await["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("bridge_not_ready"), "{reason}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "failed after {took:?}"
    );
    stop_and_check(app).await;
}
