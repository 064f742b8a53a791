//! Receiving: every kind of message and event a phone (or a group, a caller, the account's own
//! phone) can produce, with the fields wa-js gives them.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use wa_sim::SimConfig;

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

async fn next_msg(page: &SimPage, mark: usize) -> Value {
    page.wait_event_from("chat.new_message", mark, T).await.1[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_kind_a_phone_sends_arrives_with_its_fields() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let me = "15550013000";
    let bob = "15550013001";
    let page = linked_page(&chrome, &sim, &ctl, me).await;

    for (kind, mime, name) in [
        ("video", "video/mp4", None),
        ("audio", "audio/mpeg", None),
        ("ptt", "audio/ogg; codecs=opus", None),
        ("document", "application/pdf", Some("a.pdf")),
        ("sticker", "image/webp", None),
    ] {
        let mark = page.mark();
        let sent = ctl.post("/messages", json!({"from": bob, "to": me, "type": kind, "media": {"data": PNG, "mimetype": mime, "filename": name}})).await;
        let m = next_msg(&page, mark).await;
        assert_eq!(m["type"], kind);
        assert_eq!(m["mimetype"], mime);
        assert_eq!(m["size"], 70);
        assert!(m["filehash"].as_str().unwrap().ends_with('='));
        assert_eq!(m["isMedia"], true);
        if let Some(n) = name {
            assert_eq!(m["filename"], n);
        }
        let data = page
            .ok(&format!(
                "WPP.chat.downloadMedia('{}').then(WPP.util.blobToBase64)",
                sent["key"].as_str().unwrap()
            ))
            .await;
        assert!(data.as_str().unwrap().ends_with(PNG), "{kind}");
    }

    // WhatsApp's copy gone: the plain object wa-js throws; back again: it downloads.
    let mark = page.mark();
    let img = ctl.post("/messages", json!({"from": bob, "to": me, "type": "image", "media": {"data": PNG, "mimetype": "image/png"}})).await;
    next_msg(&page, mark).await;
    let (raw, key) = (img["id"].as_str().unwrap(), img["key"].as_str().unwrap());
    ctl.post(&format!("/media/{raw}/gone"), json!({})).await;
    let err = page.call(&format!("WPP.chat.downloadMedia('{key}')")).await.unwrap_err();
    assert_eq!(
        (err["code"].as_str(), err["name"].as_str()),
        (Some("media_not_found"), None),
        "{err}"
    );
    ctl.post(&format!("/media/{raw}/gone"), json!({"gone": false})).await;
    page.ok(&format!("WPP.chat.downloadMedia('{key}')")).await;
    let err = page.call("WPP.chat.downloadMedia('false_1@c.us_NOPE')").await.unwrap_err();
    assert_eq!(err["code"], "msg_not_found");

    // View-once, several contacts, mentions.
    let mark = page.mark();
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "image", "media": {"data": PNG, "mimetype": "image/png", "view_once": true}})).await;
    assert_eq!(next_msg(&page, mark).await["isViewOnce"], true);
    let mark = page.mark();
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "contacts", "contacts": [{"name": "A", "phone": "1555"}, {"name": "B", "phone": "1556"}]})).await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["type"], "multi_vcard");
    assert_eq!(m["vcardList"][1]["displayName"], "B");
    assert!(m["vcardList"][1]["vcard"].as_str().unwrap().contains("waid=1556"));
    let mark = page.mark();
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "text", "text": format!("hi @{me}"), "mentions": [me]})).await;
    assert_eq!(next_msg(&page, mark).await["mentionedJidList"], json!([format!("{me}@c.us")]));

    // A poll and its votes.
    let mark = page.mark();
    let poll = ctl.post("/messages", json!({"from": bob, "to": me, "type": "poll", "poll": {"name": "When?", "options": ["Mon", "Tue"], "selectable_count": 1}})).await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["type"], "poll_creation");
    assert_eq!(m["pollName"], "When?");
    assert_eq!(
        m["pollOptions"],
        json!([{"name": "Mon", "localId": 0}, {"name": "Tue", "localId": 1}])
    );
    assert_eq!(m["pollSelectableOptionsCount"], 1);
    let mark = page.mark();
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "vote", "vote": {"message_id": poll["id"], "options": ["Tue"]}})).await;
    let (_, v) = page.wait_event_from("chat.poll_response", mark, T).await;
    assert_eq!(v[0]["msgId"]["_serialized"], poll["key"]);
    assert_eq!(v[0]["chatId"], format!("{bob}@c.us"));
    assert_eq!(v[0]["selectedOptions"], json!([null, {"name": "Tue", "localId": 1}]));
    assert_eq!(v[0]["sender"], format!("{bob}@c.us"));
    assert!(v[0]["timestamp"].as_u64().unwrap() > 1_700_000_000_000);

    // "Waiting for this message": the placeholder, then the same id decrypted.
    let mark = page.mark();
    let ph = ctl
        .post(
            "/messages",
            json!({"from": bob, "to": me, "type": "text", "text": "secret", "placeholder": true}),
        )
        .await;
    let m = next_msg(&page, mark).await;
    assert_eq!((m["type"].as_str(), m["body"].as_str()), (Some("ciphertext"), Some("")));
    ctl.post(&format!("/messages/{}/decrypt", ph["id"].as_str().unwrap()), json!({})).await;
    let deadline = std::time::Instant::now() + T;
    while page.all("chat.new_message", mark).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no decrypted message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let both = page.all("chat.new_message", mark);
    assert_eq!(both[1].0[0]["id"], both[0].0[0]["id"]);
    assert_eq!(
        (both[1].0[0]["type"].as_str(), both[1].0[0]["body"].as_str()),
        (Some("chat"), Some("secret"))
    );
    let mark = page.mark();
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "text", "text": "later", "placeholder": true, "decrypt_after_ms": 100})).await;
    let deadline = std::time::Instant::now() + T;
    while page.all("chat.new_message", mark).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no timed decrypt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // What the account sends from its own phone shows up as fromMe.
    let mark = page.mark();
    let own = ctl.send_text_json(me, bob, "from my phone").await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["id"]["fromMe"], true);
    assert_eq!(m["id"]["_serialized"], own["sender_key"]);
    assert_eq!(m["from"], format!("{me}@c.us"));
    assert_eq!(m["to"], format!("{bob}@c.us"));
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_calls_presence_and_lid_identities_reach_the_page() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let me = "15550014000";
    let (bob, carol) = ("15550014001", "15550014002");
    let page = linked_page(&chrome, &sim, &ctl, me).await;

    // A group a phone creates, its messages with their author, participant changes.
    let mark = page.mark();
    ctl.post("/accounts/15550014001", json!({"pushname": "Bob"})).await;
    let g =
        ctl.post("/groups", json!({"owner": bob, "subject": "Club", "members": [me, carol]})).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let (_, ch) = page.wait_event_from("group.participant_changed", mark, T).await;
    assert_eq!(
        ch[0],
        json!({"author": format!("{bob}@c.us"), "authorPushName": "Bob", "groupId": gid, "action": "add", "operation": "add",
               "participants": [format!("{me}@c.us"), format!("{carol}@c.us")]})
    );
    let mark = page.mark();
    let sent = ctl.send_text_json(carol, &gid, "hello club").await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["from"], gid.as_str());
    assert_eq!(m["author"], format!("{carol}@c.us"));
    assert_eq!(m["id"]["participant"], format!("{carol}@c.us"));
    assert_eq!(m["id"]["_serialized"], sent["key"]);
    let mark = page.mark();
    ctl.post("/presence", json!({"from": carol, "to": gid, "state": "composing"})).await;
    let (_, p) = page.wait_event_from("chat.presence_change", mark, T).await;
    assert_eq!(p[0]["id"], gid.as_str());
    assert_eq!((p[0]["isGroup"].as_bool(), p[0]["isUser"].as_bool()), (Some(true), Some(false)));
    assert_eq!(
        p[0]["participants"],
        json!([{"id": format!("{carol}@c.us"), "state": "composing", "shortName": "Sim 15550014002"}])
    );
    for (action, who, operation) in [
        ("promote", carol, "promote"),
        ("demote", carol, "demote"),
        ("leave", carol, "remove"),
        ("remove", me, "remove"),
    ] {
        let mark = page.mark();
        ctl.post(
            &format!("/groups/{gid}/participants"),
            json!({"action": action, "participants": [who]}),
        )
        .await;
        let (_, ch) = page.wait_event_from("group.participant_changed", mark, T).await;
        assert_eq!(ch[0]["action"], action);
        assert_eq!(ch[0]["operation"], operation);
        assert_eq!(ch[0]["participants"], json!([format!("{who}@c.us")]));
        if action == "leave" {
            assert_eq!(ch[0]["author"], format!("{carol}@c.us"));
        }
    }

    // A call, rejected from the page.
    let mark = page.mark();
    let call = ctl.post("/calls", json!({"from": bob, "to": me, "video": true})).await;
    let (_, c) = page.wait_event_from("call.incoming_call", mark, T).await;
    assert_eq!(c[0]["id"], call["id"]);
    assert_eq!(c[0]["isVideo"], true);
    assert_eq!(c[0]["isGroup"], false);
    assert_eq!(c[0]["sender"], format!("{bob}@c.us"));
    assert_eq!(c[0]["peerJid"], format!("{bob}@c.us"));
    assert!(c[0]["offerTime"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        page.ok(&format!("WPP.call.reject('{}')", call["id"].as_str().unwrap())).await,
        true
    );
    assert_eq!(ctl.get("/calls").await[0]["state"], "rejected");
    let err = page
        .call(&format!("WPP.call.reject('{}')", call["id"].as_str().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "call_is_not_incoming_ring");
    assert_eq!(page.call("WPP.call.reject('NOPE')").await.unwrap_err()["code"], "call_not_found");

    // A contact WhatsApp names by LID only, then by both.
    let dan = "15550014003";
    let set = ctl
        .post(&format!("/numbers/{dan}"), json!({"lid_addressing": true, "pn_visible": false}))
        .await;
    let lid = set["lid"].as_str().unwrap().to_string();
    assert!(lid.ends_with("@lid"));
    let mark = page.mark();
    let sent = ctl.send_text_json(dan, me, "by lid").await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["from"], lid.as_str());
    assert_eq!(m["id"]["remote"], lid.as_str());
    assert_eq!(m["id"]["_serialized"], sent["lid_key"]);
    assert_eq!(m["to"], page.ok("WPP.conn.getMyUserLid()").await);
    let entry = page.ok(&format!("WPP.contact.getPnLidEntry('{lid}')")).await;
    assert_eq!(entry["lid"]["_serialized"], lid.as_str());
    assert!(entry.get("phoneNumber").is_none(), "{entry}");
    ctl.post(&format!("/numbers/{dan}"), json!({"pn_visible": true})).await;
    let entry = page.ok(&format!("WPP.contact.getPnLidEntry('{lid}')")).await;
    assert_eq!(entry["phoneNumber"]["_serialized"], format!("{dan}@c.us"));
    // Replying goes to the LID chat; a send by phone number resolves to it too.
    let chat = page.ok(&format!("WPP.chat.find('{dan}@c.us').then(c => c.id)")).await;
    assert_eq!(chat, lid.as_str());
    let r = page
        .ok(&format!("WPP.chat.sendTextMessage('{dan}@c.us', 'back', {{markIsRead: false}})"))
        .await;
    assert!(r["id"].as_str().unwrap().starts_with(&format!("true_{lid}_3EB0")), "{r}");
    assert_eq!(r["to"], lid.as_str());
    let phone = ctl.get(&format!("/accounts/{dan}/messages")).await;
    assert_eq!(phone["received"][0]["body"], "back");
    // generateMessageID does not map a phone chat to its LID chat (wa-js): resolve first.
    let err = page
        .call(&format!("WPP.chat.generateMessageID('{dan}@c.us').then(k => WPP.chat.sendTextMessage('{dan}@c.us', 'x', {{messageId: k}}))"))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "message_key_remote_id_is_not_same_of_chat");

    // In groups too: a lid-addressed member is named by its LID.
    let mark = page.mark();
    let g2 = ctl.post("/groups", json!({"owner": dan, "subject": "Lids", "members": [me]})).await;
    let gid2 = g2["id"].as_str().unwrap().to_string();
    let (_, ch) = page.wait_event_from("group.participant_changed", mark, T).await;
    assert_eq!(ch[0]["author"], lid.as_str());
    assert_eq!(ch[0]["participants"], json!([format!("{me}@c.us")]));
    let parts =
        page.ok(&format!("WPP.group.getParticipants('{gid2}').then(l => l.map(p => p.id))")).await;
    assert!(parts.as_array().unwrap().contains(&json!(lid)), "{parts}");
    let mark = page.mark();
    ctl.send_text_json(dan, &gid2, "lid in group").await;
    let m = next_msg(&page, mark).await;
    assert_eq!(m["author"], lid.as_str());
    assert_eq!(m["id"]["participant"], lid.as_str());

    // Presence from a phone.
    let mark = page.mark();
    ctl.post("/presence", json!({"from": dan, "to": me, "state": "recording"})).await;
    let (_, p) = page.wait_event_from("chat.presence_change", mark, T).await;
    assert_eq!(p[0]["id"], lid.as_str());
    assert_eq!(p[0]["state"], "recording");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_drives_every_new_control_route() {
    let sim = start_sim(SimConfig::fast());
    let c = wa_sim::Control::for_server(&sim).unwrap();
    let n = c
        .set_number("15550015001", json!({"lid_addressing": true, "pn_visible": false}))
        .await
        .unwrap();
    assert_eq!(
        (n["lid_addressed"].as_bool(), n["pn_visible"].as_bool()),
        (Some(true), Some(false))
    );
    let g = c.group_create("15550015001", "T", &["15550015002"]).await.unwrap();
    let gid = g["id"].as_str().unwrap();
    let g = c.group_change(gid, "promote", &["15550015002"], None).await.unwrap();
    assert_eq!(g["admins"], json!(["15550015001", "15550015002"]));
    let call = c.call("15550015001", "15550015002", false).await.unwrap();
    let id = call["id"].as_str().unwrap();
    assert_eq!(call["state"], "ringing");
    assert_eq!(c.end_call(id).await.unwrap()["state"], "ended");
    assert_eq!(c.calls().await.unwrap().as_array().unwrap().len(), 1);
    assert_eq!(c.ban(&wa_sim::Target::all(), Some(60)).await.unwrap()["pages"], json!([]));
    assert_eq!(c.presence_log("15550015001").await.unwrap()["sent"], json!([]));
    let ph = c.incoming(json!({"from": "15550015001", "to": "15550015002", "type": "text", "text": "x", "placeholder": true})).await.unwrap();
    assert_eq!(c.decrypt(ph["id"].as_str().unwrap()).await.unwrap()["type"], "chat");
    match c.decrypt(ph["id"].as_str().unwrap()).await {
        Err(wa_sim::ControlError::Api { status: 404, code, .. }) => {
            assert_eq!(code, "PLACEHOLDER_NOT_FOUND")
        }
        other => panic!("{other:?}"),
    }
    match c.media_gone(ph["id"].as_str().unwrap(), true).await {
        Err(wa_sim::ControlError::Api { status: 404, code, .. }) => {
            assert_eq!(code, "MEDIA_NOT_FOUND")
        }
        other => panic!("{other:?}"),
    }
    let (status, body) = Ctl::new(&sim)
        .post_status(
            &format!("/groups/{gid}/participants"),
            json!({"action": "explode", "participants": []}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BAD_REQUEST")));
}
