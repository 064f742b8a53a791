//! The HMAC guard: every way a request can fail to be authentic gets the same bare 401.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, spawn_app, spawn_app_in, spawn_app_with, unix_now, TestKey};

const WS: &str = "/v1/workspaces/acme";

async fn assert_refused(response: reqwest::Response) -> String {
    let body = assert_envelope(response, 401, "UNAUTHORIZED").await;
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_signed_request_gets_the_workspace() {
    let app = spawn_app().await;
    let response = app.signed_get(WS).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"id": "acme", "sessions": 0}));
}

#[tokio::test]
async fn a_request_without_a_signature_is_refused() {
    let app = spawn_app().await;
    assert_refused(app.get(WS).await).await;
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let app = spawn_app().await;
    let impostor = TestKey::random(&app.key.id);
    assert_refused(app.signed(Method::GET, WS).key(&impostor).send().await).await;
}

#[tokio::test]
async fn timestamps_more_than_300_seconds_off_are_refused() {
    let app = spawn_app().await;
    let now = unix_now();
    assert_refused(app.signed(Method::GET, WS).timestamp(now - 301).send().await).await;
    // A future stamp comes closer as the clock ticks between `now` and the server's check; two
    // seconds of slack keep a loaded machine from moving it inside the window.
    assert_refused(app.signed(Method::GET, WS).timestamp(now + 303).send().await).await;
    // The edge of the window is still inside (leaving a second for the clock to tick).
    assert_eq!(app.signed(Method::GET, WS).timestamp(now - 299).send().await.status(), 200);
    assert_eq!(app.signed(Method::GET, WS).timestamp(now + 299).send().await.status(), 200);
}

#[tokio::test]
async fn a_reused_nonce_is_refused() {
    let app = spawn_app().await;
    let nonce = "0123456789abcdef0123456789abcdef";
    assert_eq!(app.signed(Method::GET, WS).nonce(nonce).send().await.status(), 200);
    assert_refused(app.signed(Method::GET, WS).nonce(nonce).send().await).await;
    // Even with a new timestamp, which changes the signature.
    assert_refused(app.signed(Method::GET, WS).nonce(nonce).timestamp(unix_now() - 5).send().await)
        .await;
}

#[tokio::test]
async fn an_unknown_key_id_is_refused() {
    let app = spawn_app().await;
    let stranger = TestKey::random("stranger");
    assert_refused(app.signed(Method::GET, WS).key(&stranger).send().await).await;
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused() {
    let app = spawn_app().await;
    let path = "/v1/workspaces/acme/ping";
    let ok = app.signed(Method::POST, path).json(&json!({"message": "pay 10"})).send().await;
    assert_eq!(ok.status(), 200);
    let tampered = app
        .signed(Method::POST, path)
        .json(&json!({"message": "pay 10"}))
        .tamper(|wire| wire.body = serde_json::to_vec(&json!({"message": "pay 99"})).unwrap())
        .send()
        .await;
    assert_refused(tampered).await;
}

#[tokio::test]
async fn a_query_changed_after_signing_is_refused() {
    let app = spawn_app().await;
    let ok = app.signed(Method::GET, WS).query("page", "1").send().await;
    assert_eq!(ok.status(), 200);
    let tampered = app
        .signed(Method::GET, WS)
        .query("page", "1")
        .tamper(|wire| wire.query[0].1 = "2".into())
        .send()
        .await;
    assert_refused(tampered).await;
    let added = app
        .signed(Method::GET, WS)
        .tamper(|wire| wire.query.push(("page".into(), "1".into())))
        .send()
        .await;
    assert_refused(added).await;
}

#[tokio::test]
async fn a_path_changed_after_signing_is_refused() {
    let app = spawn_app().await;
    let tampered = app
        .signed(Method::GET, WS)
        .tamper(|wire| wire.path = "/v1/workspaces/other".into())
        .send()
        .await;
    assert_refused(tampered).await;
    let method =
        app.signed(Method::GET, WS).tamper(|wire| wire.method = Method::DELETE).send().await;
    assert_refused(method).await;
}

#[tokio::test]
async fn every_refusal_looks_the_same_and_the_reason_is_counted() {
    let app = spawn_app().await;
    let unsigned = assert_refused(app.get(WS).await).await;
    let stale =
        assert_refused(app.signed(Method::GET, WS).timestamp(unix_now() - 1000).send().await).await;
    let forged =
        assert_refused(app.signed(Method::GET, WS).key(&TestKey::random(&app.key.id)).send().await)
            .await;
    assert_eq!(unsigned, stale);
    assert_eq!(stale, forged);

    let metrics = app.metrics().await;
    for reason in ["missing_header", "timestamp_skew", "bad_signature"] {
        let line = format!("wa_sidecar_auth_failures_total{{reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn query_order_and_space_encoding_do_not_matter() {
    let app = spawn_app().await;
    // Sent as "b=2&a=x%20y" but signed canonically (sorted); the server sorts too.
    let ok = app.signed(Method::GET, WS).query("b", "2").query("a", "x y").send().await;
    assert_eq!(ok.status(), 200);
    // The same pairs with '+' for the space, as PHP's http_build_query writes them.
    let plus = app
        .signed(Method::GET, WS)
        .query("a", "x y")
        .tamper(|wire| {
            wire.query.clear();
            wire.path = format!("{WS}?a=x+y");
        })
        .send()
        .await;
    assert_eq!(plus.status(), 200);
}

#[tokio::test]
async fn the_key_id_header_is_optional_only_with_a_single_key() {
    let app = spawn_app().await;
    assert_eq!(app.signed(Method::GET, WS).without_key_id().send().await.status(), 200);

    let second = TestKey::random("second");
    let app = spawn_app_with(|s| s.auth.keys.push(second.config(&["*"]))).await;
    assert_refused(app.signed(Method::GET, WS).without_key_id().send().await).await;
}

#[tokio::test]
async fn two_keys_work_during_rotation_and_a_removed_key_is_refused() {
    let old = TestKey::random("k2025");
    let new = TestKey::random("k2026");
    let (o, n) = (old.clone(), new.clone());
    let app = spawn_app_with(move |s| s.auth.keys = vec![o.config(&["*"]), n.config(&["*"])]).await;
    assert_eq!(app.signed(Method::GET, WS).key(&old).send().await.status(), 200);
    assert_eq!(app.signed(Method::GET, WS).key(&new).send().await.status(), 200);

    // Restart with the old key removed.
    drop(app);
    let dir = tempfile::tempdir().unwrap();
    let n = new.clone();
    let rotated = spawn_app_in(dir, move |s| s.auth.keys = vec![n.config(&["*"])]).await;
    assert_refused(rotated.signed(Method::GET, WS).key(&old).send().await).await;
    assert_eq!(rotated.signed(Method::GET, WS).key(&new).send().await.status(), 200);
}

#[tokio::test]
async fn a_key_scoped_to_one_workspace_gets_403_elsewhere() {
    let scoped = TestKey::random("tenant-a");
    let k = scoped.clone();
    let app = spawn_app_with(move |s| s.auth.keys = vec![k.config(&["a"])]).await;
    assert_eq!(app.signed(Method::GET, "/v1/workspaces/a").key(&scoped).send().await.status(), 200);
    let other = app.signed(Method::GET, "/v1/workspaces/b").key(&scoped).send().await;
    let body = assert_envelope(other, 403, "WORKSPACE_FORBIDDEN").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("tenant-a"), "{body}");
    // Routes outside any workspace need a key allowed everywhere.
    assert_envelope(
        app.signed(Method::GET, "/v1/callbacks/dead-letters").key(&scoped).send().await,
        403,
        "WORKSPACE_FORBIDDEN",
    )
    .await;
    // An encoded workspace segment cannot sneak past the scope.
    assert_envelope(
        app.signed(Method::GET, "/v1/workspaces/%61").key(&scoped).send().await,
        403,
        "WORKSPACE_FORBIDDEN",
    )
    .await;
    // A forged request for an allowed workspace is still a 401, not a 403.
    assert_refused(
        app.signed(Method::GET, "/v1/workspaces/b").key(&TestKey::random("tenant-a")).send().await,
    )
    .await;
}

#[tokio::test]
async fn an_unknown_v1_route_is_401_unsigned_and_404_signed() {
    let app = spawn_app().await;
    assert_refused(app.get("/v1/nothing-here").await).await;
    assert_envelope(app.signed_get("/v1/nothing-here").await, 404, "ROUTE_NOT_FOUND").await;
}
