//! What a host reads about the account's groups (`GET …/groups`, `GET …/groups/{id}`) and what it
//! hears when WhatsApp restricts the account (`session.restricted`, once per signal).

use std::time::Duration;

use serde_json::{json, Value};

use super::inbound::{more_of, next_of, text, OTHER};
use super::*;

const THIRD: &str = "15553334444";

/// The phone number a participant stands for, whichever way WhatsApp names it.
fn phone_of(p: &Value) -> String {
    match p["pn"].as_str() {
        Some(pn) => pn.to_owned(),
        None => p["id"].as_str().unwrap_or("").split(['@', ':']).next().unwrap_or("").to_owned(),
    }
}

#[tokio::test]
async fn groups_are_listed_and_read_with_their_subject_participants_and_admins() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);
    // A one-to-one chat, which is not a group.
    text(&sim, OTHER, PHONE, "not a group").await;
    next_of(&mut events, "message.received", 1, Duration::from_secs(30)).await;

    let made = control(
        &sim,
        "/groups",
        json!({"owner": OTHER, "subject": "Team", "members": [PHONE, THIRD]}),
    )
    .await;
    let gid = made["id"].as_str().unwrap().to_owned();
    let other =
        control(&sim, "/groups", json!({"owner": THIRD, "subject": "Club", "members": [PHONE]}))
            .await;
    let other_gid = other["id"].as_str().unwrap().to_owned();
    next_of(&mut events, "group.participants", 2, Duration::from_secs(30)).await;
    control(
        &sim,
        &format!("/groups/{gid}/participants"),
        json!({"action": "promote", "participants": [THIRD]}),
    )
    .await;
    next_of(&mut events, "group.participants", 1, Duration::from_secs(30)).await;

    let r = app.signed_get(&format!("{}/groups", session_path("main"))).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let groups = list["groups"].as_array().unwrap();
    let mut names: Vec<(&str, &str)> = groups
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g["name"].as_str().unwrap_or("")))
        .collect();
    names.sort();
    let mut want = vec![(gid.as_str(), "Team"), (other_gid.as_str(), "Club")];
    want.sort();
    assert_eq!(names, want, "the two groups, and not the one-to-one chat: {list}");
    assert!(groups.iter().all(|g| g["type"] == "group"), "{list}");

    let r = app.signed_get(&format!("{}/groups/{gid}", session_path("main"))).await;
    assert_eq!(r.status(), 200);
    let g: Value = r.json().await.unwrap();
    assert_eq!((g["id"].as_str(), g["subject"].as_str()), (Some(gid.as_str()), Some("Team")));
    let parts = g["participants"].as_array().unwrap();
    let mut phones: Vec<String> = parts.iter().map(phone_of).collect();
    phones.sort();
    let mut all = vec![OTHER.to_owned(), PHONE.to_owned(), THIRD.to_owned()];
    all.sort();
    assert_eq!(phones, all, "{g}");
    let flags = |phone: &str| {
        let p = parts.iter().find(|p| phone_of(p) == phone).unwrap();
        (p["admin"].as_bool().unwrap(), p["super_admin"].as_bool().unwrap())
    };
    assert_eq!(flags(OTHER), (true, true), "the owner: {g}");
    assert_eq!(flags(THIRD), (true, false), "promoted: {g}");
    assert_eq!(flags(PHONE), (false, false), "a plain member: {g}");
    // `admins` names exactly the admins, by the ids `participants` uses.
    let mut admins: Vec<&str> =
        g["admins"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    admins.sort();
    let mut want: Vec<&str> =
        parts.iter().filter(|p| p["admin"] == true).map(|p| p["id"].as_str().unwrap()).collect();
    want.sort();
    assert_eq!((admins.len(), admins), (2, want));

    // Bad ids and unknown groups.
    let r = app.signed_get(&format!("{}/groups/{OTHER}@c.us", session_path("main"))).await;
    crate::helpers::assert_envelope(r, 400, "INVALID_GROUP_ID").await;
    let r =
        app.signed_get(&format!("{}/groups/120363999999999999@g.us", session_path("main"))).await;
    crate::helpers::assert_envelope(r, 404, "GROUP_NOT_FOUND").await;

    // A stopped session has no page to read.
    assert_eq!(post(&app, &format!("{}/stop", session_path("main"))).await.status(), 200);
    let r = app.signed_get(&format!("{}/groups", session_path("main"))).await;
    crate::helpers::assert_envelope(r, 409, "SESSION_NOT_RUNNING").await;
    let r = app.signed_get(&format!("{}/groups/{gid}", session_path("main"))).await;
    crate::helpers::assert_envelope(r, 409, "SESSION_NOT_RUNNING").await;
    stop_and_check(app).await;
}

/// Waits until the current second has just begun, so calls made right after share it.
async fn start_of_a_second() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let into = now.subsec_millis() as u64;
    tokio::time::sleep(Duration::from_millis(1_000 - into + 20)).await;
}

#[tokio::test]
async fn a_ban_signal_repeated_is_one_session_restricted_and_a_tos_block_is_another() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, "main").await;
    let mut events = Events::of(&app);

    // WhatsApp repeats the signal of the same ban (the same expiry): the host hears it once.
    start_of_a_second().await;
    let target = json!({"phone": PHONE, "expires_in_s": 3600});
    control(&sim, "/ban", target.clone()).await;
    control(&sim, "/ban", target).await;
    let b = next_of(&mut events, "session.restricted", 1, Duration::from_secs(30)).await;
    assert_eq!(b[0].data["reason"], "temporarily_banned");
    let until = b[0].data["until"].as_i64().unwrap();
    let now = b[0].data["timestamp"].as_i64().unwrap();
    assert!((3590..=3610).contains(&(until - now)), "{:?}", b[0].data);
    assert!(b[0].id.as_deref().is_some_and(|i| i.starts_with("evt_")), "a deterministic id");
    assert!(
        more_of(&mut events, "session.restricted", Duration::from_secs(2)).await.is_empty(),
        "the same ban reported twice"
    );
    // A ban does not stop the session.
    assert_eq!(get(&app, "main").await["state"], "connected");

    // A terms-of-service block: once, and the session halts as blocked.
    control(&sim, "/block", json!({"phone": PHONE, "mode": "TOS_BLOCK"})).await;
    let t = next_of(&mut events, "session.restricted", 1, Duration::from_secs(30)).await;
    assert_eq!(
        (t[0].data["reason"].as_str(), &t[0].data["until"]),
        (Some("tos_block"), &Value::Null)
    );
    wait_state(&app, "main", "failed", Duration::from_secs(20)).await;
    assert_eq!(get(&app, "main").await["reason"], "blocked:tos_block");
    assert!(more_of(&mut events, "session.restricted", Duration::from_secs(2)).await.is_empty());

    // Other blocking modes are not about the account: no restriction.
    let other = create(&app, "second").await;
    assert_eq!(other["id"], "second");
    wait_state(&app, "second", "qr_required", Duration::from_secs(30)).await;
    let code = qr_text(&app, "second").await;
    control(&sim, "/scan", json!({"code": code, "phone": THIRD})).await;
    wait_state(&app, "second", "connected", Duration::from_secs(30)).await;
    control(&sim, "/block", json!({"phone": THIRD, "mode": "PROXYBLOCK"})).await;
    wait_state(&app, "second", "failed", Duration::from_secs(20)).await;
    assert!(more_of(&mut events, "session.restricted", Duration::from_secs(2)).await.is_empty());

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"wa_sidecar_inbound_events_total{type="session.restricted"} 2"#),
        "{metrics}"
    );
    stop_and_check(app).await;
}
