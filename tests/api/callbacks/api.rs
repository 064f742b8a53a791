//! `/v1/callbacks/*` through the real application (signed requests, the error envelope), with a
//! real receiver behind the outbox.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::helpers::{assert_envelope, spawn_app_with};
use super::receiver::{Reply, TestReceiver};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_callback_is_signed_delivered_and_counted() {
    let mut rx = TestReceiver::start().await;
    let cfg = config(&rx.url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;

    let response = app
        .signed_post("/v1/callbacks/test", &json!({"workspace": "acme", "session": "main"}))
        .await;
    let status = response.status();
    let queued: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["type"], "callback.test");

    let got = rx.next(WAIT).await;
    verify::standard_webhooks(SECRET_A, &got).unwrap();
    assert_eq!(got.header("webhook-id"), queued["id"].as_str().unwrap());
    assert_eq!(got.json()["session"], "main");

    // The receiver has the request; the outbox records the 2xx a moment later.
    let mut stats = Value::Null;
    for _ in 0..500 {
        stats = app.signed_get("/v1/callbacks/stats").await.json().await.unwrap();
        if stats["delivered_since_start"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats["delivered_since_start"], 1, "{stats}");
    assert_eq!(stats["queued"], 0);
    let metrics = app.metrics().await;
    assert!(metrics.lines().any(|l| l.ends_with("callbacks_delivered_total 1")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_actionable_4xx() {
    let rx = TestReceiver::start().await;
    let cfg = config(&rx.url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;
    let bad_id = app
        .signed_post("/v1/callbacks/test", &json!({"workspace": "Acme!", "session": "main"}))
        .await;
    assert_envelope(bad_id, 400, "INVALID_ID").await;
    let bad_url =
        app.signed_post("/v1/callbacks/endpoints/enable", &json!({"url": "ftp://x/y"})).await;
    assert_envelope(bad_url, 400, "INVALID_CALLBACK_URL").await;
    let typo =
        app.signed_post("/v1/callbacks/endpoints/enable", &json!({"ur": "https://x/y"})).await;
    assert_envelope(typo, 400, "INVALID_JSON").await;
    let missing = app.signed_post("/v1/callbacks/dead/msg_nope/redeliver", &json!({})).await;
    assert_envelope(missing, 404, "DEAD_LETTER_NOT_FOUND").await;
    let limit = app.signed(Method::GET, "/v1/callbacks/dead").query("limit", "0").send().await;
    assert_envelope(limit, 400, "INVALID_LIMIT").await;
    let unsigned = app.get("/v1/callbacks/stats").await;
    assert_eq!(unsigned.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_filtered_paged_and_redelivered_over_http() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(400));
    let cfg = config(&rx.url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;
    let mut ids = Vec::new();
    for session in ["a", "b", "c"] {
        let r = app
            .signed_post(
                "/v1/callbacks/test",
                &json!({"workspace": "acme", "session": session, "data": {"s": session}}),
            )
            .await;
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        rx.next(WAIT).await;
    }
    let dead = || async {
        let v: Value = app.signed_get("/v1/callbacks/stats").await.json().await.unwrap();
        v["dead"].as_i64().unwrap()
    };
    for _ in 0..200 {
        if dead().await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead().await, 3);

    let page: Value = app
        .signed(Method::GET, "/v1/callbacks/dead")
        .query("limit", "2")
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
    let rest: Value = app
        .signed(Method::GET, "/v1/callbacks/dead")
        .query("limit", "2")
        .query("cursor", &cursor)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());

    let only_b: Value = app
        .signed(Method::GET, "/v1/callbacks/dead")
        .query("session", "b")
        .query("type", "callback.test")
        .send()
        .await
        .json()
        .await
        .unwrap();
    let items = only_b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[1].as_str());
    assert_eq!(items[0]["attempts"][0]["status"], 400);
    assert_eq!(items[0]["event"]["data"], json!({"s": "b"}));

    rx.respond_with(|_| Reply::status(200));
    let r = app.signed_post(&format!("/v1/callbacks/dead/{}/redeliver", ids[1]), &json!({})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_disabled_by_410_is_shown_and_enabled_over_http() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(410));
    let cfg = config(&rx.url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;
    let r = app
        .signed_post("/v1/callbacks/test", &json!({"workspace": "acme", "session": "main"}))
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    rx.next(WAIT).await;
    let mut stats = Value::Null;
    for _ in 0..200 {
        stats = app.signed_get("/v1/callbacks/stats").await.json().await.unwrap();
        if !stats["disabled_endpoints"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats["disabled_endpoints"][0]["url"], rx.url.as_str());
    assert_eq!(stats["queued"], 1);
    let mut metrics = String::new();
    for _ in 0..500 {
        metrics = app.metrics().await;
        if metrics.lines().any(|l| l.ends_with("callbacks_disabled_endpoints 1")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(metrics.lines().any(|l| l.ends_with("callbacks_disabled_endpoints 1")), "{metrics}");

    rx.respond_with(|_| Reply::status(200));
    let r = app.signed(Method::POST, "/v1/callbacks/endpoints/enable").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], json!([rx.url]));
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), id);
}

/// L6: webhook URLs often carry a token in their query string; no response shows it (stats,
/// dead letters and their attempts, the endpoints enabled), nor the URL's credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_show_callback_urls_without_their_query_string() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(400));
    let url = format!("{}?token=TOKEN-IN-URL", rx.url);
    let shown = format!("{}?redacted", rx.url);
    let cfg = config(&url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;
    let test = json!({"workspace": "acme", "session": "main"});
    app.signed_post("/v1/callbacks/test", &test).await;
    rx.next(WAIT).await;
    let mut dead = Value::Null;
    for _ in 0..500 {
        dead = app.signed_get("/v1/callbacks/dead").await.json().await.unwrap();
        if !dead["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead["items"][0]["attempts"][0]["url"], shown.as_str(), "{dead}");
    assert!(!dead.to_string().contains("TOKEN-IN-URL"), "{dead}");

    rx.respond_with(|_| Reply::status(410));
    app.signed_post("/v1/callbacks/test", &test).await;
    let mut stats = Value::Null;
    for _ in 0..500 {
        stats = app.signed_get("/v1/callbacks/stats").await.json().await.unwrap();
        if !stats["disabled_endpoints"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats["disabled_endpoints"][0]["url"], shown.as_str(), "{stats}");
    assert_eq!(stats["default_endpoint"], shown.as_str(), "{stats}");
    assert!(!stats.to_string().contains("TOKEN-IN-URL"), "{stats}");

    rx.respond_with(|_| Reply::status(200));
    let r = app.signed_post("/v1/callbacks/endpoints/enable", &json!({ "url": url })).await;
    let enabled = r.text().await.unwrap();
    assert!(enabled.contains(&shown) && !enabled.contains("TOKEN-IN-URL"), "{enabled}");

    // A session's own callback_url, read back.
    let create = json!({"id": "own", "start": false, "callback_url": url});
    let created = app.signed_post("/v1/workspaces/acme/sessions", &create).await;
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["callback_url"], shown.as_str(), "{created}");
    let read = app.signed_get("/v1/workspaces/acme/sessions/own").await.text().await.unwrap();
    assert!(!read.contains("TOKEN-IN-URL"), "{read}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_callbacks_routes() {
    let app = spawn_app_with(|_| {}).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/v1/callbacks/dead",
        "/v1/callbacks/dead/{id}/redeliver",
        "/v1/callbacks/endpoints/enable",
        "/v1/callbacks/stats",
        "/v1/callbacks/test",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    assert!(doc["components"]["schemas"]["DeadLetter"].is_object());
}

/// L3: a session created with its own `callback_secret` has its callbacks signed with it alone:
/// each tenant's endpoint verifies with its own secret and with no other (neither the other
/// tenant's nor the host's), sessions without one keep the global secret, and the secret is never
/// echoed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_secret_signs_only_its_own_endpoint_s_callbacks() {
    const OWN_1: &str = "whsec_dGVuYW50LW9uZS1jYWxsYmFjay1zZWNyZXQtMzI=";
    const OWN_2: &str = "whsec_dGVuYW50LXR3by1jYWxsYmFjay1zZWNyZXQtMzI=";
    let mut host = TestReceiver::start().await;
    let mut one = TestReceiver::start().await;
    let mut two = TestReceiver::start().await;
    let cfg = config(&host.url);
    let app = spawn_app_with(|s| s.callbacks = cfg).await;
    for (id, url, secret) in [("one", &one.url, OWN_1), ("two", &two.url, OWN_2)] {
        let create =
            json!({"id": id, "start": false, "callback_url": url, "callback_secret": secret});
        let r = app.signed_post("/v1/workspaces/acme/sessions", &create).await;
        let text = r.text().await.unwrap();
        assert!(!text.contains(&secret[6..20]), "the secret is echoed: {text}");
        let shown = app.signed_get(&format!("/v1/workspaces/acme/sessions/{id}")).await;
        assert!(!shown.text().await.unwrap().contains(&secret[6..20]));
    }
    let plain = json!({"id": "plain", "start": false});
    assert_eq!(app.signed_post("/v1/workspaces/acme/sessions", &plain).await.status(), 201);

    for session in ["one", "two", "plain"] {
        let test = json!({"workspace": "acme", "session": session});
        assert_eq!(app.signed_post("/v1/callbacks/test", &test).await.status(), 202);
    }
    let (got_one, got_two, got_host) =
        (one.next(WAIT).await, two.next(WAIT).await, host.next(WAIT).await);
    assert_eq!(got_one.json()["session"], "one");
    verify::standard_webhooks(OWN_1, &got_one).expect("tenant one verifies with its secret");
    verify::standard_webhooks(OWN_2, &got_two).expect("tenant two verifies with its secret");
    verify::standard_webhooks(SECRET_A, &got_host).expect("the host keeps the global secret");
    for (got, others) in
        [(&got_one, [OWN_2, SECRET_A]), (&got_two, [OWN_1, SECRET_A]), (&got_host, [OWN_1, OWN_2])]
    {
        for other in others {
            assert!(verify::standard_webhooks(other, got).is_err(), "verified with another secret");
        }
    }

    let bad = json!({"id": "bad", "callback_url": one.url, "callback_secret": "whsec_c2hvcnQ="});
    let r = app.signed_post("/v1/workspaces/acme/sessions", &bad).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("INVALID_FIELD") && !body.contains("c2hvcnQ"), "{body}");
    let alone = json!({"id": "alone", "callback_secret": OWN_1});
    assert_envelope(
        app.signed_post("/v1/workspaces/acme/sessions", &alone).await,
        400,
        "INVALID_FIELD",
    )
    .await;
}
