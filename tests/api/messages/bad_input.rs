//! Refusals that need no browser: a bad body is a 400 with a stable code naming the field, a
//! session that cannot send is a 409, a reused Idempotency-Key with another body is a 422, and
//! nothing is queued for any of them.

use serde_json::{json, Value};

use super::*;
use crate::helpers::spawn_app_with;

async fn stopped_session(app: &TestApp, id: &str) {
    let r = app
        .signed_post(
            &format!("/v1/workspaces/{}/sessions", crate::sessions::WS),
            &json!({"id": id, "start": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn queued(app: &TestApp, session: &str) -> Value {
    let r = app.signed_get(&format!("{}/sending-limits", session_path(session))).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn bad_bodies_are_400_with_a_code_naming_the_field_and_nothing_is_queued() {
    let app = spawn_app_with(no_pacing).await;
    stopped_session(&app, "idle").await;
    let big = "A".repeat(700_000); // 525 000 bytes: larger than a sticker may be
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"to": FRIEND, "type": "fax", "fax": {}}), "INVALID_FIELD", "type"),
        (json!({"to": FRIEND, "type": "text"}), "MISSING_FIELD", "text"),
        (json!({"type": "text", "text": {"body": "x"}}), "INVALID_FIELD", "to"),
        (
            json!({"to": "not-a-number", "type": "text", "text": {"body": "x"}}),
            "INVALID_RECIPIENT",
            "to",
        ),
        (json!({"to": FRIEND, "type": "text", "text": {"body": ""}}), "INVALID_TEXT", "text.body"),
        (
            json!({"to": FRIEND, "type": "image", "image": {"data": "not base64!", "mime_type": "image/png"}}),
            "INVALID_MEDIA",
            "image.data",
        ),
        (
            json!({"to": FRIEND, "type": "image", "image": {"data": "aGk="}}),
            "MISSING_FIELD",
            "image.mime_type",
        ),
        (
            json!({"to": FRIEND, "type": "sticker", "sticker": {"data": big, "mime_type": "image/webp"}}),
            "MEDIA_TOO_LARGE",
            "sticker.data",
        ),
        (
            json!({"to": FRIEND, "type": "image", "image": {"link": "http://169.254.169.254/latest"}}),
            "MEDIA_LINK_REFUSED",
            "image.link",
        ),
        (
            json!({"to": FRIEND, "type": "image", "image": {"link": "http://[::ffff:a9fe:a9fe]/x"}}),
            "MEDIA_LINK_REFUSED",
            "image.link",
        ),
        (
            json!({"to": FRIEND, "type": "image", "image": {"link": "file:///etc/passwd"}}),
            "INVALID_MEDIA_LINK",
            "image.link",
        ),
        (
            json!({"to": FRIEND, "type": "video", "video": {"data": "aGk=", "mime_type": "image/png"}}),
            "INVALID_MIME_TYPE",
            "video.mime_type",
        ),
        (
            json!({"to": FRIEND, "type": "location", "location": {"latitude": 100, "longitude": 0}}),
            "INVALID_LOCATION",
            "location.latitude",
        ),
        (
            json!({"to": FRIEND, "type": "poll", "poll": {"name": "q", "options": ["only"]}}),
            "INVALID_POLL",
            "poll.options",
        ),
        (
            json!({"to": FRIEND, "type": "reaction", "reaction": {"message_id": "../x", "emoji": "👍"}}),
            "INVALID_MESSAGE_ID",
            "reaction.message_id",
        ),
        (json!({"to": FRIEND, "type": "contacts", "contacts": []}), "INVALID_CONTACTS", "contacts"),
        (
            json!({"to": FRIEND, "type": "text", "text": {"body": "x"}, "mentions": ["nobody"]}),
            "INVALID_MENTIONS",
            "mentions[0]",
        ),
        (
            json!({"to": FRIEND, "type": "text", "text": {"body": "x"}, "client_ref": "r".repeat(300)}),
            "INVALID_CLIENT_REF",
            "client_ref",
        ),
        (
            json!({"to": FRIEND, "type": "text", "text": {"body": "x"}, "surprise": 1}),
            "INVALID_FIELD",
            "surprise",
        ),
    ];
    for (body, code, field) in cases {
        let r = send(&app, "idle", &body, None).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{code}: message {message:?} names {field}");
    }
    let r = send(&app, "idle", &text("hi"), Some("")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(queued(&app, "idle").await["queued"], 0);
    assert_eq!(queued(&app, "idle").await["accepted_today"], 0);
}

#[tokio::test]
async fn a_session_that_cannot_send_is_409_session_not_ready_and_unknown_ones_404() {
    let app = spawn_app_with(no_pacing).await;
    stopped_session(&app, "idle").await;
    let r = send(&app, "idle", &text("hi"), Some("k1")).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "SESSION_NOT_READY");
    assert!(e["error"]["message"].as_str().unwrap().contains("stopped"));
    // The key was not used up by the refusal.
    let r = send(&app, "idle", &text("other"), Some("k1")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(queued(&app, "idle").await["accepted_today"], 0);

    let r = send(&app, "nosuch", &text("hi"), None).await;
    assert_eq!(r.status(), 404);
    let r = app.signed_get(&format!("{}/out_nothing", messages_path("idle"))).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "MESSAGE_NOT_FOUND");
}
