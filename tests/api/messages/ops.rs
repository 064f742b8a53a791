//! Operations on sent messages and chats, pacing as the phone sees it, and the statuses that
//! are not the happy path: unconfirmed, a failure WhatsApp reports without an event, expiry.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::sessions::{connect, control, sim, stop_and_check, wait_state, PHONE};

const S: &str = "main";
const LONG: Duration = Duration::from_secs(60);
const OTHER: &str = "15557650000";

fn path(tail: &str) -> String {
    format!("{}{tail}", session_path(S))
}

async fn presence_sent(sim: &SimServer, phone: &str) -> Vec<Value> {
    let r = reqwest::get(format!("{}/accounts/{phone}/presence", sim.control_url())).await.unwrap();
    let v: Value = r.json().await.unwrap();
    v["sent"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn edit_star_forward_react_delete_and_chat_read_and_presence() {
    let sim = sim();
    let app = sending_app(&sim).await;
    connect(&app, &sim, S).await;
    let sent = send_ok(&app, S, text("first version")).await;
    let id = sent["id"].as_str().unwrap();
    wait_status(&app, S, id, "sent", LONG).await;

    let r = app
        .signed(Method::PATCH, &path(&format!("/messages/{id}")))
        .json(&json!({"text": "second version"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let got = wait_received(&sim, FRIEND, 1, LONG).await;
    assert_eq!(got[0]["body"], "second version", "the phone sees the edit");

    let r = app.signed_post(&path(&format!("/messages/{id}/star")), &json!({})).await;
    assert_eq!(r.status(), 200);
    let r =
        app.signed_post(&path(&format!("/messages/{id}/reaction")), &json!({"emoji": "🎉"})).await;
    assert_eq!(r.status(), 200);
    let r = app.signed_post(&path(&format!("/messages/{id}/forward")), &json!({"to": OTHER})).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let fwd = wait_received(&sim, OTHER, 1, LONG).await;
    assert_eq!(fwd[0]["body"], "second version");
    assert_eq!(fwd[0]["isForwarded"], true, "{}", fwd[0]);

    let r = app
        .signed_post(
            &path(&format!("/chats/{FRIEND}/presence")),
            &json!({"state": "typing", "duration_ms": 500}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let typing = presence_sent(&sim, PHONE).await;
    assert!(typing.iter().any(|p| p["state"] == "composing"), "{typing:?}");
    let r = app
        .signed_post(&path(&format!("/chats/{FRIEND}/presence")), &json!({"state": "dancing"}))
        .await;
    assert_eq!(r.status(), 400);
    let r = app.signed_post(&path(&format!("/chats/{FRIEND}/read")), &json!({})).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    let r = app.signed(Method::DELETE, &path(&format!("/messages/{id}"))).send().await;
    assert_eq!(r.status(), 400, "for= is required");
    let r = app
        .signed(Method::DELETE, &path(&format!("/messages/{id}")))
        .query("for", "everyone")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let got = received(&sim, FRIEND).await;
    assert_eq!(got[0]["type"], "revoked", "deleted for everyone: {}", got[0]);

    let r = app.signed_post(&path("/messages/out_unknown/star"), &json!({})).await;
    assert_eq!(r.status(), 404);
    stop_and_check(app).await;
}

#[tokio::test]
async fn with_pacing_the_phone_sees_typing_before_each_message_and_the_gaps_hold() {
    let sim = sim();
    let app = app_for(&sim, |s| {
        s.sending.pacing.enabled = true;
        s.sending.pacing.typing_min_ms = 300;
        s.sending.pacing.typing_max_ms = 400;
        s.sending.pacing.typing_jitter = 0.0;
        s.sending.pacing.gap_min_ms = 500;
        s.sending.pacing.gap_max_ms = 600;
    })
    .await;
    connect(&app, &sim, S).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            send_ok(&app, S, text(&format!("paced {i}"))).await["id"].as_str().unwrap().to_owned(),
        );
    }
    let mut urgent = text("your code is 123456");
    urgent["priority"] = json!("transactional");
    let urgent = send_ok(&app, S, urgent).await;
    for id in &ids {
        wait_status(&app, S, id, "sent", LONG).await;
    }
    wait_status(&app, S, urgent["id"].as_str().unwrap(), "sent", LONG).await;
    let typing: Vec<i64> = presence_sent(&sim, PHONE)
        .await
        .iter()
        .filter(|p| p["state"] == "composing")
        .map(|p| p["at_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(
        typing.len(),
        3,
        "typing before each normal message, none before the transactional one"
    );
    for w in typing.windows(2) {
        assert!(w[1] - w[0] >= 800, "typing (300 ms) + gap (500 ms) between sends: {typing:?}");
    }
    let got = wait_received(&sim, FRIEND, 4, LONG).await;
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["paced 0", "paced 1", "paced 2", "your code is 123456"]);
    stop_and_check(app).await;
}

#[tokio::test]
async fn unconfirmed_silent_failures_and_expiry_are_reported_truthfully() {
    let sim = sim();
    let app = app_for(&sim, |s| {
        no_pacing(s);
        s.sending.unconfirmed_after_ms = 2_000;
        s.sending.expire_after_ms = 1_500;
    })
    .await;
    connect(&app, &sim, S).await;

    // The server takes it, the page never hears back: unconfirmed, not resent.
    control(&sim, "/faults", json!({"send_unacked": true})).await;
    let a = send_ok(&app, S, text("no ack for this one")).await;
    let m = wait_status(&app, S, a["id"].as_str().unwrap(), "unconfirmed", LONG).await;
    assert!(m["wa_id"].is_string());
    control(&sim, "/faults", json!({"send_unacked": false})).await;

    // WhatsApp fails it without an event: the check finds ack -1.
    control(&sim, "/faults", json!({"send_failure": "ERROR_UNKNOWN"})).await;
    let b = send_ok(&app, S, text("this one fails")).await;
    let m = wait_status(&app, S, b["id"].as_str().unwrap(), "failed", LONG).await;
    assert_eq!(m["error"]["code"], "whatsapp_error", "{m}");
    control(&sim, "/faults", json!({"send_failure": null})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let copies =
        received(&sim, FRIEND).await.iter().filter(|m| m["body"] == "no ack for this one").count();
    assert_eq!(copies, 1, "unconfirmed is never resent");

    // Disconnected: accepted, then expired.
    control(&sim, "/offline", json!({"phone": PHONE})).await;
    wait_state(&app, S, "disconnected", LONG).await;
    let c = send_ok(&app, S, text("too late")).await;
    let m = wait_status(&app, S, c["id"].as_str().unwrap(), "failed", LONG).await;
    assert_eq!(m["error"]["code"], "expired", "{m}");
    control(&sim, "/online", json!({"phone": PHONE})).await;
    wait_state(&app, S, "connected", LONG).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(received(&sim, FRIEND).await.iter().all(|m| m["body"] != "too late"));
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_ban_signal_pauses_the_queue_also_across_a_restart() {
    let sim = sim();
    let app = sending_app(&sim).await;
    connect(&app, &sim, S).await;
    let before = send_ok(&app, S, text("before the ban")).await;
    wait_status(&app, S, before["id"].as_str().unwrap(), "sent", LONG).await;
    control(&sim, "/ban", json!({"phone": PHONE})).await;
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let limits: Value = app.signed_get(&path("/sending-limits")).await.json().await.unwrap();
        if limits["paused"]["reason"] == "account_temporarily_banned" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not paused: {limits}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = send_ok(&app, S, text("after the ban")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(message(&app, S, after["id"].as_str().unwrap()).await["status"], "queued");
    assert!(received(&sim, FRIEND).await.iter().all(|m| m["body"] != "after the ban"));
    // A restart does not lift the pause: it was stored, and WhatsApp says it once only.
    let dir = stop_and_check(app).await;
    let app = crate::sessions::app_in(dir, &sim, no_pacing).await;
    crate::sessions::wait_state(&app, S, "connected", LONG).await;
    let limits: Value = app.signed_get(&path("/sending-limits")).await.json().await.unwrap();
    assert_eq!(limits["paused"]["reason"], "account_temporarily_banned", "{limits}");
    let left = limits["paused"]["remaining_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 900_000, "{limits}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(message(&app, S, after["id"].as_str().unwrap()).await["status"], "queued");
    assert!(received(&sim, FRIEND).await.iter().all(|m| m["body"] != "after the ban"));
    stop_and_check(app).await;
}
