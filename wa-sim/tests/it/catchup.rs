//! Catch-up: what arrives while a page is offline or closed is in its chats afterwards, never
//! replayed as `chat.new_message` (WhatsApp Web's offline delivery, wa-js issue 730).

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use wa_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_while_offline_or_closed_are_in_the_chats_not_replayed_as_live_events() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let me = "15550009000";
    let bob = "15550009001";
    let chat = format!("{bob}@c.us");
    let page = linked_page(&chrome, &sim, &ctl, me).await;
    let device = ctl.get("/devices").await[0]["id"].as_str().unwrap().to_string();

    // One live message first, and one of ours the phone will ack while we are away.
    let mark = page.mark();
    let first = ctl.send_text_json(bob, me, "live one").await;
    page.wait_event_from("chat.new_message", mark, T).await;
    let ours = page
        .ok(&format!("WPP.chat.sendTextMessage('{chat}', 'mine', {{markIsRead: false}})"))
        .await;
    let ours_id = ours["id"].as_str().unwrap().to_string();

    let mark = page.mark();
    ctl.post("/offline", json!({"device": device})).await;
    page.wait_event_from("conn.online", mark, T).await;
    let mut keys = Vec::new();
    for i in 0..5 {
        let sent = ctl.send_text_json(bob, me, &format!("away {i}")).await;
        keys.push(sent["key"].as_str().unwrap().to_string());
    }
    // The account's own phone writes too (fromMe, not sent by this page).
    let from_phone = ctl.send_text_json(me, bob, "from my phone").await;
    ctl.post(&format!("/messages/{ours_id}/ack"), json!({"ack": 3})).await;
    ctl.post("/presence", json!({"from": bob, "to": me, "state": "composing"})).await;
    let mark = page.mark();
    ctl.post("/online", json!({"device": device})).await;
    let (_, ack) = page.wait_event_from("chat.msg_ack_change", mark, T).await;
    assert_eq!(ack[0]["ack"], 3, "a receipt that came meanwhile is still an event");
    assert_eq!(ack[0]["ids"][0]["_serialized"], ours_id.as_str());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let names = page.names_since(mark);
    assert!(!names.contains(&"chat.new_message".to_string()), "{names:?}");
    assert!(!names.contains(&"chat.presence_change".to_string()), "{names:?}");

    // The chat shows them: unread count, time, messages in order, each found by id.
    let c = page
        .ok(&format!("WPP.chat.list().then(l => l.find(c => c.id._serialized === '{chat}'))"))
        .await;
    assert_eq!(c["unreadCount"], 6, "the live one and five caught up: {c}");
    let last_t =
        ctl.get(&format!("/messages/{}", from_phone["id"].as_str().unwrap())).await["t"].clone();
    assert_eq!(c["t"], last_t);
    let bodies = |v: Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_string()).collect()
    };
    let got = page.ok(&format!("WPP.chat.getMessages('{chat}', {{count: 5}})")).await;
    assert_eq!(bodies(got.clone()), ["away 0", "away 1", "away 2", "away 3", "away 4"]);
    assert!(got.as_array().unwrap().iter().all(|m| m["isNewMsg"] == false));
    // As wa-js: without `id` the anchor is the last *received* message, so our own later
    // message needs an anchor to be read.
    let got = page
        .ok(&format!("WPP.chat.getMessages('{chat}', {{direction: 'after', id: '{}'}})", keys[4]))
        .await;
    assert_eq!(bodies(got.clone()), ["from my phone"]);
    assert_eq!(got[0]["id"]["fromMe"], true);
    let got = page
        .ok(&format!(
            "WPP.chat.getMessages('{chat}', {{count: 2, direction: 'after', id: '{}'}})",
            keys[1]
        ))
        .await;
    assert_eq!(bodies(got), ["away 2", "away 3"]);
    let got = page
        .ok(&format!(
            "WPP.chat.getMessages('{chat}', {{count: 2, direction: 'before', id: '{}'}})",
            keys[0]
        ))
        .await;
    assert_eq!(bodies(got), ["live one", "mine"]);
    let one = page.ok(&format!("WPP.chat.getMessageById('{}')", keys[3])).await;
    assert_eq!(one["body"], "away 3");
    assert_eq!(one["id"]["_serialized"], keys[3].as_str());
    let _ = first;

    // Closed: no page at all while three more arrive; the same profile opens again.
    drop(page);
    chrome.close().await;
    for i in 0..3 {
        ctl.send_text_json(bob, me, &format!("closed {i}")).await;
    }
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.main_loaded").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let names = page.names();
    assert!(!names.contains(&"chat.new_message".to_string()), "{names:?}");
    assert!(!names.contains(&"chat.msg_ack_change".to_string()), "{names:?}");
    let got = page.ok(&format!("WPP.chat.getMessages('{chat}', {{count: 3}})")).await;
    assert_eq!(bodies(got), ["closed 0", "closed 1", "closed 2"]);
    // Our own message is still there after the reload, with the ack the server has.
    let mine = page.ok(&format!("WPP.chat.getMessageById('{ours_id}')")).await;
    assert_eq!((mine["body"].as_str(), mine["ack"].as_i64()), (Some("mine"), Some(3)));
    // A live message after that is live again.
    let mark = page.mark();
    ctl.send_text_json(bob, me, "live again").await;
    let (_, m) = page.wait_event_from("chat.new_message", mark, T).await;
    assert_eq!(m[0]["body"], "live again");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_and_votes_while_closed_are_no_events_but_in_get_reactions_and_get_votes() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let me = "15550009100";
    let bob = "15550009101";
    let page = linked_page(&chrome, &sim, &ctl, me).await;
    let mark = page.mark();
    let note = ctl.send_text_json(bob, me, "react to me").await;
    let poll = ctl.post("/messages", json!({"from": bob, "to": me, "type": "poll", "poll": {"name": "When?", "options": ["Mon", "Tue"], "selectable_count": 1}})).await;
    let deadline = std::time::Instant::now() + T;
    while page.all("chat.new_message", mark).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "both messages live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let react = |id: &Value, text: &str| json!({"from": bob, "to": me, "type": "reaction", "reaction": {"message_id": id, "text": text}});

    drop(page);
    chrome.close().await;
    ctl.post("/messages", react(&note["id"], "👍")).await;
    ctl.post("/messages", react(&poll["id"], "🎉")).await;
    ctl.post("/messages", react(&poll["id"], "")).await;
    ctl.post("/messages", json!({"from": bob, "to": me, "type": "vote", "vote": {"message_id": poll["id"], "options": ["Tue"]}})).await;
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.main_loaded").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let names = page.names();
    assert!(!names.contains(&"chat.new_reaction".to_string()), "{names:?}");
    assert!(!names.contains(&"chat.poll_response".to_string()), "{names:?}");

    // The store has them, in wa-js's shapes.
    let r = page.ok(&format!("WPP.chat.getReactions('{}')", note["key"].as_str().unwrap())).await;
    assert_eq!(r["reactions"].as_array().unwrap().len(), 1, "{r}");
    let g = &r["reactions"][0];
    assert_eq!(
        (g["aggregateEmoji"].as_str(), g["hasReactionByMe"].as_bool()),
        (Some("👍"), Some(false))
    );
    let s = &g["senders"][0];
    assert_eq!(s["reactionText"], "👍");
    assert_eq!(s["sender"], format!("{bob}@c.us"));
    assert_eq!(s["msgId"]["_serialized"], note["key"]);
    assert!(s["timestamp"].as_u64().unwrap() > 1_700_000_000_000, "milliseconds: {s}");
    assert!(r["reactionByMe"].is_null(), "{r}");
    // A reaction taken back is gone.
    let r = page.ok(&format!("WPP.chat.getReactions('{}')", poll["key"].as_str().unwrap())).await;
    assert_eq!(r["reactions"], json!([]), "{r}");

    let v = page.ok(&format!("WPP.chat.getVotes('{}')", poll["key"].as_str().unwrap())).await;
    assert_eq!(v["msgId"]["_serialized"], poll["key"]);
    let vote = &v["votes"][0];
    let chosen: Vec<&Value> =
        vote["selectedOptions"].as_array().unwrap().iter().filter(|o| !o.is_null()).collect();
    assert_eq!(chosen.len(), 1, "{v}");
    assert_eq!(chosen[0]["name"], "Tue");
    assert_eq!(vote["sender"], format!("{bob}@c.us"));
    let err = page
        .call(&format!("WPP.chat.getVotes('{}')", note["key"].as_str().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "msg_not_found", "not a poll");
    let err =
        page.call(&format!("WPP.chat.getReactions('false_{bob}@c.us_NOPE')")).await.unwrap_err();
    assert_eq!(err["code"], "msg_not_found");
    chrome.close().await;
}
