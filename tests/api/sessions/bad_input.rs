//! Bad input gets a clear 4xx with a stable code, and nothing is half-created.

use reqwest::Method;
use serde_json::json;

use super::*;
use crate::helpers::assert_envelope;

#[tokio::test]
async fn invalid_ids_are_refused_and_create_nothing() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    for id in ["Main", "../etc", "-x", "", "a b", &"x".repeat(64)] {
        let r = app.signed_post(&format!("/v1/workspaces/{WS}/sessions"), &json!({"id": id})).await;
        let body = assert_envelope(r, 400, "INVALID_ID").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("session id"), "{body}");
    }
    let r = app.signed_get("/v1/workspaces/Acme/sessions/main").await;
    assert!(
        r.status() == 400 || r.status() == 403,
        "a bad workspace id is refused: {}",
        r.status()
    );
    assert!(
        std::fs::read_dir(&app.settings.server.sessions_dir).unwrap().next().is_none(),
        "nothing on disk"
    );
    stop_and_check(app).await;
}

#[tokio::test]
async fn unknown_sessions_are_404_for_every_route_but_delete() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let base = session_path("ghost");
    assert_envelope(app.signed_get(&base).await, 404, "SESSION_NOT_FOUND").await;
    for action in ["start", "stop", "restart", "logout"] {
        assert_envelope(post(&app, &format!("{base}/{action}")).await, 404, "SESSION_NOT_FOUND")
            .await;
    }
    assert_envelope(app.signed_get(&format!("{base}/qr")).await, 404, "SESSION_NOT_FOUND").await;
    assert_envelope(app.signed_get(&format!("{base}/screenshot")).await, 404, "SESSION_NOT_FOUND")
        .await;
    assert_eq!(
        app.signed(Method::DELETE, &base).send().await.status(),
        204,
        "deleting what is gone is done"
    );
    stop_and_check(app).await;
}

#[tokio::test]
async fn creating_beyond_the_limit_or_twice_is_refused_and_leaves_no_trace() {
    let sim = sim();
    let app = app_for(&sim, |s| s.sessions.max_sessions = 1).await;
    let create_body = |id: &str| json!({"id": id, "start": false});
    let url = format!("/v1/workspaces/{WS}/sessions");
    assert_eq!(app.signed_post(&url, &create_body("first")).await.status(), 201);
    assert_envelope(app.signed_post(&url, &create_body("first")).await, 409, "SESSION_EXISTS")
        .await;
    let body = assert_envelope(
        app.signed_post(&url, &create_body("second")).await,
        409,
        "SESSION_LIMIT_REACHED",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains('1'), "{body}");
    assert!(!app.settings.server.sessions_dir.join(WS).join("second").exists());
    let list: serde_json::Value = app.signed_get(&url).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    let ws: serde_json::Value =
        app.signed_get(&format!("/v1/workspaces/{WS}")).await.json().await.unwrap();
    assert_eq!(ws["sessions"], 1);
    stop_and_check(app).await;
}

#[tokio::test]
async fn bad_callback_urls_metadata_and_fields_create_nothing() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let url = format!("/v1/workspaces/{WS}/sessions");
    let cases = [
        (json!({"id": "a", "callback_url": "ftp://host.test/x"}), "INVALID_CALLBACK_URL"),
        (json!({"id": "a", "callback_url": "https://user:pw@host.test/x"}), "INVALID_CALLBACK_URL"),
        (json!({"id": "a", "metadata": {"k": "v".repeat(501)}}), "INVALID_METADATA"),
        (json!({"id": "a", "start": "yes"}), "INVALID_FIELD"),
        (json!({"id": "a", "colour": "blue"}), "INVALID_FIELD"),
    ];
    for (body, code) in cases {
        let r = app.signed_post(&url, &body).await;
        assert_envelope(r, 400, code).await;
    }
    assert!(
        std::fs::read_dir(&app.settings.server.sessions_dir).unwrap().next().is_none(),
        "nothing on disk"
    );
    stop_and_check(app).await;
}

#[tokio::test]
async fn a_malformed_pairing_phone_is_400_and_pairing_outside_qr_is_409() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    let url = format!("/v1/workspaces/{WS}/sessions");
    assert_eq!(app.signed_post(&url, &json!({"id": "p", "start": false})).await.status(), 201);
    let pairing = format!("{}/pairing-code", session_path("p"));
    for phone in ["12", "+0123456789", "phone", "+1555123456789012"] {
        let body = assert_envelope(
            app.signed_post(&pairing, &json!({"phone": phone})).await,
            400,
            "INVALID_PHONE",
        )
        .await;
        assert!(body["error"]["message"].as_str().unwrap().contains("international"), "{body}");
    }
    let body = assert_envelope(
        app.signed_post(&pairing, &json!({"phone": "+15550001111"})).await,
        409,
        "SESSION_NOT_AWAITING_LOGIN",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("stopped"), "{body}");
    let r = app
        .signed(Method::GET, &format!("{}/qr", session_path("p")))
        .query("format", "gif")
        .send()
        .await;
    assert_envelope(r, 404, "QR_NOT_AVAILABLE").await;
    stop_and_check(app).await;
}
