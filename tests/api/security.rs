//! Reproductions of the security review's findings (../shared/reference/security-review.md), each
//! through the real server: SSRF at session create, `/metrics` label floods, one key locking out
//! another through the nonce cache, unauthenticated bodies holding memory, per-workspace session
//! quotas, private file modes and what `/health/ready` shows. Every target is on loopback; SSRF
//! refusals are checked before any connection.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::{assert_envelope, spawn_app_with, unix_now, TestKey};

#[tokio::test]
async fn a_workspace_key_cannot_point_its_session_at_internal_addresses() {
    // The review's M2 reproduction: all of these answered 201.
    let app = spawn_app_with(|s| s.net.allow_private_targets = Some(false)).await;
    let url = "/v1/workspaces/a/sessions";
    for target in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.1:18999/admin/users/delete",
        "http://0x7f000001:18999/x",
        "http://2130706433:18999/x",
        "http://[::ffff:127.0.0.1]:18999/y",
        "http://[64:ff9b::a00:1]/nat64",
        "http://10.0.0.5/hook",
        "http://localhost:18999/x",
    ] {
        let body = json!({"id": "s1", "start": false, "callback_url": target});
        let refused =
            assert_envelope(app.signed_post(url, &body).await, 400, "CALLBACK_URL_NOT_PUBLIC")
                .await;
        assert!(refused["error"]["message"].as_str().unwrap().contains("refused"), "{refused}");
    }
    let list: serde_json::Value = app.signed_get(url).await.json().await.unwrap();
    assert_eq!(list["sessions"], json!([]), "nothing was created");
}

#[tokio::test]
async fn private_targets_are_allowed_where_the_operator_says_so() {
    // Development default: local receivers work; metadata never does.
    let app = spawn_app_with(|_| {}).await;
    let url = "/v1/workspaces/a/sessions";
    let local = json!({"id": "s1", "start": false, "callback_url": "http://127.0.0.1:9/hook"});
    assert_eq!(app.signed_post(url, &local).await.status(), 201);
    let metadata = json!({"id": "s2", "start": false, "callback_url": "http://169.254.169.254/"});
    assert_envelope(app.signed_post(url, &metadata).await, 400, "CALLBACK_URL_NOT_PUBLIC").await;
}

#[tokio::test]
async fn a_flood_of_odd_methods_and_paths_leaves_the_scrape_flat() {
    let app = spawn_app_with(|_| {}).await;
    let flood = |round: usize| {
        let app = &app;
        async move {
            for i in 0..60 {
                let method =
                    Method::from_bytes(format!("X{round}M{i}{}", "Q".repeat(200)).as_bytes())
                        .unwrap();
                let path = format!("/odd/{round}/{i}/{}", "p".repeat(100));
                let _ = app.client.request(method.clone(), app.url(&path)).send().await.unwrap();
                let _ =
                    app.client.request(method, app.url("/v1/workspaces/a")).send().await.unwrap();
            }
        }
    };
    let _ = app.metrics().await;
    flood(0).await;
    let after_first = app.metrics().await;
    flood(1).await;
    let after_second = app.metrics().await;
    assert!(!after_second.contains("QQQQ") && !after_second.contains("/odd/"), "{after_second}");
    assert!(after_second.contains("method=\"other\""), "{after_second}");
    // Counts change, label sets do not: the same lines (numbers aside) after twice the flood.
    let shape = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').map_or(l, |(labels, _)| labels).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&after_first), shape(&after_second));
}

#[tokio::test]
async fn requests_refused_by_the_allow_list_add_no_label_sets() {
    let app = spawn_app_with(|s| s.auth.allow_ips = vec!["10.0.0.0/8".into()]).await;
    for i in 0..50 {
        let method = Method::from_bytes(format!("FLOOD{i}").as_bytes()).unwrap();
        let response = app.client.request(method, app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 403);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &app.state.registry).unwrap();
    assert!(!text.contains("FLOOD"), "{text}");
    assert!(
        !text.contains("wa_sidecar_http_requests_total{"),
        "refused requests are not counted per route:\n{text}"
    );
    assert!(text.contains("reason=\"ip_not_allowed\"} 50"), "{text}");
}

#[tokio::test]
async fn a_scoped_key_flooding_future_dated_requests_cannot_lock_out_the_host() {
    // The review's M1 reproduction: 102 requests signed at now+299 by a tenant key, then the
    // host's key was refused as nonce_cache_full for about five minutes.
    let host = TestKey::random("host");
    let tenant = TestKey::random("tenant");
    let (h, t) = (host.clone(), tenant.clone());
    let app = spawn_app_with(move |s| {
        s.auth.keys = vec![h.config(&["*"]), t.config(&["a"])];
        s.auth.nonce_cache_entries = 100;
    })
    .await;
    assert_eq!(app.signed_get("/v1/workspaces/a").await.status(), 200);
    let mut accepted = 0;
    for _ in 0..102 {
        let sent = app
            .signed(Method::GET, "/v1/workspaces/a")
            .key(&tenant)
            .timestamp(unix_now() + 299)
            .send()
            .await;
        accepted += usize::from(sent.status() == 200);
    }
    // Its own cache is full: past 100 it refuses itself (its floor is now+299), nobody else.
    assert!(accepted >= 100, "{accepted}");
    for _ in 0..3 {
        assert_eq!(
            app.signed_get("/v1/workspaces/a").await.status(),
            200,
            "the host still gets in"
        );
    }
}

/// Opens a connection that sends a signed-looking request head and `sent` of `declared` body
/// bytes, then stalls (the review's M4 upload).
async fn stalled_upload(
    app: &crate::helpers::TestApp,
    declared: usize,
    sent: usize,
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = format!(
        "POST /v1/workspaces/a/sessions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {declared}\r\nx-key-id: test\r\nx-timestamp: {}\r\nx-nonce: {}\r\nx-hmac-signature: v1=00\r\n\r\n",
        unix_now(),
        hex::encode(rand::random::<[u8; 16]>())
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test]
async fn unauthenticated_uploads_cannot_hold_more_than_the_budget() {
    let app = spawn_app_with(|s| {
        s.server.workers = 2;
        s.server.max_body_bytes = 64 * 1024;
        s.server.max_pending_body_bytes = 64 * 1024;
        s.server.max_pending_body_bytes_per_ip = 64 * 1024;
    })
    .await;
    let first = stalled_upload(&app, 64 * 1024, 62 * 1024).await;
    let budget = app.state.body_budget.clone();
    let held = tokio::time::timeout(Duration::from_secs(10), async {
        while budget.in_use() < 62 * 1024 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "the stalled upload is buffered ({} bytes)", budget.in_use());
    // A second upload would pass the budget: refused at once, not buffered. (Small enough to
    // arrive in one read, so the refusal never races unread bytes on the connection.)
    let over = vec![b' '; 3 * 1024];
    let response = app
        .signed(Method::POST, "/v1/workspaces/a/sessions")
        .raw_body(over, "application/json")
        .send()
        .await;
    assert_envelope(response, 503, "SERVER_BUSY").await;
    assert!(app.metrics().await.contains("reason=\"body_budget_exhausted\"} 1"));
    assert!(budget.in_use() <= 64 * 1024);
    // Small bodies still fit, and what the stalled one held comes back when it goes.
    let small = json!({"id": "ok", "start": false});
    assert_eq!(app.signed_post("/v1/workspaces/a/sessions", &small).await.status(), 201);
    drop(first);
    let released = tokio::time::timeout(Duration::from_secs(10), async {
        while budget.in_use() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "released when the connection closed ({} bytes)", budget.in_use());
}

#[tokio::test]
async fn one_workspace_cannot_take_every_session_slot() {
    let app = spawn_app_with(|s| s.sessions.max_per_workspace = 2).await;
    let create = |ws: &str, id: &str| {
        let url = format!("/v1/workspaces/{ws}/sessions");
        let body = json!({"id": id, "start": false});
        let app = &app;
        async move { app.signed_post(&url, &body).await }
    };
    assert_eq!(create("a", "s1").await.status(), 201);
    assert_eq!(create("a", "s2").await.status(), 201);
    let body =
        assert_envelope(create("a", "s3").await, 409, "WORKSPACE_SESSION_LIMIT_REACHED").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("max_per_workspace"), "{body}");
    assert!(!app.settings.server.sessions_dir.join("a").join("s3").exists());
    assert_eq!(create("b", "s1").await.status(), 201, "other workspaces still have room");
}

#[tokio::test]
async fn data_directories_and_the_database_are_private_even_when_made_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sessions = dir.path().join("sessions");
    for d in [&data, &sessions] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let app = crate::helpers::spawn_app_in(dir, |_| {}).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&sessions), 0o700);
    assert_eq!(mode(&data.join("sidecar.db")), 0o600);
    let body = json!({"id": "s1", "start": false});
    assert_eq!(app.signed_post("/v1/workspaces/a/sessions", &body).await.status(), 201);
    let record = sessions.join("a").join("s1");
    assert_eq!(mode(&record), 0o700);
    assert_eq!(mode(&record.join("session.toml")), 0o600);
}

#[tokio::test]
async fn readiness_names_no_path_to_unauthenticated_callers() {
    let app =
        spawn_app_with(|s| s.engine.bridge_path = "/nonexistent/wa-js/bridge.js".into()).await;
    let text = app.get("/health/ready").await.text().await.unwrap();
    let root = app.dir.path().to_str().unwrap().to_owned();
    for leak in [root.as_str(), "/usr/lib/chromium", "/nonexistent"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert!(text.contains("ops/fetch-bridge.sh"), "{text}");
    let probes: Vec<_> = std::fs::read_dir(app.data_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ready-"))
        .collect();
    assert!(probes.is_empty());
}

/// M6: the queue bound counted events only and was applied once a minute, so a burst passed it
/// for that long and big events were not bounded at all. Now each enqueue is checked against the
/// workspace's events and bytes (and the outbox's total bytes) before it commits.
#[tokio::test]
async fn a_burst_cannot_pass_a_workspace_s_queue_bound_of_events_or_bytes() {
    // No endpoint is configured, so every event waits: the blackholed tenant of the review's M6.
    let app = spawn_app_with(|s| {
        s.callbacks.max_queued_per_workspace = 3;
        s.callbacks.max_queued_bytes_per_workspace = 4096;
    })
    .await;
    let key = |ws: &str| {
        wa_sidecar::ids::SessionKey::new(
            wa_sidecar::ids::WorkspaceId::parse(ws).unwrap(),
            wa_sidecar::ids::SessionId::parse("main").unwrap(),
        )
    };
    let outbox = &app.state.outbox;
    let now = std::time::SystemTime::now;
    let results: Vec<bool> = (0..5)
        .map(|i| outbox.enqueue("session.status", &key("a"), &json!({"n": i}), now()).is_ok())
        .collect();
    assert_eq!(results, [true, true, true, false, false], "the burst stops at the bound");
    let refused = outbox.enqueue("session.status", &key("a"), &json!({}), now()).unwrap_err();
    assert!(refused.to_string().contains("max_queued_per_workspace"), "{refused}");
    // Bytes: two 3 KB events do not fit in 4 KiB; the small one after them does.
    let big = json!({"blob": "x".repeat(3000)});
    assert!(outbox.enqueue("session.status", &key("b"), &big, now()).is_ok());
    let refused = outbox.enqueue("session.status", &key("b"), &big, now()).unwrap_err();
    assert!(refused.to_string().contains("max_queued_bytes_per_workspace"), "{refused}");
    assert!(outbox.enqueue("session.status", &key("b"), &json!({}), now()).is_ok());

    // The API refuses with a stable code, and queues nothing.
    let response = app
        .signed(Method::POST, "/v1/callbacks/test")
        .json(&json!({"workspace": "a", "session": "main"}))
        .send()
        .await;
    assert_envelope(response, 503, "CALLBACK_QUEUE_FULL").await;
    let stats: serde_json::Value =
        app.signed_get("/v1/callbacks/stats").await.json().await.unwrap();
    assert_eq!(stats["queued"], 5, "3 of a and 2 of b queued: {stats}");
    assert_eq!(stats["dead"], 0, "nothing half-done: {stats}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("callbacks_refused_total{bound=\"workspace_events\"} 4"), "{metrics}");
    assert!(metrics.contains("callbacks_refused_total{bound=\"workspace_bytes\"} 1"), "{metrics}");
}

/// M3: drops at the page → sidecar binding are in `/metrics`, one series per reason of a closed
/// set, there from the start (the engine test counts them growing with real Chromium).
#[tokio::test]
async fn binding_drops_are_scraped_with_a_closed_set_of_reasons() {
    let app = spawn_app_with(|_| {}).await;
    let metrics = app.metrics().await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("wa_sidecar_engine_bridge_dropped_total"))
        .collect();
    let reasons = ["oversize", "rate", "unparseable", "unexpected_type", "foreign_context"];
    assert_eq!(series.len(), reasons.len(), "{series:?}");
    for reason in reasons {
        let line = format!("wa_sidecar_engine_bridge_dropped_total{{reason=\"{reason}\"}} 0");
        assert!(series.contains(&line.as_str()), "{line} missing: {series:?}");
    }
}
