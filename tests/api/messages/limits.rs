//! Pacing limits a host runs into: the new-chat cap (first contacts per day, by session age) and
//! WhatsApp's ban signal pausing the queue, also across a restart.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::sessions::{connect, control, sim, stop_and_check, Events, PHONE};

const S: &str = "main";
const LONG: Duration = Duration::from_secs(60);

fn to(phone: &str, body: &str) -> Value {
    json!({"to": format!("+{phone}"), "type": "text", "text": {"body": body}})
}

async fn limits(app: &TestApp) -> Value {
    let r = app.signed_get(&format!("{}/sending-limits", session_path(S))).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits for the first `message.received` from `from`.
async fn wait_received_from(events: &mut Events, from: &str) {
    let deadline = Instant::now() + LONG;
    loop {
        if events
            .drain()
            .iter()
            .any(|e| e.kind == "message.received" && e.data["from"]["pn"] == from)
        {
            return;
        }
        assert!(Instant::now() < deadline, "no message from {from}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_new_chat_cap_refuses_a_stranger_past_it_but_not_a_chat_already_talked_to() {
    const STRANGER_1: &str = "15550002001";
    const STRANGER_2: &str = "15550002002";
    const STRANGER_3: &str = "15550002003";
    const WROTE_FIRST: &str = "15550002004";
    let sim = sim();
    let app = app_for(&sim, |s| {
        let p = &mut s.sending.pacing;
        // A session created today is on day 0 of the ramp: 2 first contacts.
        p.new_chat_ramp = vec![2, 50];
        p.typing_min_ms = 10;
        p.typing_max_ms = 50;
        p.gap_min_ms = 10;
        p.gap_max_ms = 50;
    })
    .await;
    connect(&app, &sim, S).await;
    let mut events = Events::of(&app);
    control(
        &sim,
        "/messages",
        json!({"from": WROTE_FIRST, "to": PHONE, "type": "text", "text": "hi, are you open?"}),
    )
    .await;
    wait_received_from(&mut events, WROTE_FIRST).await;

    let first = send_ok(&app, S, to(STRANGER_1, "hello 1")).await;
    send_ok(&app, S, to(STRANGER_2, "hello 2")).await;
    let r = send(&app, S, &to(STRANGER_3, "hello 3"), None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 86_400, "{retry}");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "NEW_CHAT_LIMIT_REACHED", "{e}");
    // Chats already written to, and one whose contact wrote first, still take messages.
    send_ok(&app, S, to(STRANGER_1, "and a follow-up")).await;
    let answer = send_ok(&app, S, to(WROTE_FIRST, "yes, until 6")).await;
    // on_limit: queue → accepted, scheduled for tomorrow.
    let mut later = to(STRANGER_3, "tomorrow");
    later["on_limit"] = json!("queue");
    send_ok(&app, S, later).await;

    wait_status(&app, S, answer["id"].as_str().unwrap(), "sent", LONG).await;
    wait_status(&app, S, first["id"].as_str().unwrap(), "sent", LONG).await;
    wait_received(&sim, STRANGER_1, 2, LONG).await;
    assert_eq!(received(&sim, WROTE_FIRST).await.len(), 1);
    assert!(received(&sim, STRANGER_3).await.is_empty(), "nothing reached the third stranger");
    let l = limits(&app).await;
    assert_eq!(
        (&l["new_chat_cap"], &l["new_chats_today"], &l["remaining_new_chats_today"]),
        (&json!(2), &json!(2), &json!(0)),
        "{l}"
    );
    assert_eq!(l["session_age_days"], 0, "{l}");
    assert_eq!(l["queued"], 1, "the scheduled one waits: {l}");
    stop_and_check(app).await;
}
