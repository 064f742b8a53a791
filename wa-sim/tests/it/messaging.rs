//! Sending (every send function's return shape), receiving, acks, two accounts, faults.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use wa_sim::SimConfig;

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_send_function_returns_the_documented_shape_and_reaches_the_phone() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550005000").await;
    let to = "15550005001@c.us";

    let mark = page.mark();
    let text = page.ok(&format!("WPP.chat.sendTextMessage('{to}', 'hello @15550005001')")).await;
    assert_eq!(keys(&text), ["ack", "from", "id", "sendMsgResult", "to"]);
    let id = text["id"].as_str().unwrap().to_string();
    assert!(id.starts_with(&format!("true_{to}_3EB0")), "{id}");
    assert_eq!(text["ack"], 1);
    assert_eq!(text["from"], "15550005000@c.us");
    assert_eq!(text["to"], to);
    assert_eq!(text["sendMsgResult"]["messageSendResult"], "OK");
    assert!(text["sendMsgResult"]["t"].is_u64());
    // Our own message is echoed on chat.new_message (ack 0), then acked by the server.
    let (_, echo) = page.wait_event_from("chat.new_message", mark, T).await;
    assert_eq!(echo[0]["id"]["_serialized"], id.as_str());
    assert_eq!(echo[0]["id"]["fromMe"], true);
    assert_eq!(echo[0]["ack"], 0);
    let (_, ack) = page.wait_event_from("chat.msg_ack_change", mark, T).await;
    assert_eq!(ack[0]["ack"], 1);
    assert_eq!(ack[0]["chat"], to);
    assert_eq!(ack[0]["ids"][0]["_serialized"], id.as_str());

    let file = page.ok(&format!("WPP.chat.sendFileMessage('{to}', 'data:image/png;base64,{PNG}', {{caption: 'pic', filename: 'dot.png'}})")).await;
    assert_eq!(keys(&file), ["ack", "id", "sendMsgResult"]);
    let loc = page.ok(&format!("WPP.chat.sendLocationMessage('{to}', {{lat: '52.37', lng: 4.89, name: 'Dam', address: 'Amsterdam'}})")).await;
    assert_eq!(keys(&loc), ["ack", "from", "id", "sendMsgResult", "to"]);
    let card = page
        .ok(&format!(
            "WPP.chat.sendVCardContactMessage('{to}', {{id: '15550005002@c.us', name: 'Carol'}})"
        ))
        .await;
    assert_eq!(keys(&card), ["ack", "from", "id", "sendMsgResult", "to"]);
    let poll = page.ok(&format!("WPP.chat.sendCreatePollMessage('{to}', 'Lunch?', ['pizza', 'sushi'], {{selectableCount: 1}})")).await;
    assert_eq!(poll["sendMsgResult"]["messageSendResult"], "OK");
    let react = page.ok(&format!("WPP.chat.sendReactionToMessage('{id}', '👍')")).await;
    assert_eq!(react, json!({"sendMsgResult": "OK"}));
    let edit = page.ok(&format!("WPP.chat.editMessage('{id}', 'hello, edited')")).await;
    assert_eq!(edit["id"], id.as_str());
    assert!(edit["latestEditMsgKey"]["_serialized"].is_string());

    // What arrived on the phone.
    let phone = ctl.get("/accounts/15550005001/messages").await;
    let got = phone["received"].as_array().unwrap();
    let kinds: Vec<&str> = got.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["chat", "image", "location", "vcard", "poll_creation"]);
    assert_eq!(got[0]["body"], "hello, edited");
    assert_eq!(got[0]["key"], format!("false_15550005000@c.us_{}", id.rsplit('_').next().unwrap()));
    assert_eq!(got[1]["mimetype"], "image/png");
    assert_eq!(got[1]["caption"], "pic");
    assert_eq!(got[2]["lat"], 52.37);
    assert!(got[3]["body"].as_str().unwrap().contains("waid=15550005002"));
    assert_eq!(got[4]["pollName"], "Lunch?");
    let media_id = file["id"].as_str().unwrap().rsplit('_').next().unwrap().to_string();
    let bytes = reqwest::get(format!("{}/media/{media_id}", sim.control_url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    use base64::Engine;
    assert_eq!(
        bytes.as_ref(),
        base64::engine::general_purpose::STANDARD.decode(PNG).unwrap().as_slice()
    );

    // Revoke for everyone.
    let del = page.ok(&format!("WPP.chat.deleteMessage('{to}', '{id}', false, true)")).await;
    assert_eq!(
        del,
        json!({"id": id, "sendMsgResult": "OK", "isRevoked": true, "isDeleted": false, "isSentByMe": true})
    );
    let phone = ctl.get("/accounts/15550005001/messages").await;
    assert_eq!(phone["received"][0]["type"], "revoked");

    // A caller-chosen id makes a retry idempotent.
    let key = page.ok(&format!("WPP.chat.generateMessageID('{to}')")).await;
    let key = key["_serialized"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let r = page
            .ok(&format!("WPP.chat.sendTextMessage('{to}', 'once', {{messageId: '{key}'}})"))
            .await;
        assert_eq!(r["id"], key.as_str());
    }
    let phone = ctl.get("/accounts/15550005001/messages").await;
    assert_eq!(
        phone["received"].as_array().unwrap().iter().filter(|m| m["body"] == "once").count(),
        1
    );

    // Reading, listing, looking up.
    let msgs = page.ok(&format!("WPP.chat.getMessages('{to}', {{count: 3}})")).await;
    assert_eq!(msgs.as_array().unwrap().len(), 3);
    let one =
        page.ok(&format!("WPP.chat.getMessageById('{}')", file["id"].as_str().unwrap())).await;
    assert_eq!(one["type"], "image");
    let missing =
        page.call(&format!("WPP.chat.getMessageById('true_{to}_NOPE')")).await.unwrap_err();
    assert_eq!(missing["code"], "msg_not_found");
    let chats = page.ok("WPP.chat.list()").await;
    assert_eq!(chats[0]["id"], to);
    let exists = page.ok("WPP.contact.queryWidExists('15550005001')").await;
    assert_eq!(exists["wid"], to);
    assert!(exists["lid"].as_str().unwrap().ends_with("@lid"));
    let entry = page.ok("WPP.contact.getPnLidEntry('15550005001@c.us')").await;
    assert_eq!(entry["phoneNumber"]["_serialized"], to);

    let contacts = page.ok("WPP.contact.list().then(l => l.map(c => c.id))").await;
    assert!(contacts.as_array().unwrap().contains(&json!(to)), "{contacts}");
    let pic = page.ok(&format!("WPP.contact.getProfilePictureUrl('{to}')")).await;
    assert!(pic.as_str().unwrap().ends_with("/_sim/avatar/15550005001.svg"), "{pic}");
    let found = page
        .ok("WPP.chat.find('15550005003').then(c => ({id: c.id, unread: c.unreadCount}))")
        .await;
    assert_eq!(found, json!({"id": "15550005003@c.us", "unread": 0}));

    // A number that is not on WhatsApp.
    ctl.post("/numbers/15550005009", json!({"exists": false})).await;
    assert_eq!(page.ok("WPP.contact.queryWidExists('15550005009')").await, Value::Null);
    let err = page.call("WPP.chat.sendTextMessage('15550005009@c.us', 'x')").await.unwrap_err();
    assert_eq!(err["code"], "wid_not_found");
    let big = page.call(&format!("WPP.chat.sendFileMessage('{to}', 'data:application/pdf;base64,' + 'A'.repeat(24 * 1024 * 1024))")).await.unwrap_err();
    assert_eq!(big["code"], "file_too_large");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_faults_fail_with_a_code_or_never_settle_and_unknown_calls_throw() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550006000").await;
    let to = "15550006001@c.us";

    ctl.post("/faults", json!({"send_error": "ERROR_NETWORK"})).await;
    let err = page.call(&format!("WPP.chat.sendTextMessage('{to}', 'x')")).await.unwrap_err();
    assert_eq!(err["code"], "ERROR_NETWORK");
    assert_eq!(err["name"], "WPPError");

    ctl.post("/faults", json!({"send_error": null, "send_hang": true})).await;
    let raced = page.ok(&format!("Promise.race([WPP.chat.sendTextMessage('{to}', 'y'), new Promise(r => setTimeout(() => r('pending'), 700))])")).await;
    assert_eq!(raced, "pending", "the send never settles");
    let nowait =
        page.ok(&format!("WPP.chat.sendTextMessage('{to}', 'z', {{waitForAck: false}})")).await;
    assert_eq!(nowait["sendMsgResult"], Value::Null);
    assert_eq!(nowait["ack"], 0);
    // Give the server time to (not) answer, then look: still the clock ack.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ack = page
        .ok(&format!(
            "WPP.chat.getMessageById('{}').then(m => m.ack)",
            nowait["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ack, 0);
    ctl.post("/faults", json!({"send_hang": false})).await;
    assert!(ctl.get("/accounts/15550006001/messages").await["received"]
        .as_array()
        .unwrap()
        .is_empty());
    let ok = page.ok(&format!("WPP.chat.sendTextMessage('{to}', 'fine')")).await;
    assert_eq!(ok["ack"], 1);

    // Calls outside the contract throw, loudly.
    let err = page.call("WPP.chat.sendButtonsMessage('x')").await.unwrap_err();
    assert_eq!(err["code"], "wa_sim_not_implemented");
    assert!(err["message"].as_str().unwrap().contains("WPP.chat.sendButtonsMessage"));
    assert_eq!(
        page.call("WPP.whatsapp.Socket").await.unwrap_err()["code"],
        "wa_sim_not_implemented"
    );
    assert_eq!(page.call("WPP.webpack").await.unwrap_err()["code"], "wa_sim_not_implemented");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_of_every_kind_and_the_ack_progression() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550007000").await;
    let me = "15550007000";
    let from = "15550007001";

    let mark = page.mark();
    let sent = ctl
        .post(
            "/messages",
            json!({"from": from, "to": me, "type": "text", "text": "hi there", "pushname": "Bob"}),
        )
        .await;
    let (_, m) = page.wait_event_from("chat.new_message", mark, T).await;
    let m = &m[0];
    assert_eq!(m["id"]["fromMe"], false);
    assert_eq!(m["id"]["_serialized"], sent["key"]);
    assert_eq!(m["from"], format!("{from}@c.us"));
    assert_eq!(m["to"], format!("{me}@c.us"));
    assert_eq!(m["body"], "hi there");
    assert_eq!(m["type"], "chat");
    assert_eq!(m["notifyName"], "Bob");
    assert!(page.all("chat.new_chat", mark).len() == 1);

    // Media with real bytes, downloaded in the page.
    let mark = page.mark();
    let img = ctl.post("/messages", json!({"from": from, "to": me, "type": "image", "media": {"data": PNG, "mimetype": "image/png", "caption": "dot"}})).await;
    let (_, m) = page.wait_event_from("chat.new_message", mark, T).await;
    assert_eq!(m[0]["type"], "image");
    assert_eq!(m[0]["mimetype"], "image/png");
    assert_eq!(m[0]["caption"], "dot");
    let data = page
        .ok(&format!(
            "WPP.chat.downloadMedia('{}').then(WPP.util.blobToBase64)",
            img["key"].as_str().unwrap()
        ))
        .await;
    assert_eq!(data, format!("data:image/png;base64,{PNG}"));
    let nomedia = page
        .call(&format!("WPP.chat.downloadMedia('{}')", sent["key"].as_str().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(nomedia["code"], "message_not_contains_media");

    // Location, contact, reply, reaction, edit, revoke, presence.
    let mark = page.mark();
    ctl.post("/messages", json!({"from": from, "to": me, "type": "location", "location": {"lat": 1.5, "lng": 2.5, "name": "Here"}})).await;
    ctl.post("/messages", json!({"from": from, "to": me, "type": "contact", "contact": {"name": "Dan", "phone": "15550007002"}})).await;
    ctl.post(
        "/messages",
        json!({"from": from, "to": me, "type": "text", "text": "re", "quoted_id": sent["id"]}),
    )
    .await;
    ctl.post("/messages", json!({"from": from, "to": me, "type": "reaction", "reaction": {"message_id": sent["id"], "text": "❤"}})).await;
    ctl.post(
        &format!("/messages/{}/edit", sent["id"].as_str().unwrap()),
        json!({"text": "hi there (edited)"}),
    )
    .await;
    ctl.post(&format!("/messages/{}/revoke", img["id"].as_str().unwrap()), json!({})).await;
    ctl.post("/presence", json!({"from": from, "to": me, "state": "composing"})).await;
    let (_, p) = page.wait_event_from("chat.presence_change", mark, T).await;
    assert_eq!(p[0]["state"], "composing");
    assert_eq!(p[0]["id"], format!("{from}@c.us"));
    let msgs = page.all("chat.new_message", mark);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].0[0]["type"], "location");
    assert_eq!(msgs[0].0[0]["lat"], 1.5);
    assert_eq!(msgs[1].0[0]["type"], "vcard");
    assert_eq!(msgs[1].0[0]["vcardFormattedName"], "Dan");
    assert_eq!(msgs[2].0[0]["quotedMsgId"]["_serialized"], sent["key"]);
    assert_eq!(msgs[2].0[0]["quotedMsg"], json!({"type": "chat", "body": "hi there"}));
    let r = &page.all("chat.new_reaction", mark)[0].0[0];
    assert_eq!(r["reactionText"], "❤");
    assert_eq!(r["msgId"]["_serialized"], sent["key"]);
    assert_eq!(r["sender"], format!("{from}@c.us"));
    let e = &page.all("chat.msg_edited", mark)[0].0[0];
    assert_eq!(e["id"], sent["key"]);
    assert_eq!(e["chat"], format!("{me}@c.us"), "wa-js puts the message's `to` here");
    assert_eq!(e["msg"]["body"], "hi there (edited)");
    let v = &page.all("chat.msg_revoke", mark)[0].0[0];
    assert_eq!(v["refId"]["_serialized"], img["key"]);
    assert_eq!(v["type"], "sender_revoke");
    assert_eq!(v["from"], format!("{from}@c.us"));
    assert_eq!(v["to"], format!("{me}@c.us"));
    assert_eq!(v["id"]["fromMe"], false);
    assert_eq!(v["id"]["remote"], format!("{from}@c.us"));

    // Our message to a phone without a web session: server ack, then the phone drives the rest.
    let mark = page.mark();
    let out = page.ok(&format!("WPP.chat.sendTextMessage('{from}@c.us', 'ack me')")).await;
    let id = out["id"].as_str().unwrap().to_string();
    for ack in [2, 3, 4] {
        ctl.post(&format!("/messages/{id}/ack"), json!({"ack": ack})).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acks: Vec<Value> =
        page.all("chat.msg_ack_change", mark).iter().map(|(a, _)| a[0]["ack"].clone()).collect();
    assert_eq!(acks, [json!(1), json!(2), json!(3), json!(4)], "server, device, read, played");
    assert_eq!(page.all("chat.msg_ack_change", mark)[0].0[0]["ids"][0]["_serialized"], id.as_str());
    let got = page.ok(&format!("WPP.chat.getMessageById('{id}')")).await;
    assert_eq!(got["ack"], 4);
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_linked_accounts_exchange_messages_with_delivery_and_read_acks() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let (da, db) = (profile(), profile());
    let (ca, cb) = tokio::join!(Chrome::launch(da.path()), Chrome::launch(db.path()));
    let a = linked_page(&ca, &sim, &ctl, "15550008001").await;
    let b = linked_page(&cb, &sim, &ctl, "15550008002").await;

    let (ma, mb) = (a.mark(), b.mark());
    let sent = a.ok("WPP.chat.sendTextMessage('15550008002@c.us', 'hello B')").await;
    let (_, got) = b.wait_event_from("chat.new_message", mb, T).await;
    assert_eq!(got[0]["body"], "hello B");
    assert_eq!(got[0]["from"], "15550008001@c.us");
    let raw = sent["id"].as_str().unwrap().rsplit('_').next().unwrap().to_string();
    assert_eq!(got[0]["id"]["_serialized"], format!("false_15550008001@c.us_{raw}"));
    // B's device is online: delivered (2); B reads the chat: read (3).
    let deadline = std::time::Instant::now() + T;
    while !a.all("chat.msg_ack_change", ma).iter().any(|(x, _)| x[0]["ack"] == 2) {
        assert!(std::time::Instant::now() < deadline, "no delivery ack: {:?}", a.names_since(ma));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read = b.ok("WPP.chat.markIsRead('15550008001@c.us')").await;
    assert_eq!(read["unreadCount"], 1);
    let deadline = std::time::Instant::now() + T;
    while !a.all("chat.msg_ack_change", ma).iter().any(|(x, _)| x[0]["ack"] == 3) {
        assert!(std::time::Instant::now() < deadline, "no read ack: {:?}", a.names_since(ma));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let ma = a.mark();
    b.ok(&format!(
        "WPP.chat.sendTextMessage('15550008001@c.us', 'hi A', {{quotedMsg: '{}'}})",
        got[0]["id"]["_serialized"].as_str().unwrap()
    ))
    .await;
    let (_, back) = a.wait_event_from("chat.new_message", ma, T).await;
    assert_eq!(back[0]["body"], "hi A");
    assert_eq!(back[0]["quotedMsgId"]["_serialized"], sent["id"]);

    // A group: created by A with B, both see the change; a message reaches B with its author.
    let (ma, mb) = (a.mark(), b.mark());
    let g = a.ok("WPP.group.create('Team', ['15550008002@c.us'])").await;
    let gid = g["gid"].as_str().unwrap().to_string();
    assert!(gid.starts_with("120363") && gid.ends_with("@g.us"), "{gid}");
    assert_eq!(g["participants"]["15550008002@c.us"]["code"], 200);
    let (_, change) = b.wait_event_from("group.participant_changed", mb, T).await;
    assert_eq!(change[0]["groupId"], gid.as_str());
    assert_eq!(change[0]["action"], "add");
    assert_eq!(change[0]["participants"], json!(["15550008002@c.us"]));
    a.wait_event_from("group.participant_changed", ma, T).await;
    let parts = a.ok(&format!("WPP.group.getParticipants('{gid}')")).await;
    assert_eq!(parts.as_array().unwrap().len(), 2);
    let again = a.ok(&format!("WPP.group.addParticipants('{gid}', ['15550008002'])")).await;
    assert_eq!(again["15550008002@c.us"]["code"], 409);
    assert_eq!(
        a.ok(&format!("WPP.group.getInviteCode('{gid}')")).await.as_str().unwrap().len(),
        22
    );
    let mb = b.mark();
    let gs = a.ok(&format!("WPP.chat.sendTextMessage('{gid}', 'hello team')")).await;
    let (_, gm) = b.wait_event_from("chat.new_message", mb, T).await;
    assert_eq!(gm[0]["body"], "hello team");
    assert_eq!(gm[0]["from"], gid.as_str());
    assert_eq!(gm[0]["author"], "15550008001@c.us");
    let raw = gs["id"].as_str().unwrap().split('_').nth(2).unwrap().to_string();
    assert_eq!(gm[0]["id"]["_serialized"], format!("false_{gid}_{raw}_15550008001@c.us"));
    assert_eq!(b.ok("WPP.group.getAllGroups().then(g => g.length)").await, 1);
    drop((a, b));
    tokio::join!(ca.close(), cb.close());
}
