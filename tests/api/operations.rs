//! /metrics and /openapi.json.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_status_and_latency() {
    let app = spawn_app().await;
    assert_eq!(app.signed_get("/v1/workspaces/acme").await.status(), 200);
    assert_eq!(app.signed_get("/v1/workspaces/beta").await.status(), 200);
    assert_eq!(
        app.signed(Method::GET, "/v1/workspaces/acme").nonce("short").send().await.status(),
        401
    );

    let metrics = app.metrics().await;
    let ok = r#"wa_sidecar_http_requests_total{method="GET",route="/v1/workspaces/{workspace}",status="200"} 2"#;
    assert!(metrics.contains(ok), "{ok} missing from:\n{metrics}");
    assert!(metrics.contains(r#"wa_sidecar_http_request_duration_seconds_count{method="GET",route="/v1/workspaces/{workspace}"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"wa_sidecar_http_requests_total{method="GET",route="/v1/workspaces/{workspace}",status="401"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"wa_sidecar_auth_failures_total{reason="bad_nonce"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("/v1/workspaces/acme"), "raw paths never become labels");
}

#[tokio::test]
async fn openapi_describes_the_routes_and_the_signature() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    for path in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/v1/workspaces/{workspace}",
        "/v1/workspaces/{workspace}/ping",
        "/v1/workspaces/{workspace}/sessions",
        "/v1/workspaces/{workspace}/sessions/{session}",
        "/v1/workspaces/{workspace}/sessions/{session}/start",
        "/v1/workspaces/{workspace}/sessions/{session}/stop",
        "/v1/workspaces/{workspace}/sessions/{session}/restart",
        "/v1/workspaces/{workspace}/sessions/{session}/logout",
        "/v1/workspaces/{workspace}/sessions/{session}/qr",
        "/v1/workspaces/{workspace}/sessions/{session}/pairing-code",
        "/v1/workspaces/{workspace}/sessions/{session}/screenshot",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["hmac"]["name"], "X-HMAC-Signature");
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    let states = &doc["components"]["schemas"]["State"]["enum"];
    assert!(states.as_array().unwrap().iter().any(|s| s == "qr_required"), "{states}");
    assert!(doc["paths"]["/v1/workspaces/{workspace}/sessions"]["post"]["requestBody"].is_object());
}
