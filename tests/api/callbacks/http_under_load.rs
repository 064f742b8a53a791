//! Bench (ignored; run by name): the HTTP latency of signed requests while the outbox commits
//! events as fast as it can — each a durable commit (fsync), made from async tasks the way
//! session actors publish — and delivers them to a local receiver. Issue 14 asks for the p99
//! unchanged under that load: the commits must not hold the threads that serve HTTP.
//!
//! ```sh
//! cargo nextest run -p wa-sidecar --test api --run-ignored only \
//!   -E 'test(http_p99_while_the_outbox_commits)' --no-capture
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};

use super::helpers::{init, spawn_app_with};
use super::receiver::TestReceiver;
use super::*;

/// Signed requests per route and measurement.
const REQUESTS: usize = 600;

type Figures = (f64, f64, f64);

/// p50, p99 and max of `REQUESTS` signed GETs one after another, alternating: a session list
/// (no database) and the callbacks stats (the outbox's own database connection).
async fn latencies(app: &crate::helpers::TestApp) -> (Figures, Figures) {
    let paths = ["/v1/workspaces/bench/sessions", "/v1/callbacks/stats"];
    let mut took = [Vec::with_capacity(REQUESTS), Vec::with_capacity(REQUESTS)];
    for n in 0..REQUESTS * 2 {
        let started = Instant::now();
        let r = app.signed_get(paths[n % 2]).await;
        assert_eq!(r.status(), 200, "{}", paths[n % 2]);
        took[n % 2].push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let figures = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99), at(1.0))
    };
    let [sessions, stats] = took;
    (figures(sessions), figures(stats))
}

fn show(what: &str, f: Figures) {
    println!("  {what:<44} p50 {:>6.2} ms, p99 {:>6.2} ms, max {:>6.2} ms", f.0, f.1, f.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a bench: prints figures"]
async fn http_p99_while_the_outbox_commits_at_full_rate() {
    init();
    let receiver = TestReceiver::start().await;
    let callbacks = config(&receiver.url);
    let app = spawn_app_with(|s| s.callbacks = callbacks).await;

    let quiet = latencies(&app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for p in 0..2 {
        let (outbox, stop, committed) = (app.state.outbox.clone(), stop.clone(), committed.clone());
        producers.push(tokio::spawn(async move {
            let ws = WorkspaceId::parse("bench").unwrap();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let key = SessionKey::new(
                    ws.clone(),
                    SessionId::parse(&format!("p{p}s{}", n % 20)).unwrap(),
                );
                let data = json!({"status": "connected", "n": n});
                // As EventBus::publish commits: on the async worker, moved off it for the fsync.
                tokio::task::block_in_place(|| {
                    outbox.enqueue("session.status", &key, &data, SystemTime::now()).unwrap()
                });
                committed.fetch_add(1, Ordering::Relaxed);
                n += 1;
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let before = committed.load(Ordering::Relaxed);
    let loaded = latencies(&app).await;
    let rate =
        (committed.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for p in producers {
        p.await.unwrap();
    }
    println!(
        "HTTP latency of signed GETs ({REQUESTS} per route, one at a time), server.workers = 1:"
    );
    show("GET sessions, quiet", quiet.0);
    show("GET sessions, outbox at full rate", loaded.0);
    show("GET callbacks/stats (outbox db), quiet", quiet.1);
    show("GET callbacks/stats (outbox db), full rate", loaded.1);
    println!("  ({rate:.0} durable commits/s by the producers during the loaded measurement)");
    assert!(rate > 0.0, "the producers committed nothing");
}
