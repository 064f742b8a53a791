//! The outbox core against a real receiver: signing, retries, 410, 4xx, Retry-After, order,
//! QR supersession, dead letters and redelivery, restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wa_sidecar::callbacks::dead::DeadFilter;
use wa_sidecar::events::kind::{SESSION_QR, SESSION_STATUS};

use super::receiver::{Reply, TestReceiver};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_both_rotated_secrets_and_spatie() {
    let mut rx = TestReceiver::start().await;
    let mut cfg = config(&rx.url);
    cfg.secrets = vec![SECRET_A.into(), SECRET_B.into()];
    cfg.spatie_signature = true;
    let h = Harness::started(&cfg);
    let id = h.send(SESSION_STATUS, &key("acme", "main"), json!({"status": "connected"}));

    let got = rx.next(WAIT).await;
    verify::standard_webhooks(SECRET_A, &got).expect("first secret verifies");
    verify::standard_webhooks(SECRET_B, &got).expect("second secret verifies");
    assert_eq!(got.header("webhook-signature").split(' ').count(), 2);
    let stranger = "whsec_dGhpcy1pcy1ub3QtdGhlLXNlY3JldC1hdC1hbGwh";
    assert!(verify::standard_webhooks(stranger, &got).is_err(), "a foreign secret must not verify");
    verify::spatie(SECRET_A, &got).expect("spatie Signature verifies with the first secret");

    let body = got.json();
    assert_eq!(got.header("webhook-id"), id);
    assert_eq!(body["id"], id);
    assert_eq!(body["type"], "session.status");
    assert_eq!(
        (body["workspace"].as_str(), body["session"].as_str()),
        (Some("acme"), Some("main"))
    );
    assert_eq!(body["data"], json!({"status": "connected"}));
    let ts = body["timestamp"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(ts).is_ok(), "timestamp {ts} is RFC 3339");
    assert!(got.header("user-agent").starts_with("wa-sidecar/"));
    assert_eq!(got.header("content-type"), "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_until_success() {
    let mut rx = TestReceiver::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    rx.respond_with(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::status(503)
        } else {
            Reply::status(204)
        }
    });
    let h = Harness::started(&config(&rx.url));
    let id = h.send(SESSION_STATUS, &key("acme", "main"), json!({"status": "starting"}));

    for _ in 0..3 {
        let got = rx.next(WAIT).await;
        assert_eq!(got.header("webhook-id"), id, "every retry carries the same webhook-id");
        verify::standard_webhooks(SECRET_A, &got).unwrap();
    }
    eventually(WAIT, || {
        let s = h.outbox.stats().unwrap();
        s.counts.queued == 0 && s.delivered_since_start == 1
    })
    .await;
    let stats = h.outbox.stats().unwrap();
    assert_eq!(
        (stats.delivered_since_start, stats.retried_since_start, stats.counts.dead),
        (1, 2, 0)
    );
    rx.expect_nothing(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_stops_delivery_and_disables_the_endpoint_until_enabled() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(410));
    let h = Harness::started(&config(&rx.url));
    let first = h.send(SESSION_STATUS, &key("acme", "a"), json!({"n": 1}));

    assert_eq!(rx.next(WAIT).await.header("webhook-id"), first);
    eventually(WAIT, || !h.outbox.stats().unwrap().disabled_endpoints.is_empty()).await;
    let second = h.send(SESSION_STATUS, &key("acme", "b"), json!({"n": 2}));
    rx.expect_nothing(Duration::from_millis(300)).await;
    let stats = h.outbox.stats().unwrap();
    assert_eq!(stats.disabled_endpoints[0].url, rx.url);
    assert_eq!(stats.counts.queued, 2, "nothing is lost while the endpoint is disabled");
    assert_eq!(stats.counts.dead, 0);

    rx.respond_with(|_| Reply::status(200));
    assert_eq!(h.outbox.enable_endpoints(Some(&rx.url)).unwrap(), vec![rx.url.clone()]);
    let mut ids = vec![
        rx.next(WAIT).await.header("webhook-id").to_owned(),
        rx.next(WAIT).await.header("webhook-id").to_owned(),
    ];
    ids.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(ids, want);
    assert!(h.outbox.stats().unwrap().disabled_endpoints.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried_and_the_next_event_goes_on() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|r| {
        if r.json()["data"]["n"] == 1 {
            Reply::status(422)
        } else {
            Reply::status(200)
        }
    });
    let h = Harness::started(&config(&rx.url));
    let k = key("acme", "main");
    let refused = h.send(SESSION_STATUS, &k, json!({"n": 1}));
    let next = h.send(SESSION_STATUS, &k, json!({"n": 2}));

    assert_eq!(rx.next(WAIT).await.header("webhook-id"), refused);
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), next);
    rx.expect_nothing(Duration::from_millis(300)).await;
    let dead = h.outbox.dead_letters(&DeadFilter { limit: 10, ..Default::default() }).unwrap();
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].id, refused);
    assert_eq!(dead.items[0].attempts.len(), 1);
    assert_eq!(dead.items[0].attempts[0].status, Some(422));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let mut rx = TestReceiver::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    rx.respond_with(move |_| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::status(429).header("Retry-After", "1"),
        _ => Reply::status(200),
    });
    let h = Harness::started(&config(&rx.url)); // ladder is 20 ms: only Retry-After explains a 1 s gap
    h.send(SESSION_STATUS, &key("acme", "main"), json!({}));
    let first = rx.next(WAIT).await;
    let second = rx.next(WAIT).await;
    let gap = second.at - first.at;
    assert!(gap >= Duration::from_millis(950) && gap < Duration::from_secs(3), "gap {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_capped_by_its_bound() {
    let mut rx = TestReceiver::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    rx.respond_with(move |_| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::status(503).header("Retry-After", "3600"),
        _ => Reply::status(200),
    });
    let mut cfg = config(&rx.url);
    cfg.retry_after_max = Duration::from_millis(400);
    let h = Harness::started(&cfg);
    h.send(SESSION_STATUS, &key("acme", "main"), json!({}));
    let gap = {
        let a = rx.next(WAIT).await;
        rx.next(WAIT).await.at - a.at
    };
    assert!(gap >= Duration::from_millis(380) && gap < Duration::from_secs(3), "gap {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_waits_while_its_earlier_event_is_retried_and_others_go_on() {
    let mut rx = TestReceiver::start().await;
    let failures = Arc::new(AtomicUsize::new(0));
    let f = failures.clone();
    rx.respond_with(move |r| {
        let body = r.json();
        let first_of_slow = body["session"] == "slow" && body["data"]["n"] == 0;
        if first_of_slow && f.fetch_add(1, Ordering::SeqCst) < 3 {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    let mut cfg = config(&rx.url);
    // Long enough that the other session finishes its five events meanwhile, even on a busy machine.
    cfg.retry_schedule = vec![Duration::from_millis(200); 5];
    let h = Harness::open(&cfg);
    for n in 0..5 {
        h.send(SESSION_STATUS, &key("acme", "slow"), json!({"n": n}));
        h.send(SESSION_STATUS, &key("acme", "fast"), json!({"n": n}));
    }
    h.outbox.start();

    let mut seen: Vec<(String, u64)> = Vec::new();
    while seen.iter().filter(|(s, _)| s == "slow").count() < 8 {
        let b = rx.next(WAIT).await.json();
        seen.push((b["session"].as_str().unwrap().to_owned(), b["data"]["n"].as_u64().unwrap()));
    }
    let order = |s: &str| seen.iter().filter(|(x, _)| x == s).map(|(_, n)| *n).collect::<Vec<_>>();
    assert_eq!(order("slow"), [0, 0, 0, 0, 1, 2, 3, 4], "later events wait for the retried one");
    assert_eq!(order("fast"), [0, 1, 2, 3, 4], "another session is not held up");
    let fast_done = seen.iter().rposition(|(s, _)| s == "fast").unwrap();
    let slow_first_ok = seen.iter().rposition(|(s, n)| s == "slow" && *n == 0).unwrap();
    assert!(fast_done < slow_first_ok, "fast finished while slow was retrying: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_qr_replaces_undelivered_older_ones_but_never_a_status() {
    let mut rx = TestReceiver::start().await;
    let h = Harness::open(&config(&rx.url));
    let k = key("acme", "main");
    h.send(SESSION_STATUS, &k, json!({"status": "qr_required"}));
    h.send(SESSION_QR, &k, json!({"attempt": 1}));
    h.send(SESSION_QR, &key("acme", "other"), json!({"attempt": 1}));
    h.send(SESSION_STATUS, &k, json!({"status": "pairing"}));
    h.send(SESSION_QR, &k, json!({"attempt": 2}));
    h.send(SESSION_QR, &k, json!({"attempt": 3}));
    h.outbox.start();

    let mut main = Vec::new();
    let mut other = 0;
    for _ in 0..4 {
        let b = rx.next(WAIT).await.json();
        if b["session"] == "main" {
            main.push((b["type"].clone(), b["data"].clone()))
        } else {
            other += 1
        }
    }
    assert_eq!(other, 1, "another session's QR is untouched");
    assert_eq!(
        main,
        [
            (json!("session.status"), json!({"status": "qr_required"})),
            (json!("session.status"), json!({"status": "pairing"})),
            (json!("session.qr"), json!({"attempt": 3})),
        ]
    );
    rx.expect_nothing(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_in_flight_is_not_replaced_and_is_dropped_if_its_attempt_fails() {
    let mut rx = TestReceiver::start().await;
    // The first attempt of each QR is slow, so the next QR arrives while it is in flight.
    rx.respond_with(|r| match r.json()["data"]["attempt"].as_u64() {
        Some(1) => Reply::status(200).after(Duration::from_millis(300)),
        Some(2) => Reply::status(503).after(Duration::from_millis(300)),
        _ => Reply::status(200),
    });
    let h = Harness::started(&config(&rx.url));
    let mut registry = prometheus_client::registry::Registry::default();
    h.outbox.register_metrics(&mut registry);
    let k = key("acme", "main");
    let first = h.send(SESSION_QR, &k, json!({"attempt": 1}));
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), first);
    let second = h.send(SESSION_QR, &k, json!({"attempt": 2}));
    assert_eq!(
        rx.next(WAIT).await.header("webhook-id"),
        second,
        "the QR in flight was delivered, the newer one follows"
    );
    let third = h.send(SESSION_QR, &k, json!({"attempt": 3}));
    // The second QR's attempt fails after the third was queued: it is not retried.
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), third);
    rx.expect_nothing(Duration::from_millis(200)).await;
    let stats = h.outbox.stats().unwrap();
    assert_eq!((stats.delivered_since_start, stats.counts.queued, stats.counts.dead), (2, 0, 0));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.lines().any(|l| l == "callbacks_queued 0"),
        "the queued gauge agrees with the table:\n{text}"
    );
    assert!(text.lines().any(|l| l == "callbacks_superseded_total 1"), "{text}");
    assert!(text.contains("callbacks_delivery_latency_seconds_count 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_events_become_dead_letters_that_list_and_redeliver() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(500));
    let mut cfg = config(&rx.url);
    cfg.retry_schedule = vec![Duration::from_millis(10)];
    let h = Harness::started(&cfg);
    let a = h.send(SESSION_STATUS, &key("acme", "a"), json!({"n": 1}));
    let b = h.send(SESSION_QR, &key("acme", "b"), json!({"n": 2}));
    for _ in 0..4 {
        rx.next(WAIT).await;
    }
    eventually(WAIT, || h.outbox.stats().unwrap().counts.dead == 2).await;

    let all = h.outbox.dead_letters(&DeadFilter { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(all.items.len(), 1);
    let rest = DeadFilter {
        limit: 1,
        before: all.next_cursor.as_ref().map(|c| c.parse().unwrap()),
        ..Default::default()
    };
    let page2 = h.outbox.dead_letters(&rest).unwrap();
    assert_eq!(page2.items.len(), 1);
    assert!(page2.next_cursor.is_none());
    assert_ne!(all.items[0].id, page2.items[0].id);

    let only_a = h
        .outbox
        .dead_letters(&DeadFilter { session: Some("a".into()), limit: 10, ..Default::default() })
        .unwrap();
    assert_eq!(only_a.items.len(), 1);
    let letter = &only_a.items[0];
    assert_eq!(letter.id, a);
    assert_eq!(letter.event["data"], json!({"n": 1}));
    assert_eq!(letter.attempts.len(), 2, "every attempt is kept");
    assert!(letter
        .attempts
        .iter()
        .all(|t| t.status == Some(500) && t.error.as_deref().unwrap().starts_with("HTTP 500")));
    let qr_only = DeadFilter { kind: Some("session.qr".into()), limit: 10, ..Default::default() };
    assert_eq!(h.outbox.dead_letters(&qr_only).unwrap().items[0].id, b);

    rx.respond_with(|_| Reply::status(200));
    h.outbox.redeliver(&a).unwrap();
    let got = rx.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), a, "redelivery keeps the webhook-id");
    verify::standard_webhooks(SECRET_A, &got).unwrap();
    eventually(WAIT, || h.outbox.stats().unwrap().counts.dead == 1).await;
    assert!(h.outbox.redeliver(&a).is_err(), "a delivered letter is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_restart_are_delivered_by_the_next_process() {
    let mut rx = TestReceiver::start().await;
    let h = Harness::open(&config(&rx.url));
    let ids: Vec<String> =
        (0..3).map(|n| h.send(SESSION_STATUS, &key("acme", "main"), json!({"n": n}))).collect();
    let path = h.dir.path().join("data/sidecar.db");
    let reopened = wa_sidecar::callbacks::Outbox::open(
        &config(&rx.url),
        &path,
        super::loopback(),
        super::vault_keys(),
    )
    .unwrap();
    reopened.start();
    for id in &ids {
        assert_eq!(&rx.next(WAIT).await.header("webhook-id"), id);
    }
    reopened.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_endpoint_overrides_the_global_one() {
    let mut global = TestReceiver::start().await;
    let mut own = TestReceiver::start().await;
    let h = Harness::started(&config(&global.url));
    let k = key("acme", "own");
    let url = url::Url::parse(&own.url).unwrap();
    h.outbox.set_session_endpoint(&k, Some(&url)).unwrap();
    let bad = url::Url::parse("ftp://host/x").unwrap();
    assert!(h.outbox.set_session_endpoint(&k, Some(&bad)).is_err());
    h.send(SESSION_STATUS, &k, json!({}));
    h.send(SESSION_STATUS, &key("acme", "plain"), json!({}));
    assert_eq!(own.next(WAIT).await.json()["session"], "own");
    assert_eq!(global.next(WAIT).await.json()["session"], "plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_endpoint_events_wait_until_one_is_set() {
    let mut rx = TestReceiver::start().await;
    let h = Harness::started(&config(""));
    let k = key("acme", "later");
    let id = h.send(SESSION_STATUS, &k, json!({"state": "starting"}));
    rx.expect_nothing(Duration::from_millis(300)).await;
    assert_eq!(h.outbox.stats().unwrap().counts.queued, 1, "kept, not dropped");
    h.outbox.set_session_endpoint(&k, Some(&url::Url::parse(&rx.url).unwrap())).unwrap();
    assert_eq!(rx.next(WAIT).await.header("webhook-id"), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_delivers_every_event_and_reports_percentiles() {
    use wa_sidecar::callbacks::bench::{run, BenchOptions};
    let options = BenchOptions { events: 200, sessions: 4, workers: 4, ..BenchOptions::default() };
    let report = run(options).await.expect("every event arrives");
    assert!(report.delivered_per_sec > 0.0 && report.enqueue_per_sec > 0.0);
    assert!(report.p50 <= report.p99 && report.p99 <= report.max, "{report}");
    assert!(report.to_string().contains("p99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_bench_drains_a_queue_filled_before_delivery_starts() {
    use wa_sidecar::callbacks::bench::{run, BenchOptions};
    let options = BenchOptions {
        events: 3000,
        sessions: 7,
        workers: 4,
        backlog: true,
        ..BenchOptions::default()
    };
    let report = run(options).await.expect("every queued event arrives");
    assert!(report.delivered_per_sec > 0.0, "{report}");
    assert!(report.to_string().contains("backlog drain"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_reuse_the_connection_after_a_2xx_with_a_body() {
    // A 2xx whose body arrives after its head: the client must read it for keep-alive to work.
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(200).body(vec![b'x'; 16 * 1024]));
    let h = Harness::started(&config(&rx.url));
    for n in 0..10 {
        h.send(SESSION_STATUS, &key("acme", "main"), json!({"n": n}));
    }
    for _ in 0..10 {
        rx.next(WAIT).await;
    }
    // Without reading the body every delivery opens its own connection (10). A connection goes
    // back to the pool just after its body ends, so on a busy machine the next attempt can
    // occasionally beat it and open a second one.
    let opened = rx.connections();
    assert!(opened <= 3, "{opened} connections for 10 events: keep-alive is not reused");
}

/// The review's M6 head-of-line block: one event the host keeps refusing (a 500 for that payload
/// only) held its session's later events for the whole retry ladder (~3 days by default). Past
/// `max_head_block`, while the same host accepts other callbacks, it moves to dead letters and the
/// session's later events flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_its_host_keeps_refusing_is_parked_and_later_events_flow() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|r| {
        if r.json()["data"]["poison"] == true {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    let mut cfg = config(&rx.url);
    // Without the bound the second retry is a minute away, holding "stuck" past this test's wait.
    cfg.retry_schedule =
        vec![Duration::from_millis(50), Duration::from_secs(60), Duration::from_secs(60)];
    cfg.max_head_block = Duration::from_millis(400);
    let h = Harness::started(&cfg);
    let poison = h.send(SESSION_STATUS, &key("acme", "stuck"), json!({"poison": true}));
    h.send(SESSION_STATUS, &key("acme", "stuck"), json!({"n": 1}));
    let started = std::time::Instant::now();
    let mut other = 0;
    // Another session on the same host keeps getting through: the host is up.
    let arrived = loop {
        assert!(started.elapsed() < WAIT, "the later event of the stuck session never arrived");
        other += 1;
        h.send(SESSION_STATUS, &key("acme", "other"), json!({"n": other}));
        let got =
            tokio::time::timeout(Duration::from_millis(100), async { rx.next(WAIT).await }).await;
        if let Ok(r) = got {
            let b = r.json();
            if b["session"] == "stuck" && b["data"]["n"] == 1 {
                break started.elapsed();
            }
        }
    };
    assert!(arrived >= Duration::from_millis(400), "not before the bound: {arrived:?}");
    let dead = h.outbox.dead_letters(&DeadFilter { limit: 50, ..Default::default() }).unwrap();
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].id, poison);
    assert!(dead.items[0].reason.contains("max_head_block"), "{}", dead.items[0].reason);
    // It can be sent again: at the end of its session's queue, same id.
    h.outbox.redeliver(&poison).unwrap();
}

/// A host that is down for everything keeps each session's order: nothing is parked however
/// long the heads fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_down_for_everything_parks_nothing() {
    let mut rx = TestReceiver::start().await;
    rx.respond_with(|_| Reply::status(503));
    let mut cfg = config(&rx.url);
    cfg.retry_schedule = vec![Duration::from_millis(20); 30];
    cfg.max_head_block = Duration::from_millis(100);
    let h = Harness::started(&cfg);
    for n in 0..3 {
        h.send(SESSION_STATUS, &key("acme", "a"), json!({"n": n}));
        h.send(SESSION_STATUS, &key("acme", "b"), json!({"n": n}));
    }
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(600) {
        let b = rx.next(WAIT).await.json();
        assert_eq!(b["data"]["n"], 0, "only heads are tried: {b}");
    }
    assert_eq!(h.outbox.stats().unwrap().counts.dead, 0);
}

/// L3: a session's own callback secret never lies on disk in the clear (the database, its WAL,
/// anything in the data folder), and the next process, which reads it back sealed with the vault
/// keys, still signs that session's callbacks with it and with nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_secret_is_sealed_on_disk_and_still_signs_after_a_restart() {
    const OWN: &str = "whsec_c2VhbGVkLWF0LXJlc3QtY2FsbGJhY2stc2VjcmV0";
    let mut own = TestReceiver::start().await;
    let host = TestReceiver::start().await;
    let h = Harness::open(&config(&host.url));
    let sealed = key("acme", "sealed");
    let own_url = url::Url::parse(&own.url).unwrap();
    h.outbox.set_session_endpoint(&sealed, Some(&own_url)).unwrap();
    let secret = wa_sidecar::callbacks::sign::Secret::parse(OWN).unwrap();
    h.outbox.set_session_secret(&sealed, Some(&secret)).unwrap();
    let id = h.send(SESSION_STATUS, &sealed, json!({"n": 1}));

    let files = crate::sessions::vault::files_under(h.dir.path());
    assert!(files.iter().any(|f| f.ends_with("sidecar.db-wal")), "no WAL among {files:?}");
    let clear = crate::sessions::vault::grep_tree(h.dir.path(), &OWN.as_bytes()[6..30]);
    assert_eq!(clear, Vec::<std::path::PathBuf>::new(), "files holding the secret in the clear");

    let path = h.dir.path().join("data/sidecar.db");
    let reopened = wa_sidecar::callbacks::Outbox::open(
        &config(&host.url),
        &path,
        super::loopback(),
        super::vault_keys(),
    )
    .unwrap();
    reopened.start();
    let got = own.next(WAIT).await;
    assert_eq!(got.header("webhook-id"), id);
    verify::standard_webhooks(OWN, &got).expect("signed with the session's own secret");
    assert!(verify::standard_webhooks(SECRET_A, &got).is_err(), "signed with the global secret");
}
