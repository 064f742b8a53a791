//! Reactions and poll votes made while the page was closed: WhatsApp Web emits no event for
//! them after it comes back, so the catch-up asks the page's store, and reports each once.

use std::time::Duration;

use serde_json::{json, Value};

use super::inbound::{more_of, next_of, phone_sends, text, OTHER};
use super::*;

async fn react(sim: &wa_sim::SimServer, target: &Value, emoji: &str) {
    react_as(sim, OTHER, target, emoji).await;
}

/// `who` reacts (the account itself when it is `PHONE`, from its phone).
async fn react_as(sim: &wa_sim::SimServer, who: &str, target: &Value, emoji: &str) {
    let to = if who == PHONE { OTHER } else { PHONE };
    phone_sends(
        sim,
        json!({"from": who, "to": to, "type": "reaction",
               "reaction": {"message_id": target["id"], "text": emoji}}),
    )
    .await;
}

/// Closes the session's page (Chromium killed while the network is down) and waits for it.
async fn close_the_page(app: &crate::helpers::TestApp, sim: &wa_sim::SimServer) {
    control(sim, "/offline", json!({"phone": PHONE})).await;
    let groups = chromium_groups_under(&app.data_dir().join("runtime"));
    assert_eq!(groups.len(), 1);
    // SAFETY: killpg on a group this test found under its own data folder.
    unsafe { libc::killpg(groups[0], libc::SIGKILL) };
    wait_state(app, "main", "disconnected", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn reactions_and_votes_made_while_the_page_was_closed_are_caught_up_once() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    let note = text(&sim, OTHER, PHONE, "react to me").await;
    let poll = phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "poll",
               "poll": {"name": "Lunch?", "options": ["yes", "no"], "selectable_count": 1}}),
    )
    .await;
    let got = next_of(&mut events, "message.received", 2, Duration::from_secs(30)).await;
    let (note_id, poll_id) = (got[0].data["id"].clone(), got[1].data["id"].clone());
    react(&sim, &note, "👍").await;
    let live = next_of(&mut events, "message.reaction", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (live[0].data["emoji"].as_str(), live[0].data["source"].as_str()),
        (Some("👍"), Some("live"))
    );
    react_as(&sim, PHONE, &note, "❤️").await;
    next_of(&mut events, "message.reaction", 1, Duration::from_secs(30)).await;

    close_the_page(&app, &sim).await;
    // While it is closed: both reactions are taken back, the poll gets a 🎉 and a vote.
    react(&sim, &note, "").await;
    react_as(&sim, PHONE, &note, "").await;
    react(&sim, &poll, "🎉").await;
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "vote",
               "vote": {"message_id": poll["id"], "options": ["no"]}}),
    )
    .await;
    control(&sim, "/online", json!({"phone": PHONE})).await;
    wait_state(&app, "main", "connected", Duration::from_secs(40)).await;

    let mut r = next_of(&mut events, "message.reaction", 3, Duration::from_secs(40)).await;
    r.sort_by_key(|e| {
        (e.data["removed"].as_bool(), e.data["from"]["pn"].as_str().map(str::to_owned))
    });
    let d: Vec<&Value> = r.iter().map(|e| &e.data).collect();
    let seen: Vec<(&Value, &str, bool, &str)> = d
        .iter()
        .map(|x| {
            let (emoji, removed) = (x["emoji"].as_str().unwrap(), x["removed"].as_bool().unwrap());
            (&x["message_id"], emoji, removed, x["from"]["pn"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        [(&poll_id, "🎉", false, OTHER), (&note_id, "", true, PHONE), (&note_id, "", true, OTHER)],
        "{d:?}"
    );
    assert!(d.iter().all(|x| x["source"] == "catchup"), "{d:?}");
    // Two reactions taken back are two events, not one.
    let ids: std::collections::HashSet<_> = r.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let v = next_of(&mut events, "poll.vote", 1, Duration::from_secs(40)).await;
    assert_eq!(
        (&v[0].data["message_id"], &v[0].data["selected"], v[0].data["source"].as_str()),
        (&poll_id, &json!(["no"]), Some("catchup"))
    );
    assert_eq!(v[0].data["from"]["pn"], OTHER);
    assert!(more_of(&mut events, "message.reaction", Duration::from_secs(2)).await.is_empty());
    assert!(more_of(&mut events, "poll.vote", Duration::from_millis(200)).await.is_empty());

    // Another reconnect, and a new page load, find nothing new.
    close_the_page(&app, &sim).await;
    control(&sim, "/online", json!({"phone": PHONE})).await;
    wait_state(&app, "main", "connected", Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Vec<&str> = events
        .drain()
        .iter()
        .map(|e| e.kind)
        .filter(|k| *k == "message.reaction" || *k == "poll.vote")
        .collect();
    assert!(later.is_empty(), "reported again: {later:?}");

    // Then a live vote that changes the choice is news again, once.
    phone_sends(
        &sim,
        json!({"from": OTHER, "to": PHONE, "type": "vote",
               "vote": {"message_id": poll["id"], "options": ["yes"]}}),
    )
    .await;
    let v = next_of(&mut events, "poll.vote", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (&v[0].data["selected"], v[0].data["source"].as_str()),
        (&json!(["yes"]), Some("live"))
    );

    // The bookkeeping stays inside: the message as the API shows it has none of it.
    let r = app
        .signed_get(&format!("{}/messages/{}", session_path("main"), note_id.as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.unwrap();
    assert!(!shown.to_string().contains("_reported"), "{shown}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"wa_sidecar_inbound_events_total{type="message.reaction"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"wa_sidecar_inbound_events_total{type="poll.vote"} 2"#),
        "{metrics}"
    );
    stop_and_check(app).await;
}
