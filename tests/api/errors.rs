//! Every error is the envelope with the request's id: unknown routes, wrong methods, oversized
//! and malformed bodies, bad ids.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, spawn_app, spawn_app_with};

const PING: &str = "/v1/workspaces/acme/ping";

#[tokio::test]
async fn an_unknown_route_is_a_404_envelope() {
    let app = spawn_app().await;
    let body = assert_envelope(app.get("/no/such/route").await, 404, "ROUTE_NOT_FOUND").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("/no/such/route"), "{body}");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_envelope() {
    let app = spawn_app().await;
    let response = app.client.post(app.url("/health/live")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED").await;
    assert_envelope(
        app.signed(Method::DELETE, "/v1/workspaces/acme").send().await,
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_a_413_envelope() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 1024).await;
    let fits = json!({"message": "x".repeat(900)});
    assert_eq!(app.signed_post(PING, &fits).await.status(), 200);
    let big = json!({"message": "x".repeat(2000)});
    let body = assert_envelope(app.signed_post(PING, &big).await, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("max_body_bytes"), "{body}");
    // Unsigned, the body is never read: the signature headers are checked first.
    let unsigned = app.client.post(app.url(PING)).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_envelope(unsigned, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_naming_it() {
    let app = spawn_app().await;
    let body =
        assert_envelope(app.signed_post(PING, &json!({"message": 5})).await, 400, "INVALID_FIELD")
            .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("message: invalid type: integer"), "{message}");
}

#[tokio::test]
async fn a_missing_or_unknown_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let body = assert_envelope(app.signed_post(PING, &json!({})).await, 400, "INVALID_FIELD").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("missing field `message`"),
        "{body}"
    );
    let body = assert_envelope(
        app.signed_post(PING, &json!({"message": "a", "mesage": "b"})).await,
        400,
        "INVALID_FIELD",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("unknown field `mesage`"),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response =
        app.signed(Method::POST, PING).raw_body(r#"{"message": "#, "application/json").send().await;
    let body = assert_envelope(response, 400, "INVALID_JSON").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("line 1"), "{body}");
    let response = app
        .signed(Method::POST, PING)
        .raw_body("message=hi", "application/x-www-form-urlencoded")
        .send()
        .await;
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

#[tokio::test]
async fn an_invalid_workspace_id_is_a_400() {
    let app = spawn_app().await;
    let body =
        assert_envelope(app.signed_get("/v1/workspaces/Acme").await, 400, "INVALID_ID").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("Acme"), "{body}");
}

#[tokio::test]
async fn the_callers_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/nope"))
        .header("X-Request-Id", "laravel-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "laravel-7f3a");
    let body = assert_envelope(response, 404, "ROUTE_NOT_FOUND").await;
    assert_eq!(body["error"]["request_id"], "laravel-7f3a");

    let response = app
        .client
        .get(app.url("/health/live"))
        .header("X-Request-Id", "a b\"c")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "a b\"c");
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
}

#[tokio::test]
async fn successful_responses_carry_a_request_id_too() {
    let app = spawn_app().await;
    let a = app.signed_get("/v1/workspaces/acme").await;
    let b = app.signed_get("/v1/workspaces/acme").await;
    let (a, b) = (a.headers()["x-request-id"].clone(), b.headers()["x-request-id"].clone());
    assert_ne!(a, b, "each request gets its own id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_races_its_sessions_delete_is_not_found_never_shutting_down() {
    let app = spawn_app().await;
    for round in 0..12 {
        let path = format!("/v1/workspaces/a/sessions/race{round}");
        let create = json!({"id": format!("race{round}"), "start": false});
        assert_eq!(app.signed_post("/v1/workspaces/a/sessions", &create).await.status(), 201);
        let stop = format!("{path}/stop");
        let empty = json!({});
        let stops = futures::future::join_all((0..8).map(|_| app.signed_post(&stop, &empty)));
        let delete = app.signed(Method::DELETE, &path).send();
        let (deleted, stops) = tokio::join!(delete, stops);
        assert!(deleted.status().is_success(), "{}", deleted.status());
        for r in stops {
            let status = r.status().as_u16();
            assert!(
                matches!(status, 200 | 204 | 404),
                "round {round}: a racing call answered {status}: {}",
                r.text().await.unwrap()
            );
        }
    }
}

#[tokio::test]
async fn a_test_callback_with_data_that_is_not_an_object_is_refused() {
    let app = spawn_app().await;
    for data in [json!("text"), json!([1, 2]), json!(3), json!(true)] {
        let body = json!({"workspace": "a", "session": "main", "data": data});
        let r = app.signed_post("/v1/callbacks/test", &body).await;
        assert_envelope(r, 400, "INVALID_FIELD").await;
    }
    let ok = json!({"workspace": "a", "session": "main", "data": {"k": "v"}});
    assert_eq!(app.signed_post("/v1/callbacks/test", &ok).await.status(), 202);
}
