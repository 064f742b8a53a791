//! Received media as the host's configuration shapes them: small files inline in the callback
//! (`callbacks.inline_media_max_bytes`), and files gone after `callbacks.media_retention`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::inbound::{next_of, phone_sends, OTHER};
use super::*;
use crate::helpers::TEST_CALLBACK_SECRET;
use crate::receiver::TestReceiver;
use crate::verify;

/// The next signed `message.received` callback the receiver gets (others are skipped).
async fn next_received(receiver: &mut TestReceiver, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no message.received within {within:?}");
        let got = receiver.next(left).await;
        verify::standard_webhooks(TEST_CALLBACK_SECRET, &got).expect("a signed callback");
        let body = got.json();
        if body["type"] == "message.received" {
            return body["data"].clone();
        }
    }
}

/// `n` bytes that are not all alike.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn media_up_to_the_inline_bound_travel_in_the_callback_and_larger_ones_do_not() {
    const BOUND: usize = 1_000;
    let sim = sim();
    let mut receiver = TestReceiver::start().await;
    let url = receiver.url.clone();
    let app = app_for(&sim, |s| {
        s.callbacks.url = url;
        s.callbacks.inline_media_max_bytes = BOUND as u64;
    })
    .await;
    connect(&app, &sim, "main").await;

    let small = bytes(BOUND, 7);
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "image",
               "media": {"data": b64(&small), "mimetype": "image/png"}}),
    )
    .await;
    let d = next_received(&mut receiver, Duration::from_secs(30)).await;
    let media = &d["media"];
    assert_eq!((media["status"].as_str(), media["size"].as_u64()), (Some("stored"), Some(1_000)));
    let inline = base64::engine::general_purpose::STANDARD
        .decode(media["data"].as_str().expect("media.data at the bound"))
        .unwrap();
    assert!(inline == small, "the inline bytes are the phone's");

    let big = bytes(BOUND + 1, 9);
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "document",
               "media": {"data": b64(&big), "mimetype": "application/pdf", "filename": "a.pdf"}}),
    )
    .await;
    let d = next_received(&mut receiver, Duration::from_secs(30)).await;
    let media = d["media"].clone();
    assert_eq!((media["status"].as_str(), media["size"].as_u64()), (Some("stored"), Some(1_001)));
    assert!(media.get("data").is_none(), "one byte over the bound stays out: {media}");
    // It is still there to fetch.
    let path = format!("{}/media/{}", session_path("main"), media["id"].as_str().unwrap());
    let r = app.signed_get(&path).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap() == big);

    // History does not repeat the inline bytes.
    let r = app.signed_get(&format!("{}/chats/{OTHER}@c.us/messages", session_path("main"))).await;
    let page: Value = r.json().await.unwrap();
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{page}");
    assert!(msgs.iter().all(|m| m["media"].get("data").is_none()), "{page}");

    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"wa_sidecar_inbound_media_total{status="stored"} 2"#), "{metrics}");
    assert!(
        metrics.contains(r#"wa_sidecar_inbound_events_total{type="message.received"} 2"#),
        "{metrics}"
    );
    stop_and_check(app).await;
}

/// The media of the newest message `history` (a chat's messages route) returns.
async fn last_media(app: &crate::helpers::TestApp, history: &str) -> Value {
    let r = app.signed_get(history).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    page["messages"].as_array().unwrap().last().unwrap()["media"].clone()
}

#[tokio::test]
async fn media_past_the_retention_are_deleted_and_reported_expired() {
    let sim = sim();
    let app = app_for(&sim, |s| {
        s.callbacks.media_retention = Duration::from_secs(3);
        s.callbacks.media_sweep_interval = Duration::from_secs(1);
    })
    .await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let plain = bytes(5_000, 3);
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "image",
               "media": {"data": b64(&plain), "mimetype": "image/jpeg"}}),
    )
    .await;
    let got = next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await;
    let id = got[0].data["media"]["id"].as_str().unwrap().to_owned();
    assert_eq!(got[0].data["media"]["status"], "stored");
    let file = app.data_dir().join("media").join(WS).join("main").join(&id);
    let path = format!("{}/media/{id}", session_path("main"));
    let history = format!("{}/chats/{OTHER}@c.us/messages", session_path("main"));

    // Within the retention: on disk, served, and history says stored.
    assert!(file.exists());
    assert_eq!(app.signed_get(&path).await.status(), 200);
    assert_eq!(last_media(&app, &history).await["status"], "stored");

    // After it: the file is gone from data/media and the API says expired.
    let deadline = Instant::now() + Duration::from_secs(20);
    while file.exists() {
        assert!(Instant::now() < deadline, "{file:?} outlived its retention");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    crate::helpers::assert_envelope(app.signed_get(&path).await, 410, "MEDIA_EXPIRED").await;
    let m = last_media(&app, &history).await;
    assert_eq!((m["id"].as_str(), m["status"].as_str()), (Some(id.as_str()), Some("expired")));

    // Refetch gets it back from the page, byte for byte.
    let r = app.signed_post(&format!("{path}/refetch"), &json!({})).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["status"], "stored");
    let r = app.signed_get(&path).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap() == plain);
    stop_and_check(app).await;
}
