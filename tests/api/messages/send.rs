//! Sending through real Chromium to the wa-sim phone.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::sessions::{app_in, connect, control, sim, stop_and_check, wait_state, Events};

const S: &str = "main";
const LONG: Duration = Duration::from_secs(60);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn media_bytes(sim: &SimServer, raw_id: &str) -> Vec<u8> {
    let r = reqwest::get(format!("{}/media/{raw_id}", sim.control_url())).await.unwrap();
    assert!(r.status().is_success(), "media {raw_id}: {}", r.status());
    r.bytes().await.unwrap().to_vec()
}

/// `message.status` values published for one message, in order.
fn statuses_of(events: &[wa_sidecar::events::Event], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "message.status" && e.data["id"] == id)
        .map(|e| e.data["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_type_arrives_on_the_phone_with_its_content_and_reaches_read() {
    let sim = sim();
    let app = sending_app(&sim).await;
    connect(&app, &sim, S).await;
    let mut events = Events::of(&app);
    let to = format!("+{FRIEND}");
    let (png, mp4, ogg, pdf, webp) =
        (bytes(1, 3000), bytes(2, 5000), bytes(3, 2000), bytes(4, 4000), bytes(5, 1000));

    let first = send_ok(&app, S, json!({"to": to, "type": "text", "text": {"body": "hello from the API"}, "client_ref": "order-1"})).await;
    assert_eq!(first["client_ref"], "order-1");
    assert_eq!(first["to"], to);
    let bodies = vec![
        json!({"to": to, "type": "image", "image": {"data": b64(&png), "mime_type": "image/png", "caption": "a picture"}}),
        json!({"to": to, "type": "video", "video": {"data": b64(&mp4), "mime_type": "video/mp4"}}),
        json!({"to": to, "type": "audio", "audio": {"data": b64(&ogg), "mime_type": "audio/ogg", "voice": true}}),
        json!({"to": to, "type": "document", "document": {"data": b64(&pdf), "mime_type": "application/pdf", "filename": "invoice.pdf"}}),
        json!({"to": to, "type": "sticker", "sticker": {"data": b64(&webp), "mime_type": "image/webp"}}),
        json!({"to": to, "type": "location", "location": {"latitude": 52.52, "longitude": 13.405, "name": "Office", "address": "Berlin"}}),
        json!({"to": to, "type": "contacts", "contacts": [{"name": {"formatted_name": "Ann Example"}, "phones": [{"phone": "+15550002222"}]}]}),
        json!({"to": to, "type": "poll", "poll": {"name": "Lunch?", "options": ["Pizza", "Sushi"], "selectable_count": 1}}),
        json!({"to": to, "type": "text", "text": {"body": "a reply"}, "context": {"message_id": first["id"]}}),
    ];
    let mut ids = vec![first["id"].as_str().unwrap().to_owned()];
    for b in bodies {
        ids.push(send_ok(&app, S, b).await["id"].as_str().unwrap().to_owned());
    }
    let reaction = send_ok(
        &app,
        S,
        json!({"to": to, "type": "reaction", "reaction": {"message_id": ids[0], "emoji": "👍"}}),
    )
    .await;

    let got = wait_received(&sim, FRIEND, ids.len(), LONG).await;
    let types: Vec<&str> = got.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "chat",
            "image",
            "video",
            "ptt",
            "document",
            "sticker",
            "location",
            "vcard",
            "poll_creation",
            "chat"
        ],
        "in the order sent"
    );
    assert_eq!(got[0]["body"], "hello from the API");
    assert_eq!(got[1]["caption"], "a picture");
    assert_eq!(got[4]["filename"], "invoice.pdf");
    for (i, expected) in [(1, &png), (2, &mp4), (3, &ogg), (4, &pdf), (5, &webp)] {
        assert_eq!(
            &media_bytes(&sim, got[i]["id"].as_str().unwrap()).await,
            expected,
            "bytes of {}",
            types[i]
        );
    }
    assert_eq!(got[6]["lat"], 52.52);
    assert!(got[7]["body"].as_str().unwrap().contains("Ann Example"), "{}", got[7]);
    assert_eq!(got[8]["pollName"], "Lunch?");
    assert_eq!(got[9]["body"], "a reply");
    assert_eq!(got[9]["quotedStanzaID"], got[0]["id"], "a reply to the first message");

    // Our wa_id is the id the phone got; then the phone reads everything.
    for (id, m) in ids.iter().zip(&got) {
        let ours = wait_status(&app, S, id, "sent", LONG).await;
        let wa_id = ours["wa_id"].as_str().unwrap();
        assert!(wa_id.ends_with(m["id"].as_str().unwrap()), "{wa_id} vs {}", m["id"]);
        assert!(ours.get("content").and_then(|c| c.get("data")).is_none(), "no media bytes in GET");
        control(&sim, &format!("/messages/{}/ack", m["id"].as_str().unwrap()), json!({"ack": 3}))
            .await;
    }
    for id in &ids {
        let m = wait_status(&app, S, id, "read", LONG).await;
        let history: Vec<&str> = m["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["queued", "sent", "read"], "{m}");
    }
    wait_status(&app, S, reaction["id"].as_str().unwrap(), "sent", LONG).await;
    // GET by WhatsApp's id gives the same message.
    let by_wa = message(&app, S, message(&app, S, &ids[0]).await["wa_id"].as_str().unwrap()).await;
    assert_eq!(by_wa["id"], ids[0]);

    // One callback per real change, each with a deterministic id.
    let published = events.drain();
    for id in &ids {
        assert_eq!(statuses_of(&published, id), ["sent", "read"], "callbacks of {id}");
    }
    let first_read = published
        .iter()
        .find(|e| {
            e.kind == "message.status" && e.data["id"] == ids[0] && e.data["status"] == "read"
        })
        .unwrap();
    assert_eq!(first_read.data["client_ref"], "order-1");
    assert!(first_read.id.as_deref().unwrap().starts_with("evt_"));
    stop_and_check(app).await;
}

#[tokio::test]
async fn the_same_idempotency_key_three_times_also_across_a_restart_sends_one_message() {
    let sim = sim();
    let app = sending_app(&sim).await;
    connect(&app, &sim, S).await;
    let body = text("exactly once, please");
    let r = send(&app, S, &body, Some("order-42")).await;
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();
    let r = send(&app, S, &body, Some("order-42")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    let second: Value = r.json().await.unwrap();
    assert_eq!(first, second, "the first answer again");
    // The same key for another message is refused.
    let r = send(&app, S, &text("something else"), Some("order-42")).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    let id = first["id"].as_str().unwrap();
    wait_status(&app, S, id, "sent", LONG).await;

    let dir = stop_and_check(app).await;
    let app = app_in(dir, &sim, no_pacing).await;
    wait_state(&app, S, "connected", LONG).await;
    let r = send(&app, S, &body, Some("order-42")).await;
    assert_eq!(r.status(), 202);
    let third: Value = r.json().await.unwrap();
    assert_eq!(third, first, "same id after a restart");
    // A later message goes out after it, so nothing more of the first can still be coming.
    let later = send_ok(&app, S, text("a later one")).await;
    wait_status(&app, S, later["id"].as_str().unwrap(), "sent", LONG).await;
    let got = received(&sim, FRIEND).await;
    let copies = got.iter().filter(|m| m["body"] == "exactly once, please").count();
    assert_eq!(copies, 1, "one message on the phone: {got:?}");
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_number_not_on_whatsapp_fails_and_a_cap_is_429_with_retry_after() {
    let sim = sim();
    let app = app_for(&sim, |s| {
        s.sending.pacing.enabled = true;
        s.sending.pacing.daily_cap = 2;
        s.sending.pacing.typing_min_ms = 10;
        s.sending.pacing.typing_max_ms = 50;
        s.sending.pacing.gap_min_ms = 10;
        s.sending.pacing.gap_max_ms = 50;
    })
    .await;
    connect(&app, &sim, S).await;
    let mut events = Events::of(&app);
    control(&sim, "/numbers/15550009999", json!({"exists": false})).await;

    let r = app
        .signed_post(
            &format!("{}/contacts/lookup", session_path(S)),
            &json!({"phones": ["+15550009999", FRIEND]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let found: Value = r.json().await.unwrap();
    assert_eq!(found["results"][0]["exists"], false);
    assert_eq!(found["results"][1]["exists"], true);
    assert_eq!(found["results"][1]["chat_id"], format!("{FRIEND}@c.us"));

    let nobody =
        send_ok(&app, S, json!({"to": "+15550009999", "type": "text", "text": {"body": "hello?"}}))
            .await;
    let id = nobody["id"].as_str().unwrap();
    let m = wait_status(&app, S, id, "failed", LONG).await;
    assert_eq!(m["error"]["code"], "recipient_not_on_whatsapp", "{m}");
    assert!(received(&sim, "15550009999").await.is_empty());
    assert_eq!(statuses_of(&events.drain(), id), ["failed"]);

    let ok = send_ok(&app, S, text("within the cap")).await;
    let r = send(&app, S, &text("over the cap"), None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 86_400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "SENDING_LIMIT_REACHED");
    // on_limit: queue → accepted, scheduled for tomorrow, not sent today.
    let mut later = text("tomorrow");
    later["on_limit"] = json!("queue");
    send_ok(&app, S, later).await;
    wait_status(&app, S, ok["id"].as_str().unwrap(), "sent", LONG).await;
    let limits: Value =
        app.signed_get(&format!("{}/sending-limits", session_path(S))).await.json().await.unwrap();
    assert_eq!(limits["daily_cap"], 2);
    assert_eq!(limits["queued"], 1, "{limits}");
    assert!(received(&sim, FRIEND).await.iter().all(|m| m["body"] != "tomorrow"));
    stop_and_check(app).await;
}

/// A loopback HTTP server answering every GET with `body` as `content_type`.
async fn media_server(
    body: Vec<u8>,
    content_type: &'static str,
) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/media/file", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (url, task)
}

#[tokio::test]
async fn media_from_a_link_is_fetched_and_arrives_with_the_same_bytes() {
    let sim = sim();
    let app = sending_app(&sim).await; // development: loopback links are allowed
    connect(&app, &sim, S).await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(bytes(9, 4000));
    let (url, server) = media_server(png.clone(), "image/png").await;
    let sent = send_ok(
        &app,
        S,
        json!({"to": FRIEND, "type": "image", "image": {"link": url, "caption": "linked"}}),
    )
    .await;
    let got = wait_received(&sim, FRIEND, 1, LONG).await;
    assert_eq!(got[0]["type"], "image");
    assert_eq!(media_bytes(&sim, got[0]["id"].as_str().unwrap()).await, png);
    let m = wait_status(&app, S, sent["id"].as_str().unwrap(), "sent", LONG).await;
    assert_eq!(m["content"]["mime_type"], "image/png");
    // Bytes that are not what the server claims are refused, and nothing is queued.
    let (fake, fake_server) = media_server(b"%PDF-1.7 not a picture".to_vec(), "image/png").await;
    let r =
        send(&app, S, &json!({"to": FRIEND, "type": "image", "image": {"link": fake}}), None).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "MEDIA_TYPE_MISMATCH", "{e}");
    server.abort();
    fake_server.abort();
    stop_and_check(app).await;
}
