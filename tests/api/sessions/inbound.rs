//! Receiving end to end: what a wa-sim phone sends reaches the host as `message.received` (or
//! `message.sent` with `origin: "phone"`) with the documented fields, once each; messages that
//! arrive while the page is away are caught up with `source: "catchup"`, in order, once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use wa_sidecar::events::Event;

use super::*;

pub const OTHER: &str = "15557654321";

/// Waits for the next `n` events of `kind` (others are skipped), failing after `within`.
pub async fn next_of(events: &mut Events, kind: &str, n: usize, within: Duration) -> Vec<Event> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.0.recv()).await {
            Ok(Ok(e)) if e.kind == kind => out.push(e),
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(k))) => {
                panic!("lagged {k} events")
            }
            Ok(Err(e)) => panic!("bus closed: {e}"),
            Err(_) => panic!("only {} of {n} {kind} within {within:?}: {out:?}", out.len()),
        }
    }
    out
}

/// Everything of `kind` that arrives within `quiet` (for "and nothing more" checks).
pub async fn more_of(events: &mut Events, kind: &str, quiet: Duration) -> Vec<Event> {
    let deadline = Instant::now() + quiet;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.0.recv()).await {
            Ok(Ok(e)) if e.kind == kind => out.push(e),
            Ok(Ok(_)) => {}
            _ => return out,
        }
    }
}

/// A phone sends a message through wa-sim's control API; returns wa-sim's answer.
pub async fn phone_sends(sim: &SimServer, body: Value) -> Value {
    control(sim, "/messages", body).await
}

pub async fn text(sim: &SimServer, from: &str, to: &str, body: &str) -> Value {
    phone_sends(sim, json!({"from": from, "to": to, "type": "text", "text": body})).await
}

#[tokio::test]
async fn every_kind_of_message_from_a_phone_arrives_once_with_its_fields() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    control(&sim, &format!("/accounts/{OTHER}"), json!({"pushname": "Ann"})).await;

    let first = text(&sim, OTHER, PHONE, "hello @15550001111").await;
    let got = next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await;
    let d = &got[0].data;
    assert_eq!(d["type"], "text");
    assert_eq!(d["text"], "hello @15550001111");
    assert_eq!(d["wa_id"], first["key"]);
    assert!(d["id"].as_str().unwrap().starts_with("in_"));
    assert_eq!(d["chat"], json!({"id": format!("{OTHER}@c.us"), "type": "user"}));
    assert_eq!(d["from"]["id"], format!("{OTHER}@c.us"));
    assert_eq!(d["from"]["pn"], OTHER);
    assert_eq!(d["from"]["push_name"], "Ann");
    assert!(d["from"]["lid"].as_str().is_some_and(|l| l.ends_with("@lid")), "{d}");
    assert_eq!(d["source"], "live");
    assert!(d["timestamp"].as_i64().unwrap() > 1_700_000_000);
    assert!(
        got[0].id.as_deref().is_some_and(|i| i.starts_with("evt_")),
        "a deterministic event id"
    );
    let first_id = d["id"].as_str().unwrap().to_owned();

    let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\nnot-really");
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "image",
               "media": {"data": png, "mimetype": "image/png", "caption": "a cat"}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!((d["type"].as_str(), d["caption"].as_str()), (Some("image"), Some("a cat")));
    assert_eq!(d["media"]["mime_type"], "image/png");
    assert!(d["media"]["id"].as_str().unwrap().starts_with("med_"));

    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "ptt",
               "media": {"data": png, "mimetype": "audio/ogg; codecs=opus"}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!((d["type"].as_str(), d["media"]["voice"].as_bool()), (Some("audio"), Some(true)));

    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "document",
               "media": {"data": png, "mimetype": "application/pdf", "filename": "bill.pdf"}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        (d["type"].as_str(), d["media"]["filename"].as_str()),
        (Some("document"), Some("bill.pdf"))
    );

    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "location",
               "location": {"lat": 52.52, "lng": 13.405, "name": "Cafe", "address": "Main St 1"}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        d["location"],
        json!({"latitude": 52.52, "longitude": 13.405, "name": "Cafe", "address": "Main St 1"})
    );

    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "contact",
               "contact": {"name": "Bo", "phone": "15551112222"}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(d["type"], "contacts");
    assert_eq!(d["contacts"][0]["name"], "Bo");
    assert_eq!(d["contacts"][0]["phones"], json!(["15551112222"]));

    // A reply names the message it answers by our id.
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "text", "text": "as I said",
               "quoted_id": first["id"]}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(d["context"]["message_id"], first_id.as_str());
    assert_eq!(d["context"]["wa_id"], first["key"]);

    // What the account sends from its phone is `message.sent` with origin phone.
    let mine = text(&sim, PHONE, OTHER, "sent from my phone").await;
    let sent = next_of(&mut events, "message.sent", 1, Duration::from_secs(30)).await;
    let d = &sent[0].data;
    assert_eq!(
        (d["origin"].as_str(), d["text"].as_str()),
        (Some("phone"), Some("sent from my phone"))
    );
    assert_eq!(d["chat"]["id"], format!("{OTHER}@c.us"));
    assert_eq!(d["from"]["pn"], PHONE);
    assert!(d["wa_id"].as_str().unwrap().ends_with(mine["id"].as_str().unwrap()));

    // Nothing was reported twice.
    assert!(more_of(&mut events, "message.received", Duration::from_secs(1)).await.is_empty());
    stop_and_check(app).await;
}

#[tokio::test]
async fn messages_that_arrive_while_offline_are_caught_up_in_order_once() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    text(&sim, OTHER, PHONE, "before").await;
    next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await;

    let target = json!({"phone": PHONE});
    control(&sim, "/offline", target.clone()).await;
    wait_state(&app, "main", "disconnected", Duration::from_secs(20)).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(text(&sim, OTHER, PHONE, &format!("offline {i}")).await["key"].clone());
    }
    control(&sim, "/online", target).await;
    wait_state(&app, "main", "connected", Duration::from_secs(30)).await;

    let got = next_of(&mut events, "message.received", 5, Duration::from_secs(30)).await;
    let texts: Vec<&str> = got.iter().map(|e| e.data["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["offline 0", "offline 1", "offline 2", "offline 3", "offline 4"]);
    assert!(got.iter().all(|e| e.data["source"] == "catchup"), "{got:?}");
    let ids: HashSet<_> = got.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let wa: Vec<&Value> = got.iter().map(|e| &e.data["wa_id"]).collect();
    assert_eq!(wa, sent.iter().collect::<Vec<_>>());
    assert!(more_of(&mut events, "message.received", Duration::from_secs(2)).await.is_empty());
    stop_and_check(app).await;
}

/// The `message.received` callbacks among what `receiver` got, until `n` distinct messages
/// arrived; checks every repeat of a message carried the same `webhook-id`. Returns the data of
/// each distinct message in arrival order.
async fn distinct_received(
    receiver: &mut crate::receiver::TestReceiver,
    n: usize,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut hooks: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {} of {n} messages: {out:?}", out.len());
        let got = receiver.next(left).await;
        let body = got.json();
        if body["type"] != "message.received" {
            continue;
        }
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        let hook = got.header("webhook-id").to_owned();
        match hooks.get(&id) {
            Some(h) => assert_eq!(h, &hook, "a repeat of {id} under another webhook-id"),
            None => {
                hooks.insert(id, hook);
                out.push(body["data"].clone());
            }
        }
    }
    out
}

#[tokio::test]
async fn messages_that_arrive_while_the_sidecar_is_killed_are_caught_up_after_restart() {
    use super::recovery::{binary_config, binary_wait, call};
    use crate::binary::serve;
    crate::helpers::init();
    let sim = sim();
    let mut receiver = crate::receiver::TestReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    let mut text_cfg = std::fs::read_to_string(&config).unwrap();
    text_cfg.push_str(&format!(
        "\n[callbacks]\nurl = \"{}\"\nsecrets = [\"{}\"]\n",
        receiver.url,
        crate::helpers::TEST_CALLBACK_SECRET
    ));
    std::fs::write(&config, text_cfg).unwrap();

    let mut first = serve(dir.path(), &config);
    let (status, body) =
        call(&first, "POST", &format!("/v1/workspaces/{WS}/sessions"), Some(json!({"id": "k9"})))
            .await;
    assert_eq!(status, 201, "{body}");
    binary_wait(&first, "k9", "qr_required", Duration::from_secs(30)).await;
    let (_, qr) = call(&first, "GET", &format!("{}/qr?format=raw", session_path("k9")), None).await;
    let code = match qr {
        Value::String(s) => s,
        _ => {
            let pages: Value = reqwest::get(format!("{}/pages", sim.control_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            pages.as_array().unwrap().iter().find_map(|p| p["qr"].as_str()).unwrap().to_owned()
        }
    };
    control(&sim, "/scan", json!({"code": code, "phone": PHONE})).await;
    binary_wait(&first, "k9", "connected", Duration::from_secs(30)).await;
    text(&sim, OTHER, PHONE, "before the kill").await;
    let before = distinct_received(&mut receiver, 1, Duration::from_secs(30)).await;
    assert_eq!(before[0]["text"], "before the kill");

    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(text(&sim, OTHER, PHONE, &format!("while dead {i}")).await["key"].clone());
    }
    let second = serve(dir.path(), &config);
    binary_wait(&second, "k9", "connected", Duration::from_secs(60)).await;
    // A repeat of "before the kill" (delivered, not yet marked) may come first: same webhook-id.
    let mut got = distinct_received(&mut receiver, 6, Duration::from_secs(60)).await;
    got.retain(|d| d["text"] != "before the kill");
    let texts: Vec<&str> = got.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["while dead 0", "while dead 1", "while dead 2", "while dead 3", "while dead 4"]
    );
    assert!(got.iter().all(|d| d["source"] == "catchup"), "{got:?}");
    let wa: Vec<&Value> = got.iter().map(|d| &d["wa_id"]).collect();
    assert_eq!(wa, sent.iter().collect::<Vec<_>>());
    drop(second);
}

#[tokio::test]
async fn messages_that_arrive_while_chromium_is_dead_are_caught_up_once() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "crash").await;
    let mut events = Events::of(&app);
    // The network keeps the new browser from reconnecting until the messages are in.
    let target = json!({"phone": PHONE});
    control(&sim, "/offline", target.clone()).await;
    let groups = chromium_groups_under(&app.data_dir().join("runtime"));
    assert_eq!(groups.len(), 1);
    // SAFETY: killpg on a group this test found under its own data folder.
    unsafe { libc::killpg(groups[0], libc::SIGKILL) };
    wait_state(&app, "crash", "disconnected", Duration::from_secs(20)).await;
    for i in 0..5 {
        text(&sim, OTHER, PHONE, &format!("while crashed {i}")).await;
    }
    control(&sim, "/online", target).await;
    wait_state(&app, "crash", "connected", Duration::from_secs(40)).await;
    let got = next_of(&mut events, "message.received", 5, Duration::from_secs(40)).await;
    let texts: Vec<&str> = got.iter().map(|e| e.data["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "while crashed 0",
            "while crashed 1",
            "while crashed 2",
            "while crashed 3",
            "while crashed 4"
        ]
    );
    assert!(got.iter().all(|e| e.data["source"] == "catchup"), "{got:?}");
    assert!(more_of(&mut events, "message.received", Duration::from_secs(2)).await.is_empty());
    assert_groups_gone(&groups).await;
    stop_and_check(app).await;
}

#[tokio::test]
async fn edits_revokes_reactions_and_presence_arrive_with_both_ids_of_the_sender() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let first = text(&sim, OTHER, PHONE, "first draft").await;
    let received = next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await;
    let our_id = received[0].data["id"].as_str().unwrap().to_owned();
    let raw = first["id"].as_str().unwrap();

    control(&sim, &format!("/messages/{raw}/edit"), json!({"text": "final text"})).await;
    let e = next_of(&mut events, "message.edited", 1, Duration::from_secs(30)).await;
    let d = &e[0].data;
    assert_eq!((d["id"].as_str(), d["text"].as_str()), (Some(our_id.as_str()), Some("final text")));
    assert_eq!(d["from"]["pn"], OTHER);
    assert!(d["from"]["lid"].as_str().is_some_and(|l| l.ends_with("@lid")));
    assert!(e[0].id.is_some(), "a deterministic id");

    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "reaction",
               "reaction": {"message_id": raw, "text": "👍"}}),
    )
    .await;
    let r = next_of(&mut events, "message.reaction", 1, Duration::from_secs(30)).await;
    let d = &r[0].data;
    assert_eq!(
        (d["message_id"].as_str(), d["emoji"].as_str()),
        (Some(our_id.as_str()), Some("👍"))
    );
    assert_eq!(d["from"]["pn"], OTHER);
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "reaction",
               "reaction": {"message_id": raw, "text": ""}}),
    )
    .await;
    let r = next_of(&mut events, "message.reaction", 1, Duration::from_secs(30)).await;
    assert_eq!(r[0].data["removed"], true);

    control(&sim, &format!("/messages/{raw}/revoke"), json!({})).await;
    let v = next_of(&mut events, "message.revoked", 1, Duration::from_secs(30)).await;
    assert_eq!(v[0].data["id"], our_id.as_str());
    assert_eq!(v[0].data["by"]["pn"], OTHER);

    control(&sim, "/presence", json!({"from": OTHER, "to": PHONE, "state": "composing"})).await;
    let p = next_of(&mut events, "presence.update", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (p[0].data["state"].as_str(), p[0].data["from"]["pn"].as_str()),
        (Some("composing"), Some(OTHER))
    );
    assert!(more_of(&mut events, "message.received", Duration::from_millis(500)).await.is_empty());
    stop_and_check(app).await;
}
