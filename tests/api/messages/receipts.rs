//! Group messages: each member's receipt shows in `GET …/messages/{id}`, and the message's own
//! status follows WhatsApp Web's (delivered once every member has it, read once all read it).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::sessions::{connect, control, sim, stop_and_check, Events, PHONE};

const S: &str = "main";
const THIRD: &str = "15553334444";
const LONG: Duration = Duration::from_secs(60);

/// A member's phone sends its receipt for our message (`ack` 2 delivered, 3 read).
async fn member_acks(sim: &SimServer, wa_id: &str, member: &str, ack: i64) {
    control(sim, &format!("/messages/{wa_id}/ack"), json!({"ack": ack, "from": member})).await;
}

/// Polls the message until `check` holds.
async fn wait_message(
    app: &TestApp,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let m = message(app, S, id).await;
        if check(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn receipt_of<'a>(m: &'a Value, member: &str) -> Option<&'a str> {
    m["receipts"]
        .as_array()?
        .iter()
        .find(|r| r["participant"] == format!("{member}@c.us"))
        .and_then(|r| r["status"].as_str())
}

#[tokio::test]
async fn a_group_message_shows_each_members_receipt_and_its_status_follows_all_of_them() {
    let sim = sim();
    let app = sending_app(&sim).await;
    connect(&app, &sim, S).await;
    let mut events = Events::of(&app);
    let group = control(
        &sim,
        "/groups",
        json!({"owner": FRIEND, "subject": "Team", "members": [PHONE, THIRD]}),
    )
    .await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + LONG;
    while !events.drain().iter().any(|e| e.kind == "group.participants") {
        assert!(Instant::now() < deadline, "the page never heard of the group");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let sent =
        send_ok(&app, S, json!({"to": gid, "type": "text", "text": {"body": "hello team"}})).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let m = wait_status(&app, S, &id, "sent", LONG).await;
    assert_eq!(m["receipts"], json!([]), "no receipt yet: {m}");
    let wa_id = m["wa_id"].as_str().unwrap().to_owned();

    member_acks(&sim, &wa_id, FRIEND, 2).await;
    let m =
        wait_message(&app, &id, "FRIEND's receipt", |m| receipt_of(m, FRIEND) == Some("delivered"))
            .await;
    assert_eq!(receipt_of(&m, THIRD), None, "{m}");
    assert_eq!(m["status"], "sent", "one member of two has it: {m}");

    member_acks(&sim, &wa_id, THIRD, 3).await;
    let m = wait_message(&app, &id, "delivered to all", |m| m["status"] == "delivered").await;
    assert_eq!(receipt_of(&m, THIRD), Some("read"), "{m}");
    assert_eq!(receipt_of(&m, FRIEND), Some("delivered"), "{m}");

    member_acks(&sim, &wa_id, FRIEND, 3).await;
    let m = wait_message(&app, &id, "read by all", |m| m["status"] == "read").await;
    assert_eq!(receipt_of(&m, FRIEND), Some("read"), "{m}");
    assert_eq!(m["receipts"].as_array().unwrap().len(), 2, "{m}");
    // Each receipt has its time; the message's history went sent → delivered → read.
    assert!(m["receipts"][0]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{m}");
    let history: Vec<&str> =
        m["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect();
    assert!(history.ends_with(&["sent", "delivered", "read"]), "{history:?}");
    // A one-to-one message has no receipts list.
    let direct = send_ok(&app, S, text("just you")).await;
    let d = wait_status(&app, S, direct["id"].as_str().unwrap(), "sent", LONG).await;
    assert!(d.get("receipts").is_none(), "{d}");
    stop_and_check(app).await;
}
