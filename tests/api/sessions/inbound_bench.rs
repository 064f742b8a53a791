//! Receiving bench (ignored by default; figures in docs/performance.md): phones send text
//! messages to N linked sessions at once, and the host's receiver (a real HTTP server) measures
//! messages/s and the latency from the phone's send to the signed callback; then media MB/s
//! stored (download from the page, check, seal, write) until the callback.
//!
//! `INBOUND_BENCH_SESSIONS=10 INBOUND_BENCH_MESSAGES=50 INBOUND_BENCH_MEDIA=10 \
//!  cargo nextest run -p wa-sidecar --test api --run-ignored only inbound_bench --no-capture`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::inbound::phone_sends;
use super::*;
use crate::receiver::TestReceiver;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Links session `id` to `phone` by scanning its QR.
async fn connect_as(app: &TestApp, sim: &SimServer, id: &str, phone: &str) {
    create(app, id).await;
    wait_state(app, id, "qr_required", Duration::from_secs(120)).await;
    let code = qr_text(app, id).await;
    control(sim, "/scan", json!({"code": code, "phone": phone})).await;
    wait_state(app, id, "connected", Duration::from_secs(120)).await;
}

#[tokio::test]
#[ignore = "bench: run on purpose, see the module doc"]
async fn inbound_bench() {
    let sessions = env("INBOUND_BENCH_SESSIONS", 10);
    let per = env("INBOUND_BENCH_MESSAGES", 50);
    let media = env("INBOUND_BENCH_MEDIA", 10);
    let sim = sim();
    let mut receiver = TestReceiver::start().await;
    let url = receiver.url.clone();
    let app = app_for(&sim, move |s| {
        s.callbacks.url = url;
        s.engine.ready_timeout_ms = 60_000;
        s.sessions.command_timeout_ms = 60_000;
    })
    .await;
    let phones: Vec<String> = (0..sessions).map(|i| format!("1555100{i:04}")).collect();
    for (i, p) in phones.iter().enumerate() {
        connect_as(&app, &sim, &format!("b{i}"), p).await;
    }
    // Linking callbacks come first; the loops below skip everything but messages.
    let total = sessions * per;
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    let client = reqwest::Client::new();
    for i in 0..per {
        for p in &phones {
            let text = format!("bench {p} {i}");
            sent_at.insert(text.clone(), Instant::now());
            let r = client
                .post(format!("{}/messages", sim.control_url()))
                .json(&json!({"from": "15557654321", "to": p, "type": "text", "text": text}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }
    let sending_took = started.elapsed();
    let mut latencies = Vec::with_capacity(total);
    let mut seen = std::collections::HashSet::new();
    while seen.len() < total {
        let got = receiver.next(Duration::from_secs(120)).await;
        let body = got.json();
        if body["type"] != "message.received" {
            continue;
        }
        let text = body["data"]["text"].as_str().unwrap_or("").to_owned();
        if seen.insert(body["data"]["id"].as_str().unwrap().to_owned()) {
            if let Some(t) = sent_at.get(&text) {
                latencies.push(got.at.duration_since(*t));
            }
        }
    }
    let took = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "inbound bench: {sessions} sessions, {total} text messages in {:.1} s (phones sending took {:.1} s) = {:.1} msg/s; latency p50 {:?} p99 {:?} max {:?}",
        took.as_secs_f64(),
        sending_took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );

    // Media: `media` files of 1 MiB spread over the sessions.
    let file: Vec<u8> =
        (0..1_048_576u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
    let started = Instant::now();
    for i in 0..media {
        let p = &phones[i % phones.len()];
        phone_sends(&sim, json!({"from": "15557654321", "to": p, "type": "document",
            "media": {"data": b64, "mimetype": "application/octet-stream", "filename": format!("f{i}.bin")}})).await;
    }
    let mut stored = 0;
    while stored < media {
        let body = receiver.next(Duration::from_secs(300)).await.json();
        if body["type"] == "message.received" && body["data"]["type"] == "document" {
            assert_eq!(body["data"]["media"]["status"], "stored", "{body}");
            stored += 1;
        }
    }
    let took = started.elapsed();
    println!(
        "inbound bench: {media} x 1 MiB media stored in {:.1} s = {:.2} MB/s",
        took.as_secs_f64(),
        media as f64 * 1.048576 / took.as_secs_f64()
    );
    stop_and_check(app).await;
}
