//! Sending end to end: the real sidecar, real headless Chromium, wa-sim playing WhatsApp and the
//! recipient's phone. What a host sees: the 202, the status callbacks, `GET …/messages/{id}`, and
//! what arrives on the phone.

mod bad_input;
mod bench;
mod kills;
mod limits;
mod ops;
mod receipts;
mod send;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use wa_sidecar::config::Settings;
use wa_sim::SimServer;

use crate::helpers::TestApp;
use crate::sessions::{app_for, session_path};

/// The recipient's phone (wa-sim knows every number unless told otherwise).
pub const FRIEND: &str = "15557654321";

/// Settings for sending tests: pacing off (no typing, gaps or caps), acks checked after 10 s.
pub fn no_pacing(s: &mut Settings) {
    s.sending.pacing.enabled = false;
    s.sending.unconfirmed_after_ms = 10_000;
}

pub async fn sending_app(sim: &SimServer) -> TestApp {
    app_for(sim, no_pacing).await
}

pub fn messages_path(session: &str) -> String {
    format!("{}/messages", session_path(session))
}

/// `POST …/messages`, optionally with an `Idempotency-Key`.
pub async fn send(
    app: &TestApp,
    session: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut r = app.signed(Method::POST, &messages_path(session)).json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await
}

/// Sends and expects the 202; returns its body.
pub async fn send_ok(app: &TestApp, session: &str, body: Value) -> Value {
    let r = send(app, session, &body, None).await;
    let status = r.status();
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "send {body}: {answer}");
    assert_eq!(answer["status"], "queued");
    answer
}

pub async fn message(app: &TestApp, session: &str, id: &str) -> Value {
    let r = app.signed_get(&format!("{}/{id}", messages_path(session))).await;
    assert_eq!(r.status(), 200, "GET message {id}");
    r.json().await.unwrap()
}

/// Polls `GET …/messages/{id}` until its status is `status`.
pub async fn wait_status(
    app: &TestApp,
    session: &str,
    id: &str,
    status: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let m = message(app, session, id).await;
        if m["status"] == status {
            return m;
        }
        assert!(Instant::now() < deadline, "message {id} not {status} within {within:?}: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `phone` has received, from wa-sim.
pub async fn received(sim: &SimServer, phone: &str) -> Vec<Value> {
    let r = reqwest::get(format!("{}/accounts/{phone}/messages", sim.control_url())).await.unwrap();
    assert!(r.status().is_success());
    let v: Value = r.json().await.unwrap();
    v["received"].as_array().cloned().unwrap_or_default()
}

/// Waits until `phone` has received at least `n` messages; returns them.
pub async fn wait_received(sim: &SimServer, phone: &str, n: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let got = received(sim, phone).await;
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{phone} got {} of {n} messages: {got:?}", got.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn text(body: &str) -> Value {
    json!({"to": format!("+{FRIEND}"), "type": "text", "text": {"body": body}})
}
