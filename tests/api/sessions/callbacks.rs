//! A session's events reach the host as signed callbacks, in order, at the session's own
//! `callback_url`: the host learns of the QR and every state change without polling.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::helpers::TEST_CALLBACK_SECRET;
use crate::receiver::TestReceiver;
use crate::verify;

#[tokio::test]
async fn a_sessions_qr_and_states_arrive_signed_and_in_order_at_its_callback_url() {
    let sim = sim();
    let mut receiver = TestReceiver::start().await;
    let app = app_for(&sim, |_| {}).await;
    let r = app
        .signed_post(
            &format!("/v1/workspaces/{WS}/sessions"),
            &json!({"id": "hooked", "callback_url": receiver.url}),
        )
        .await;
    assert_eq!(r.status(), 201);

    // The first QR callback carries what the admin must scan.
    let mut states = Vec::new();
    let qr = loop {
        let got = receiver.next(Duration::from_secs(30)).await;
        verify::standard_webhooks(TEST_CALLBACK_SECRET, &got)
            .expect("a valid Standard Webhooks signature");
        let body = got.json();
        assert_eq!(body["workspace"], WS);
        assert_eq!(body["session"], "hooked");
        assert_eq!(got.header("webhook-id"), body["id"].as_str().unwrap());
        match body["type"].as_str().unwrap() {
            "session.status" => states.push(body["data"]["state"].as_str().unwrap().to_owned()),
            "session.qr" => break body,
            other => panic!("unexpected callback {other}"),
        }
    };
    assert_eq!(states, ["starting", "qr_required"]);
    assert_eq!(qr["data"]["attempt"], 1);
    assert!(qr["data"]["data_url"].as_str().unwrap().starts_with("data:image/png;base64,"));

    control(&sim, "/scan", json!({"code": qr["data"]["raw"], "phone": PHONE})).await;
    let mut after = Vec::new();
    while after.last().map(String::as_str) != Some("connected") {
        let body = receiver.next(Duration::from_secs(30)).await.json();
        if body["type"] == "session.status" {
            after.push(body["data"]["state"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(after, ["authenticating", "connected"]);
    stop_and_check(app).await;
}
