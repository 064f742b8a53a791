//! Sending as wa-js does it: the resolved chat, caller-chosen ids and their checks, acks that
//! skip levels, failures that raise no event, typing the phone can see, read only when asked,
//! forwarding, stars, deleting for me, polls, mentions, and the ban signal.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use wa_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_chosen_ahead_are_checked_against_the_resolved_chat_and_sent_once() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550010000").await;
    let bob = "15550010001";
    let chat = format!("{bob}@c.us");

    let found = page.ok(&format!("WPP.chat.find('{bob}').then(c => c.id)")).await;
    assert_eq!(found, chat.as_str());
    let key = page.ok(&format!("WPP.chat.generateMessageID('{chat}')")).await;
    assert_eq!(key["fromMe"], true);
    assert_eq!(key["remote"], chat.as_str());
    let key = key["_serialized"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("true_{chat}_3EB0")), "{key}");

    // wa-js's checks on `messageId`.
    let other = page.ok("WPP.chat.generateMessageID('15550010002@c.us')").await;
    let err = page
        .call(&format!(
            "WPP.chat.sendTextMessage('{chat}', 'x', {{messageId: '{}'}})",
            other["_serialized"].as_str().unwrap()
        ))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "message_key_remote_id_is_not_same_of_chat");
    let err = page
        .call(&format!(
            "WPP.chat.sendTextMessage('{chat}', 'x', {{messageId: 'false_{chat}_ABCDEF'}})"
        ))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "message_key_is_not_from_me");

    // The same id twice (waitForAck false, as a sidecar sends): one message on the phone.
    let mark = page.mark();
    for round in 0..2 {
        let r = page
            .ok(&format!(
                "WPP.chat.sendTextMessage('{chat}', 'once', {{messageId: '{key}', waitForAck: false, markIsRead: false}})"
            ))
            .await;
        assert_eq!(r["id"], key.as_str());
        assert_eq!(r["sendMsgResult"], Value::Null);
        assert_eq!(r["to"], chat.as_str());
        if round == 0 {
            assert_eq!(r["ack"], 0);
            page.wait_event_from("chat.msg_ack_change", mark, T).await;
        }
    }
    let phone = ctl.get(&format!("/accounts/{bob}/messages")).await;
    assert_eq!(phone["received"].as_array().unwrap().len(), 1);
    let got = page.ok(&format!("WPP.chat.getMessageById('{key}')")).await;
    assert_eq!((got["ack"].as_i64(), got["body"].as_str()), (Some(1), Some("once")));

    // Acks can skip a level: read (3) without delivered (2).
    let mark = page.mark();
    ctl.post(&format!("/messages/{key}/ack"), json!({"ack": 3})).await;
    let (_, ack) = page.wait_event_from("chat.msg_ack_change", mark, T).await;
    assert_eq!(ack[0]["ack"], 3);
    assert_eq!(page.all("chat.msg_ack_change", mark).len(), 1);

    // A group key carries our LID as participant.
    let g = ctl
        .post(
            "/groups",
            json!({"owner": bob, "subject": "G", "members": ["15550010000", "15550010003"]}),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    page.until(&format!("!!WPP.chat.get('{gid}')"), T).await;
    let lid = page.ok("WPP.conn.getMyUserLid()").await;
    let gkey = page.ok(&format!("WPP.chat.generateMessageID('{gid}')")).await;
    assert_eq!(gkey["participant"], lid);
    let sent = page
        .ok(&format!(
            "WPP.chat.sendTextMessage('{gid}', 'in group', {{messageId: '{}'}})",
            gkey["_serialized"].as_str().unwrap()
        ))
        .await;
    assert_eq!(sent["id"], gkey["_serialized"]);
    assert_eq!(sent["from"], lid);

    // Group receipts come per participant (`sender`); the message's ack is everyone's lowest.
    let gid_raw = gkey["id"].as_str().unwrap();
    let mark = page.mark();
    ctl.post(&format!("/messages/{gid_raw}/ack"), json!({"ack": 3, "from": bob})).await;
    let receipt = |mark: usize| {
        page.all("chat.msg_ack_change", mark)
            .into_iter()
            .map(|(a, _)| a)
            .find(|a| a[0]["sender"].is_string())
    };
    let deadline = std::time::Instant::now() + T;
    let r = loop {
        if let Some(r) = receipt(mark) {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no receipt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r[0]["ack"], 3);
    assert_eq!(r[0]["sender"], chat.as_str());
    assert_eq!(r[0]["chat"], gid.as_str());
    assert_eq!(
        r[0]["ids"][0]["_serialized"],
        format!("true_{gid}_{}_{chat}", gkey["id"].as_str().unwrap())
    );
    let ack_of = format!(
        "WPP.chat.getMessageById('{}').then(m => m.ack)",
        gkey["_serialized"].as_str().unwrap()
    );
    assert_eq!(page.ok(&ack_of).await, 1, "one of two has read it");
    let mark = page.mark();
    let m = ctl
        .post(&format!("/messages/{gid_raw}/ack"), json!({"ack": 3, "from": "15550010003"}))
        .await;
    assert_eq!(m["receipts"], json!({bob: 3, "15550010003": 3}));
    page.until(&format!("{ack_of}.then(a => a === 3)"), T).await;
    // The page's model can show the ack before the test has read the event that carried it.
    let deadline = std::time::Instant::now() + T;
    while receipt(mark).is_none() {
        assert!(std::time::Instant::now() < deadline, "no receipt from the second member");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = ctl
        .post_status(&format!("/messages/{gid_raw}/ack"), json!({"ack": 3, "from": "15550010009"}))
        .await;
    assert_eq!(status, 404, "not a member");

    // Not on WhatsApp: find and send refuse, nothing reaches anyone.
    ctl.post("/numbers/15550010009", json!({"exists": false})).await;
    let err = page.call("WPP.chat.find('15550010009@c.us')").await.unwrap_err();
    assert_eq!(err["code"], "wid_not_found");
    assert_eq!(page.ok("WPP.contact.queryExists('15550010009')").await, Value::Null);
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_unacknowledged_sends_raise_no_event_and_the_server_keeps_the_truth() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = linked_page(&chrome, &sim, &ctl, "15550011000").await;
    let chat = "15550011001@c.us";

    ctl.post("/faults", json!({"send_failure": "ERROR_UNKNOWN"})).await;
    let mark = page.mark();
    let r = page.ok(&format!("WPP.chat.sendTextMessage('{chat}', 'refused')")).await;
    assert_eq!(r["ack"], -1);
    assert_eq!(r["sendMsgResult"]["messageSendResult"], "ERROR_UNKNOWN");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(page.all("chat.msg_ack_change", mark).is_empty());
    let got = page.ok(&format!("WPP.chat.getMessageById('{}')", r["id"].as_str().unwrap())).await;
    assert_eq!(got["ack"], -1);
    assert!(ctl.get("/accounts/15550011001/messages").await["received"]
        .as_array()
        .unwrap()
        .is_empty());

    // Delivered, but the server's ack never reaches the page.
    ctl.post("/faults", json!({"send_failure": null, "send_unacked": true})).await;
    let mark = page.mark();
    let r = page
        .ok(&format!("WPP.chat.sendTextMessage('{chat}', 'lost ack', {{waitForAck: false}})"))
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(page.all("chat.msg_ack_change", mark).is_empty());
    assert_eq!(page.ok(&format!("WPP.chat.getMessageById('{id}').then(m => m.ack)")).await, 0);
    let phone = ctl.get("/accounts/15550011001/messages").await;
    assert_eq!(phone["received"][0]["body"], "lost ack");
    ctl.post("/faults", json!({"send_unacked": false})).await;
    // The page reconnects (same load): WhatsApp Web resends what is pending and hears the ack.
    let device = ctl.get("/devices").await[0]["id"].as_str().unwrap().to_string();
    let mark = page.mark();
    ctl.post("/offline", json!({"device": device})).await;
    page.wait_event_from("conn.online", mark, T).await;
    ctl.post("/online", json!({"device": device})).await;
    let (_, ack) = page.wait_event_from("chat.msg_ack_change", mark, T).await;
    assert_eq!(
        (ack[0]["ack"].as_i64(), ack[0]["ids"][0]["_serialized"].as_str()),
        (Some(1), Some(id.as_str()))
    );
    // A second unacked send, then a reload: the history shows what the server has.
    ctl.post("/faults", json!({"send_unacked": true})).await;
    let r = page
        .ok(&format!("WPP.chat.sendTextMessage('{chat}', 'lost again', {{waitForAck: false}})"))
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    ctl.post("/faults", json!({"send_unacked": false})).await;
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.main_loaded", mark, T).await;
    assert_eq!(page.ok(&format!("WPP.chat.getMessageById('{id}').then(m => m.ack)")).await, 1);
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_read_receipts_forwards_stars_deletes_polls_mentions_and_the_ban_signal() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let me = "15550012000";
    let bob = "15550012001";
    let chat = format!("{bob}@c.us");
    let page = linked_page(&chrome, &sim, &ctl, me).await;

    // markIsComposing needs the chat (wa-js's assertGetChat); find creates it.
    let err = page.call(&format!("WPP.chat.markIsComposing('{chat}')")).await.unwrap_err();
    assert_eq!(err["code"], "chat_not_found");
    page.ok(&format!("WPP.chat.find('{chat}')")).await;
    page.ok(&format!("WPP.chat.markIsComposing('{chat}', 200)")).await;
    page.ok(&format!("WPP.chat.markIsRecording('{chat}')")).await;
    page.ok(&format!("WPP.chat.markIsPaused('{chat}')")).await;
    page.ok(&format!("WPP.chat.sendTextMessage('{chat}', 'typed first', {{markIsRead: false}})"))
        .await;
    let log = ctl.get(&format!("/accounts/{bob}/presence")).await;
    let states: Vec<&str> =
        log["received"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["composing", "paused", "recording", "paused"]);
    let typed_at = log["received"][0]["at_ms"].as_u64().unwrap();
    let paused_at = log["received"][1]["at_ms"].as_u64().unwrap();
    assert!(paused_at >= typed_at + 200, "{typed_at} {paused_at}");
    let msg = &ctl.get(&format!("/accounts/{bob}/messages")).await["received"][0];
    assert!(msg["at_ms"].as_u64().unwrap() >= paused_at);

    // Nothing marks Bob's message read unless asked; the default send option does.
    let inc = ctl.send_text_json(bob, me, "read me?").await;
    let id = inc["id"].as_str().unwrap().to_string();
    page.until(&format!("WPP.chat.get('{chat}').unreadCount === 1"), T).await;
    page.ok(&format!("WPP.chat.sendTextMessage('{chat}', 'no read', {{markIsRead: false}})")).await;
    assert!(ctl.get(&format!("/messages/{id}")).await["ack"].as_i64().unwrap() < 3);
    page.ok(&format!("WPP.chat.sendTextMessage('{chat}', 'default reads')")).await;
    assert_eq!(ctl.get(&format!("/messages/{id}")).await["ack"], 3);

    // Reply with a mention, a poll, a reaction, an edit.
    let key = inc["key"].as_str().unwrap().to_string();
    let r = page
        .ok(&format!(
            "WPP.chat.sendTextMessage('{chat}', 'hey @{bob}', {{quotedMsg: '{key}', mentionedList: ['{chat}'], markIsRead: false}})"
        ))
        .await;
    let phone = ctl.get(&format!("/accounts/{bob}/messages")).await;
    let last = phone["received"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["quotedStanzaID"], id.as_str());
    assert_eq!(last["mentionedJidList"], json!([chat]));
    let poll = page
        .ok(&format!(
            "WPP.chat.sendCreatePollMessage('{chat}', 'Lunch?', ['Pizza', 'Sushi', 'Soup'], {{selectableCount: 1, markIsRead: false}})"
        ))
        .await;
    let p = ctl.get(&format!("/messages/{}", poll["id"].as_str().unwrap())).await;
    assert_eq!(p["pollSelectableOptionsCount"], 1);
    assert_eq!(p["pollOptions"][2], json!({"name": "Soup", "localId": 2}));
    let mine = r["id"].as_str().unwrap().to_string();
    let edited = page.ok(&format!("WPP.chat.editMessage('{mine}', 'hey (edited)')")).await;
    assert_eq!(edited["id"], mine.as_str());
    assert!(edited["latestEditMsgKey"]["_serialized"].is_string());
    assert_eq!(ctl.get(&format!("/messages/{mine}")).await["body"], "hey (edited)");

    // Forward (media keeps its bytes), star (answers the previous state), delete for me.
    let img = ctl.post("/messages", json!({"from": bob, "to": me, "type": "image", "media": {"data": "iVBORw0KGgo=", "mimetype": "image/png", "caption": "c"}})).await;
    let img_key = img["key"].as_str().unwrap().to_string();
    page.until(&format!("WPP.chat.getMessageById('{img_key}').then(() => true, () => false)"), T)
        .await;
    let fwd = page
        .ok(&format!("WPP.chat.forwardMessages('15550012002@c.us', ['{img_key}', '{mine}'])"))
        .await;
    assert_eq!(fwd.as_array().unwrap().len(), 2);
    let carol = ctl.get("/accounts/15550012002/messages").await;
    assert_eq!(carol["received"][0]["type"], "image");
    assert_eq!(carol["received"][0]["isForwarded"], true);
    assert_eq!(carol["received"][1]["body"], "hey (edited)");
    let fwd_raw = carol["received"][0]["id"].as_str().unwrap();
    let bytes = reqwest::get(format!("{}/media/{fwd_raw}", sim.control_url())).await.unwrap();
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), b"\x89PNG\r\n\x1a\n");
    let star = page.ok(&format!("WPP.chat.starMessage('{img_key}')")).await;
    assert_eq!(star, json!({"id": img_key, "star": false}));
    let star = page.ok(&format!("WPP.chat.starMessage(['{img_key}'], false)")).await;
    assert_eq!(star, json!([{"id": img_key, "star": true}]));
    page.ok(&format!("WPP.chat.starMessage('{mine}')")).await;
    let del = page.ok(&format!("WPP.chat.deleteMessage('{chat}', '{key}')")).await;
    assert_eq!(del["isDeleted"], true);
    assert_eq!(del["isRevoked"], false);
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("conn.main_loaded", mark, T).await;
    let err = page
        .call(&format!(
            "WPP.chat.getMessages('{chat}', {{count: -1}}).then(l => l.map(m => m.id._serialized))"
        ))
        .await
        .unwrap();
    assert!(!err.as_array().unwrap().contains(&json!(key)), "deleted for me stays deleted");
    assert_eq!(
        page.ok(&format!("WPP.chat.getMessageById('{mine}').then(m => m.star)")).await,
        true
    );

    // The ban signal: WhatsApp's backend event, as wa-js re-emits it.
    let mark = page.mark();
    ctl.post("/ban", json!({"phone": me, "expires_in_s": 3600})).await;
    let (_, ev) = page.wait_event_from("conn.backend_event", mark, T).await;
    assert_eq!(ev[0], "account_temporarily_banned");
    assert!(ev[1]["expiration"].as_u64().unwrap() > 0);
    chrome.close().await;
}
