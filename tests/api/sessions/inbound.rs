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
    // The account also writes from its phone, after the last message it received.
    text(&sim, PHONE, OTHER, "from my phone while away").await;
    control(&sim, "/online", target).await;
    wait_state(&app, "main", "connected", Duration::from_secs(30)).await;

    let got = next_of(&mut events, "message.received", 5, Duration::from_secs(30)).await;
    let texts: Vec<&str> = got.iter().map(|e| e.data["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["offline 0", "offline 1", "offline 2", "offline 3", "offline 4"]);
    let mine = next_of(&mut events, "message.sent", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (mine[0].data["text"].as_str(), mine[0].data["source"].as_str()),
        (Some("from my phone while away"), Some("catchup"))
    );
    assert!(got.iter().all(|e| e.data["source"] == "catchup"), "{got:?}");
    let ids: HashSet<_> = got.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let wa: Vec<&Value> = got.iter().map(|e| &e.data["wa_id"]).collect();
    assert_eq!(wa, sent.iter().collect::<Vec<_>>());
    assert!(more_of(&mut events, "message.received", Duration::from_secs(2)).await.is_empty());
    let metrics = app.metrics().await;
    assert!(metrics.contains("wa_sidecar_inbound_catchup_messages_total 6"), "{metrics}");
    // The first connection only set the watermark; coming back online ran one catch-up.
    assert!(metrics.contains("wa_sidecar_inbound_catchups_total 1"), "{metrics}");
    assert!(
        metrics.contains(r#"wa_sidecar_inbound_events_total{type="message.received"} 6"#),
        "{metrics}"
    );
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

/// Every file under `root` (recursively).
fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn media_is_stored_sealed_and_served_byte_for_byte_with_ranges() {
    use sha2::Digest;
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    // 1.5 MB: several page slices.
    let plain: Vec<u8> =
        (0..1_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&plain);
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "video",
               "media": {"data": b64, "mimetype": "video/mp4", "caption": "clip"}}),
    )
    .await;
    let got = next_of(&mut events, "message.received", 1, Duration::from_secs(60)).await;
    let media = got[0].data["media"].clone();
    assert_eq!(media["status"], "stored", "{media}");
    assert_eq!(media["size"], plain.len());
    assert_eq!(media["sha256"], hex::encode(sha2::Sha256::digest(&plain)));
    assert_eq!(media["mime_type"], "video/mp4");
    let id = media["id"].as_str().unwrap();
    let path = format!("{}/media/{id}", session_path("main"));

    let r = app.signed_get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.bytes().await.unwrap() == plain, "the bytes the phone sent");

    let r = app.signed(Method::GET, &path).header("Range", "bytes=1000-1999").send().await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 1000-1999/{}", plain.len()));
    assert!(r.bytes().await.unwrap() == plain[1000..2000]);
    let r = app.signed(Method::GET, &path).header("Range", "bytes=9999999-").send().await;
    assert_eq!(r.status(), 416);

    // The plain bytes are nowhere under the data folder (media files, database, logs).
    let probes: Vec<&[u8]> =
        [0usize, 700_000, 1_400_000].iter().map(|&o| &plain[o..o + 48]).collect();
    for file in files_under(&app.data_dir()) {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        for p in &probes {
            assert!(!bytes.windows(p.len()).any(|w| w == *p), "plain media bytes in {file:?}");
        }
    }
    assert!(files_under(&app.data_dir().join("media")).iter().any(|f| f.ends_with(id)));

    crate::helpers::assert_envelope(
        app.signed_get(&format!(
            "{}/media/med_00000000000000000000000000000000",
            session_path("main")
        ))
        .await,
        404,
        "MEDIA_NOT_FOUND",
    )
    .await;
    let other_ws = format!("/v1/workspaces/other/sessions/main/media/{id}");
    let status = app.signed_get(&other_ws).await.status().as_u16();
    assert!(status == 403 || status == 404, "another workspace's path: {status}");

    // Refetch gets it again from the page.
    let r = app.signed_post(&format!("{path}/refetch"), &json!({})).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (again["status"].as_str(), again["sha256"].as_str()),
        (Some("stored"), media["sha256"].as_str())
    );
    assert!(app.metrics().await.contains(r#"wa_sidecar_inbound_media_total{status="stored"} 2"#));
    stop_and_check(app).await;
}

#[tokio::test]
async fn chats_messages_and_contacts_read_from_the_page_and_bad_pages_are_400() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    control(&sim, &format!("/accounts/{OTHER}"), json!({"pushname": "Ann"})).await;
    for i in 0..3 {
        text(&sim, OTHER, PHONE, &format!("m{i}")).await;
    }
    let got = next_of(&mut events, "message.received", 3, Duration::from_secs(30)).await;

    let r = app.signed_get(&format!("{}/chats", session_path("main"))).await;
    assert_eq!(r.status(), 200);
    let chats: Value = r.json().await.unwrap();
    let chat = chats["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == format!("{OTHER}@c.us"))
        .cloned();
    let chat = chat.expect("the chat is listed");
    assert_eq!(chat["type"], "user");
    assert!(chat["last_message_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(chat["unread_count"], 3);

    let base = format!("{}/chats/{OTHER}@c.us/messages", session_path("main"));
    let r = app.signed(Method::GET, &base).query("limit", "2").send().await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    let texts: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["m1", "m2"]);
    assert_eq!(page["messages"][1]["id"], got[2].data["id"], "the callbacks' ids");
    let before = page["next_before"].as_str().unwrap().to_owned();
    let r =
        app.signed(Method::GET, &base).query("limit", "2").query("before", &before).send().await;
    let older: Value = r.json().await.unwrap();
    assert_eq!(older["messages"][0]["text"], "m0");
    // `before` by our id works too.
    let ours = got[1].data["id"].as_str().unwrap();
    let r = app.signed(Method::GET, &base).query("before", ours).send().await;
    let older: Value = r.json().await.unwrap();
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);

    for (q, v, code) in [
        ("limit", "0", "INVALID_LIMIT"),
        ("limit", "abc", "INVALID_LIMIT"),
        ("limit", "101", "INVALID_LIMIT"),
        ("before", "in_nothing_known", "INVALID_BEFORE"),
        ("before", "../x", "INVALID_BEFORE"),
    ] {
        let r = app.signed(Method::GET, &base).query(q, v).send().await;
        crate::helpers::assert_envelope(r, 400, code).await;
    }
    let r = app.signed_get(&format!("{}/chats/evil.example/messages", session_path("main"))).await;
    crate::helpers::assert_envelope(r, 400, "INVALID_CHAT_ID").await;

    let r = app.signed_get(&format!("{}/contacts/{OTHER}", session_path("main"))).await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!((c["pn"].as_str(), c["name"].as_str()), (Some(OTHER), Some("Ann")));
    assert!(c["lid"].as_str().is_some_and(|l| l.ends_with("@lid")));
    stop_and_check(app).await;
}

#[tokio::test]
async fn groups_polls_votes_placeholders_view_once_calls_and_bans() {
    const THIRD: &str = "15553334444";
    let sim = sim();
    let app = app_for(&sim, |s| s.calls.reject = true).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);

    let group = control(
        &sim,
        "/groups",
        json!({"owner": OTHER, "subject": "Team", "members": [PHONE, THIRD]}),
    )
    .await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let g = next_of(&mut events, "group.participants", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (g[0].data["group"]["id"].as_str(), g[0].data["action"].as_str()),
        (Some(gid.as_str()), Some("add"))
    );
    assert_eq!(g[0].data["author"]["pn"], OTHER);
    text(&sim, THIRD, &gid, "hi team").await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(d["chat"], json!({"id": gid, "type": "group"}));
    assert_eq!(d["from"]["pn"], THIRD);
    control(
        &sim,
        &format!("/groups/{gid}/participants"),
        json!({"action": "remove", "participants": [THIRD]}),
    )
    .await;
    let g = next_of(&mut events, "group.participants", 1, Duration::from_secs(30)).await;
    assert_eq!(g[0].data["action"], "remove");
    assert_eq!(g[0].data["participants"][0]["pn"], THIRD);
    let r = app.signed_get(&format!("{}/groups/{gid}", session_path("main"))).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["subject"], "Team");
    assert!(
        info["admins"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with(OTHER)),
        "{info}"
    );

    let poll = phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "poll",
               "poll": {"name": "Lunch?", "options": ["yes", "no"], "selectable_count": 1}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        d["poll"],
        json!({"name": "Lunch?", "options": ["yes", "no"], "selectable_count": 1})
    );
    let poll_id = d["id"].clone();
    phone_sends(&sim, json!({"from": OTHER, "to": PHONE, "type": "vote", "vote": {"message_id": poll["id"], "options": ["no"]}})).await;
    let v = next_of(&mut events, "poll.vote", 1, Duration::from_secs(30)).await;
    assert_eq!((&v[0].data["message_id"], &v[0].data["selected"]), (&poll_id, &json!(["no"])));
    assert_eq!(v[0].data["from"]["pn"], OTHER);

    let ph = phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "text", "text": "secret", "placeholder": true}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(d["type"], "undecryptable");
    control(&sim, &format!("/messages/{}/decrypt", ph["id"].as_str().unwrap()), json!({})).await;
    let d2 =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        (d2["type"].as_str(), d2["text"].as_str(), d2["decrypted"].as_bool()),
        (Some("text"), Some("secret"), Some(true))
    );
    assert_eq!(d2["id"], d["id"], "the same message");

    let png = base64::engine::general_purpose::STANDARD.encode(b"once only");
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "image",
        "media": {"data": png, "mimetype": "image/jpeg", "view_once": true}}),
    )
    .await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!((d["type"].as_str(), d["view_once"].as_bool()), (Some("image"), Some(true)));

    let call = control(&sim, "/calls", json!({"from": OTHER, "to": PHONE, "video": true})).await;
    let c = next_of(&mut events, "call.incoming", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (c[0].data["video"].as_bool(), c[0].data["rejected"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(c[0].data["from"]["pn"], OTHER);
    let calls: Value =
        reqwest::get(format!("{}/calls", sim.control_url())).await.unwrap().json().await.unwrap();
    let state =
        calls.as_array().unwrap().iter().find(|x| x["id"] == call["id"]).unwrap()["state"].clone();
    assert_eq!(state, "rejected");

    control(&sim, "/ban", json!({"phone": PHONE, "expires_in_s": 3600})).await;
    let b = next_of(&mut events, "session.restricted", 1, Duration::from_secs(30)).await;
    assert_eq!(b[0].data["reason"], "temporarily_banned");
    assert!(b[0].data["until"].as_i64().unwrap() > 1_700_000_000);
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_contact_known_by_lid_only_then_by_both_gets_contact_identity_and_both_ids_after() {
    const LIDDY: &str = "15559990000";
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let n = control(
        &sim,
        &format!("/numbers/{LIDDY}"),
        json!({"lid_addressing": true, "pn_visible": false}),
    )
    .await;
    let lid = n["lid"].as_str().unwrap().to_owned();
    text(&sim, LIDDY, PHONE, "who am I").await;
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        d["from"],
        json!({"id": lid, "lid": lid, "pn": null, "push_name": d["from"]["push_name"]})
    );
    assert_eq!(d["chat"]["id"], lid.as_str());

    control(&sim, &format!("/numbers/{LIDDY}"), json!({"pn_visible": true})).await;
    // An incomplete identity is asked about again after a few seconds.
    tokio::time::sleep(Duration::from_secs(6)).await;
    text(&sim, LIDDY, PHONE, "now you know").await;
    let id = next_of(&mut events, "contact.identity", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (id[0].data["lid"].as_str(), id[0].data["pn"].as_str()),
        (Some(lid.as_str()), Some(LIDDY))
    );
    let d =
        next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await[0].data.clone();
    assert_eq!(
        (d["from"]["lid"].as_str(), d["from"]["pn"].as_str()),
        (Some(lid.as_str()), Some(LIDDY))
    );
    // Later events carry both, with no new identity event.
    control(&sim, "/presence", json!({"from": LIDDY, "to": PHONE, "state": "composing"})).await;
    let p = next_of(&mut events, "presence.update", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (p[0].data["from"]["lid"].as_str(), p[0].data["from"]["pn"].as_str()),
        (Some(lid.as_str()), Some(LIDDY))
    );
    assert!(more_of(&mut events, "contact.identity", Duration::from_millis(500)).await.is_empty());
    stop_and_check(app).await;
}

#[tokio::test]
async fn media_whose_copy_is_gone_is_reported_failed_and_refetch_says_so() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let target = json!({"phone": PHONE});
    control(&sim, "/offline", target.clone()).await;
    wait_state(&app, "main", "disconnected", Duration::from_secs(20)).await;
    let png = base64::engine::general_purpose::STANDARD.encode(b"soon gone");
    let sent = phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "image", "media": {"data": png, "mimetype": "image/png"}}),
    )
    .await;
    control(&sim, &format!("/media/{}/gone", sent["id"].as_str().unwrap()), json!({})).await;
    control(&sim, "/online", target).await;
    let got = next_of(&mut events, "message.received", 1, Duration::from_secs(40)).await;
    let media = &got[0].data["media"];
    assert_eq!(
        (media["status"].as_str(), media["reason"].as_str()),
        (Some("failed"), Some("media_gone")),
        "{media}"
    );
    assert_eq!(got[0].data["source"], "catchup");
    let path = format!("{}/media/{}", session_path("main"), media["id"].as_str().unwrap());
    crate::helpers::assert_envelope(app.signed_get(&path).await, 409, "MEDIA_NOT_STORED").await;
    let r = app.signed_post(&format!("{path}/refetch"), &json!({})).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (again["status"].as_str(), again["reason"].as_str()),
        (Some("failed"), Some("media_gone"))
    );
    let r = app
        .signed_post(&format!("{}/media/med_unknown/refetch", session_path("main")), &json!({}))
        .await;
    crate::helpers::assert_envelope(r, 404, "MEDIA_NOT_FOUND").await;
    // The catch-up's try and the refetch: both failed, none stored.
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"wa_sidecar_inbound_media_total{status="failed"} 2"#), "{metrics}");
    assert!(!metrics.contains(r#"wa_sidecar_inbound_media_total{status="stored"}"#), "{metrics}");

    // The routes are in the OpenAPI document.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for p in [
        "/v1/workspaces/{workspace}/sessions/{session}/media/{media_id}",
        "/v1/workspaces/{workspace}/sessions/{session}/media/{media_id}/refetch",
        "/v1/workspaces/{workspace}/sessions/{session}/chats",
        "/v1/workspaces/{workspace}/sessions/{session}/chats/{chat}/messages",
        "/v1/workspaces/{workspace}/sessions/{session}/contacts/{id}",
        "/v1/workspaces/{workspace}/sessions/{session}/groups",
        "/v1/workspaces/{workspace}/sessions/{session}/groups/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from /openapi.json");
    }
    stop_and_check(app).await;
}

#[tokio::test]
async fn edits_and_revokes_made_while_the_browser_was_closed_are_caught_up_once() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let a = text(&sim, OTHER, PHONE, "to be edited").await;
    let b = text(&sim, OTHER, PHONE, "to be deleted").await;
    let got = next_of(&mut events, "message.received", 2, Duration::from_secs(30)).await;

    // A closed page (a new page load after a browser crash) gets no events for these: only the
    // history shows them.
    let target = json!({"phone": PHONE});
    control(&sim, "/offline", target.clone()).await;
    let groups = chromium_groups_under(&app.data_dir().join("runtime"));
    // SAFETY: killpg on a group this test found under its own data folder.
    unsafe { libc::killpg(groups[0], libc::SIGKILL) };
    wait_state(&app, "main", "disconnected", Duration::from_secs(20)).await;
    control(
        &sim,
        &format!("/messages/{}/edit", a["id"].as_str().unwrap()),
        json!({"text": "edited while away"}),
    )
    .await;
    control(&sim, &format!("/messages/{}/revoke", b["id"].as_str().unwrap()), json!({})).await;
    control(&sim, "/online", target).await;
    wait_state(&app, "main", "connected", Duration::from_secs(40)).await;

    let e = next_of(&mut events, "message.edited", 1, Duration::from_secs(40)).await;
    assert_eq!(
        (&e[0].data["id"], e[0].data["text"].as_str()),
        (&got[0].data["id"], Some("edited while away"))
    );
    let r = next_of(&mut events, "message.revoked", 1, Duration::from_secs(40)).await;
    assert_eq!(r[0].data["id"], got[1].data["id"]);

    // Another reconnect finds nothing new.
    control(&sim, "/offline", json!({"phone": PHONE})).await;
    wait_state(&app, "main", "disconnected", Duration::from_secs(20)).await;
    control(&sim, "/online", json!({"phone": PHONE})).await;
    wait_state(&app, "main", "connected", Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Vec<&str> =
        events.drain().iter().map(|e| e.kind).filter(|k| k.starts_with("message.")).collect();
    assert!(later.is_empty(), "reported again: {later:?}");
    stop_and_check(app).await;
}
