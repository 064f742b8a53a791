//! `[broadcast]`: a session's QR and status go to a Pusher-protocol HTTP API, signed as Pusher
//! specifies (checked here from the spec, not with our signer), while callbacks go on; a refusal
//! is counted and does not stop them.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wa_sidecar::broadcast::BroadcastConfig;

use super::*;
use crate::receiver::{Received, Reply, TestReceiver};

const SECRET: &str = "app-secret";

fn broadcast_to(receiver: &TestReceiver) -> BroadcastConfig {
    BroadcastConfig {
        enabled: true,
        url: receiver.url.trim_end_matches("/hooks/wa").to_owned(),
        app_id: "1001".into(),
        key: "app-key".into(),
        secret: SECRET.into(),
        retries: 0,
        ..BroadcastConfig::default()
    }
}

/// The auth_* query of a Pusher HTTP API request is valid for its body.
fn check_pusher_signature(r: &Received) {
    let (path, query) = r.target.split_once('?').expect("a signed query");
    assert_eq!(path, "/apps/1001/events");
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let at = pairs.iter().position(|(k, _)| k == "auth_signature").expect("auth_signature");
    let (_, signature) = pairs.remove(at);
    pairs.sort();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(get("auth_key").as_deref(), Some("app-key"));
    assert_eq!(get("auth_version").as_deref(), Some("1.0"));
    assert_eq!(get("body_md5"), Some(format!("{:x}", md5::compute(&r.body))));
    let signed = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("POST\n{path}\n{signed}").as_bytes());
    assert_eq!(signature, hex::encode(mac.finalize().into_bytes()));
}

async fn create(app: &TestApp, id: &str, hooks: &TestReceiver) {
    let r = app
        .signed_post(
            &format!("/v1/workspaces/{WS}/sessions"),
            &json!({"id": id, "callback_url": hooks.url}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

/// Callbacks until the first `session.qr`.
async fn first_qr_callback(hooks: &mut TestReceiver) -> Value {
    loop {
        let body = hooks.next(Duration::from_secs(30)).await.json();
        if body["type"] == "session.qr" {
            return body;
        }
    }
}

/// The value of a `broadcast_…_total` counter once it reaches `at_least` (the receiver sees a
/// request before the sidecar sees the answer), or its value after 5 s.
async fn counter(app: &TestApp, name: &str, at_least: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = app.metrics().await;
        let prefix = format!("wa_sidecar_broadcast_{name}_total ");
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|n| n.parse::<u64>().ok())
            .expect("the counter is exported");
        if value >= at_least || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn qr_and_status_are_published_signed_on_the_workspace_channel() {
    let sim = sim();
    let mut pusher = TestReceiver::start().await;
    pusher.respond_with(|_| Reply::status(200).body(b"{}".to_vec()));
    let mut hooks = TestReceiver::start().await;
    let cfg = broadcast_to(&pusher);
    let app = app_for(&sim, move |s| s.broadcast = cfg).await;
    create(&app, "pushed", &hooks).await;

    let mut states = Vec::new();
    let qr = loop {
        let got = pusher.next(Duration::from_secs(30)).await;
        check_pusher_signature(&got);
        let body = got.json();
        assert_eq!(body["channels"], json!(["private-workspace.acme"]));
        let data: Value = serde_json::from_str(body["data"].as_str().expect("data is a string"))
            .expect("data is JSON text");
        assert_eq!(
            (data["workspace"].as_str(), data["session"].as_str()),
            (Some(WS), Some("pushed"))
        );
        match body["name"].as_str().unwrap() {
            "session.status" => states.push(data["state"].as_str().unwrap().to_owned()),
            "session.qr" => break data,
            other => panic!("unexpected event {other}"),
        }
    };
    assert_eq!(states, ["starting", "qr_required"]);
    assert!(qr.get("data_url").is_none(), "no image: Pusher's 10 KB");
    // The callbacks carry the same QR, unaffected.
    assert_eq!(first_qr_callback(&mut hooks).await["data"]["raw"], qr["raw"]);
    assert_eq!(counter(&app, "published", 3).await, 3);
    assert_eq!(counter(&app, "refused", 0).await, 0);
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_refusal_is_counted_and_callbacks_go_on() {
    let sim = sim();
    let mut pusher = TestReceiver::start().await;
    pusher.respond_with(|_| Reply::status(401).body(b"Invalid API signature".to_vec()));
    let mut hooks = TestReceiver::start().await;
    let cfg = broadcast_to(&pusher);
    let app = app_for(&sim, move |s| s.broadcast = cfg).await;
    create(&app, "refused", &hooks).await;

    assert_eq!(first_qr_callback(&mut hooks).await["session"], "refused");
    pusher.next(Duration::from_secs(10)).await;
    assert!(counter(&app, "refused", 1).await >= 1);
    assert_eq!(counter(&app, "published", 0).await, 0);
    stop_and_check(app).await;
}
