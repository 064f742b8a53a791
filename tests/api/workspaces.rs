//! The first resource and the ping endpoint.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, TestKey};

#[tokio::test]
async fn a_workspace_reports_its_id_and_session_count() {
    let app = spawn_app().await;
    let response = app.signed_get("/v1/workspaces/acme-eu_1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"id": "acme-eu_1", "sessions": 0})
    );
}

#[tokio::test]
async fn ping_echoes_the_message_and_the_key_that_signed_it() {
    let key = TestKey::random("laravel");
    let k = key.clone();
    let app = spawn_app_with(move |s| s.auth.keys = vec![k.config(&["acme"])]).await;
    let response = app.signed_post("/v1/workspaces/acme/ping", &json!({"message": "héllo"})).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"workspace": "acme", "key_id": "laravel", "message": "héllo"}));
}
