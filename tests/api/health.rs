//! Liveness, readiness with named checks, and their exemption from the IP allow-list.

use serde_json::Value;

use crate::helpers::{assert_envelope, spawn_app, spawn_app_with};

#[tokio::test]
async fn live_answers_without_a_signature() {
    let app = spawn_app().await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "live");
}

#[tokio::test]
async fn ready_names_every_check_and_its_state() {
    let app = spawn_app().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let names: Vec<&str> =
        body["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["config", "data_dir", "sessions_dir", "chromium", "bridge"]);
    assert!(body["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{body}");
    let bridge = &body["checks"][4];
    assert!(bridge["detail"].as_str().unwrap().contains("wa-js 4.6.0"), "{bridge}");
}

#[tokio::test]
async fn ready_is_503_naming_the_bridge_when_the_wa_js_file_is_missing() {
    let app =
        spawn_app_with(|s| s.engine.bridge_path = "/nonexistent/wppconnect-wa.js".into()).await;
    let body = assert_envelope(app.get("/health/ready").await, 503, "NOT_READY").await;
    let bridge = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "bridge").unwrap();
    assert_eq!(bridge["ok"], false);
    assert!(bridge["detail"].as_str().unwrap().contains("ops/fetch-bridge.sh"), "{bridge}");
}

#[tokio::test]
async fn ready_is_503_with_the_failing_check_when_the_data_dir_is_unusable() {
    let app = spawn_app().await;
    // A file where the directory was: writes fail even for root.
    let data_dir = app.data_dir();
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::write(&data_dir, b"not a directory").unwrap();

    let body = assert_envelope(app.get("/health/ready").await, 503, "NOT_READY").await;
    assert_eq!(body["status"], "not_ready");
    let data = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "data_dir")
        .unwrap()
        .clone();
    assert_eq!(data["ok"], false, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("data_dir"), "{body}");
    let config =
        body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "config").unwrap().clone();
    assert_eq!(config["ok"], true);
}

#[tokio::test]
async fn health_is_reachable_from_addresses_the_allow_list_refuses() {
    let app = spawn_app_with(|s| s.auth.allow_ips = vec!["10.0.0.0/8".into()]).await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get("/health/ready").await.status(), 200);
}
