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

/// The full patterns of the leaf resources in the `Debug` text of actix's `ResourceMap` (the only
/// view of the route tree actix gives): each `ResourceMap { .. }` is a node whose own pattern is
/// the first `patterns: Single(".."))` in it; a leaf holds no other node; its full pattern joins
/// those of the nodes around it.
fn leaf_patterns(debug: &str) -> Vec<String> {
    let bytes = debug.as_bytes();
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    let mut search = 0;
    while let Some(found) = debug[search..].find("ResourceMap {") {
        let start = search + found;
        let (mut depth, mut end, mut in_string, mut escaped) = (0usize, start, false, false);
        for (i, &b) in bytes.iter().enumerate().skip(start) {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let marker = "patterns: Single(\"";
        let at =
            debug[start..end].find(marker).expect("a node has a pattern") + start + marker.len();
        let pattern = debug[at..].split('"').next().unwrap_or_default().to_owned();
        spans.push((start, end, pattern));
        search = start + 1;
    }
    let inside = |inner: &(usize, usize, String), outer: &(usize, usize, String)| {
        outer.0 < inner.0 && inner.1 < outer.1
    };
    let mut leaves: Vec<String> = spans
        .iter()
        .filter(|s| !spans.iter().any(|other| inside(other, s)))
        .map(|leaf| {
            let mut around: Vec<&(usize, usize, String)> =
                spans.iter().filter(|outer| inside(leaf, outer)).collect();
            around.sort_by_key(|s| s.0);
            around.iter().map(|s| s.2.as_str()).chain([leaf.2.as_str()]).collect::<String>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    leaves.sort();
    leaves.dedup();
    leaves
}

/// What the router serves: its resources' patterns, from the resource map of an app built with
/// the same route table as the server.
async fn router_patterns() -> Vec<String> {
    use actix_web::{test, web, App, HttpRequest, HttpResponse};
    let app = test::init_service(
        App::new().configure(wa_sidecar::api::routes::configure).default_service(web::to(
            |req: HttpRequest| async move {
                HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
            },
        )),
    )
    .await;
    let body =
        test::call_and_read_body(&app, test::TestRequest::get().uri("/no/such/route").to_request())
            .await;
    leaf_patterns(std::str::from_utf8(&body).unwrap())
}

/// Every route the router serves is in `/openapi.json` with exactly its methods, and nothing
/// else is: the patterns come from actix's route tree, the methods from each resource's own 405
/// (`Allow`) to a method none of them has.
#[tokio::test]
async fn openapi_lists_exactly_the_routes_and_methods_the_router_serves() {
    use std::collections::BTreeSet;

    let patterns = router_patterns().await;
    assert!(patterns.len() >= 35, "the route tree was not read: {patterns:?}");
    let app = spawn_app().await;
    let trace = Method::from_bytes(b"TRACE").unwrap();
    let mut served = BTreeSet::new();
    for pattern in &patterns {
        let path = pattern
            .replace("{workspace}", "acme")
            .replace("{session}", "main")
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let response = if path.starts_with("/v1/") {
            app.signed(trace.clone(), &path).send().await
        } else {
            app.client.request(trace.clone(), app.url(&path)).send().await.unwrap()
        };
        assert_eq!(response.status(), 405, "TRACE {path} ({pattern})");
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        for method in allow.split(',').map(|m| m.trim().to_ascii_lowercase()) {
            served.insert((pattern.clone(), method));
        }
    }
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in /openapi.json: {undocumented:?}\nin /openapi.json but not served: {unserved:?}"
    );
}

#[test]
fn the_route_tree_reader_joins_scopes_and_skips_strings() {
    let debug = r#"ResourceMap { pattern: ResourceDef { patterns: Single(""), x: "}{" }, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/a") }, nodes: None }, ResourceMap { pattern: ResourceDef { patterns: Single("/v1"), s: "\"{" }, nodes: Some([ResourceMap { pattern: ResourceDef { patterns: Single("/b/{id}") }, nodes: None }]) }]) }"#;
    assert_eq!(leaf_patterns(debug), vec!["/a".to_owned(), "/v1/b/{id}".to_owned()]);
}
