//! The optional IP allow-list in front of everything but /health/*.

use crate::helpers::{assert_envelope, spawn_app_with};

#[tokio::test]
async fn an_address_outside_the_allow_list_is_refused_even_when_signed() {
    let app =
        spawn_app_with(|s| s.auth.allow_ips = vec!["10.0.0.0/8".into(), "192.168.1.7".into()])
            .await;
    let body =
        assert_envelope(app.signed_get("/v1/workspaces/acme").await, 403, "IP_NOT_ALLOWED").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("127.0.0.1"), "{body}");
    assert_envelope(app.get("/metrics").await, 403, "IP_NOT_ALLOWED").await;
    assert_envelope(app.get("/openapi.json").await, 403, "IP_NOT_ALLOWED").await;
}

#[tokio::test]
async fn an_address_inside_the_allow_list_passes() {
    let app =
        spawn_app_with(|s| s.auth.allow_ips = vec!["10.0.0.0/8".into(), "127.0.0.0/8".into()])
            .await;
    assert_eq!(app.signed_get("/v1/workspaces/acme").await.status(), 200);
    let metrics = app.metrics().await;
    assert!(!metrics.contains("ip_not_allowed"), "nothing was refused:\n{metrics}");
}
