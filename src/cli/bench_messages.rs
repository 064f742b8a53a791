//! `wa-sidecar bench messages`: sending throughput from the API to WhatsApp's server ack. One
//! process runs wa-sim (WhatsApp Web and the phones, on 127.0.0.1) and the sidecar's real stack
//! pointed at it in a throwaway folder: N sessions, each a headless Chromium linked by the
//! simulated phone scanning its QR; pacing off. Every session then sends M texts through the
//! signed API, one request at a time (the sessions in parallel), and the bench waits for each
//! message's `message.status` past `queued` (`sent`, or later if the acks skipped it).
//!
//! Chromium is owned by the sidecar's engine (own process group, bounded waits, reaped); after
//! the graceful stop the bench checks that no browser is left under its folder and kills any that
//! is (and says so, exiting non-zero). Built with the `demo` feature (the embedded simulator).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::client::Client;
use crate::config::{load_keys, LoadOptions, RunMode, Settings};
use crate::events::kind;
use crate::startup::Application;

const WORKSPACE: &str = "bench";
/// The one recipient every session writes to (wa-sim knows every number).
const FRIEND: &str = "15557654321";

#[derive(Debug, Args)]
pub struct MessagesBenchArgs {
    /// Sessions (linked accounts, one Chromium each).
    #[arg(long, default_value_t = 10)]
    pub sessions: usize,
    /// Messages each session sends in the timed run.
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Untimed messages per session first (the first send to a chat also checks the number and
    /// resolves the chat).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Folder for data, sessions and profiles, kept afterwards (default: a temporary folder,
    /// removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Longest wait for the sessions to link, and for the acks, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

pub fn run(config: Option<PathBuf>, args: &MessagesBenchArgs) -> anyhow::Result<()> {
    if args.sessions == 0 || args.messages == 0 {
        bail!("--sessions and --messages must be at least 1");
    }
    let mut settings = Settings::load(&LoadOptions::from_process(config))?;
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("wa-sidecar-bench-messages-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(&mut settings, &dir, args);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(settings: &mut Settings, dir: &Path, args: &MessagesBenchArgs) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        settings.log.level = "error".into();
    }
    crate::telemetry::init(&settings.log, false)?;
    let load_before = load_average();
    let sim = wa_sim::SimServer::start(wa_sim::SimConfig::default())
        .context("starting the WhatsApp simulator")?;
    settings.mode = RunMode::development();
    settings.auth.keys.clear();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.data_dir = dir.join("data");
    settings.server.sessions_dir = dir.join("sessions");
    settings.engine.wa_web_url = sim.base_url();
    settings.engine.inject_bridge = false;
    settings.callbacks.url = String::new();
    settings.sending.pacing.enabled = false;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve_and_measure(settings.clone(), &sim, args));
    drop(runtime);
    sim.stop();
    println!("  load average (1 min): {load_before} before, {} after", load_average());
    let roots = [settings.server.data_dir.clone(), settings.server.sessions_dir.clone()];
    let left = crate::engine::kill_browsers_under(&roots, Duration::from_secs(10));
    if !left.is_empty() {
        bail!(
            "{} Chromium process group(s) outlived the stop and were killed: {left:?}",
            left.len()
        );
    }
    result
}

async fn serve_and_measure(
    settings: Settings,
    sim: &wa_sim::SimServer,
    args: &MessagesBenchArgs,
) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let address = format!("http://{}", app.address());
    let handle = app.handle();
    let bus = app.state().sessions.bus().clone();
    let mut server = tokio::spawn(app.run_until_stopped());
    let keys = load_keys(&settings, false).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let key = keys.keys.into_iter().next().context("the development key")?;
    let request_timeout = Duration::from_secs(60);
    let client =
        Client::with_timeout(address, key.id.clone(), key.secret.to_vec(), request_timeout)?;
    let outcome = tokio::select! {
        r = measure(&client, sim, &bus, args) => r,
        r = &mut server => bail!("the sidecar stopped during the bench: {r:?}"),
    };
    handle.stop(true).await;
    let budget = crate::startup::shutdown_budget(&settings) + Duration::from_secs(10);
    if tokio::time::timeout(budget, server).await.is_err() {
        eprintln!("the sidecar did not stop within {budget:?}");
    }
    outcome
}

/// When each message first got past `queued`, by id (and those that failed).
#[derive(Default)]
struct Acks {
    at: HashMap<String, Instant>,
    failed: HashMap<String, Value>,
    lagged: u64,
}

async fn measure(
    client: &Client,
    sim: &wa_sim::SimServer,
    bus: &crate::events::EventBus,
    args: &MessagesBenchArgs,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!(
        "bench messages: {} sessions x {} messages, pacing off, {build} build",
        args.sessions, args.messages
    );
    let linking = Instant::now();
    let sessions: Vec<String> = (0..args.sessions).map(|i| format!("s{i}")).collect();
    let links = sessions.iter().enumerate().map(|(i, s)| {
        let phone = format!("1555100{i:04}");
        async move { link(client, sim, s, &phone, timeout).await }
    });
    for r in futures::future::join_all(links).await {
        r?;
    }
    println!("  linked {} sessions in {:.1?}", sessions.len(), linking.elapsed());
    let acks = Arc::new(Mutex::new(Acks::default()));
    let collector = tokio::spawn(collect(bus.subscribe(), acks.clone()));
    if args.warmup > 0 {
        let warm = send_all(client, &sessions, args.warmup, "warm-up").await?;
        wait_acked(&acks, &warm, timeout).await?;
    }
    let started = Instant::now();
    let accepted = send_all(client, &sessions, args.messages, "bench").await?;
    let accept_took = started.elapsed();
    let outcome = wait_acked(&acks, &accepted, timeout).await;
    let all_took = started.elapsed();
    collector.abort();
    outcome?;
    let acks = acks.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<Duration> = accepted
        .iter()
        .filter_map(|(id, t0)| acks.at.get(id).map(|t| t.saturating_duration_since(*t0)))
        .collect();
    latencies.sort();
    let total = accepted.len();
    let per_sec = |d: Duration| total as f64 / d.as_secs_f64().max(1e-9);
    println!("  accepted {total} (202) in {accept_took:.2?}: {:.0}/s", per_sec(accept_took));
    println!("  all server-acked in {all_took:.2?}: {:.0} messages/s", per_sec(all_took));
    println!(
        "  latency API -> server ack: p50 {:.0?}, p99 {:.0?}, max {:.0?}",
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    Ok(())
}

/// Creates a session and lets a simulated phone scan its QR until it is `connected`.
async fn link(
    client: &Client,
    sim: &wa_sim::SimServer,
    session: &str,
    phone: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let base = format!("/v1/workspaces/{WORKSPACE}/sessions");
    let path = format!("{base}/{session}");
    let (status, body) = client.post(&base, &json!({"id": session})).await?;
    if status != 201 {
        bail!("creating session {session}: {status} {body}");
    }
    let deadline = Instant::now() + timeout;
    let mut scanned = String::new();
    loop {
        let (code, body) = client.get(&path).await?;
        let state = serde_json::from_str::<Value>(&body).unwrap_or_default()["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match (code, state.as_str()) {
            (200, "connected") => return Ok(()),
            (200, "failed" | "logged_out" | "conflict") => bail!("session {session} is {state}"),
            (200, "qr_required") => {
                let (code, raw) = client.get(&format!("{path}/qr?format=raw")).await?;
                if code == 200 && raw != scanned {
                    scan(sim, &raw, phone).await?;
                    scanned = raw;
                }
            }
            (200, _) => {}
            _ => bail!("reading session {session}: {code} {body}"),
        }
        if Instant::now() > deadline {
            bail!("session {session} was not connected within {timeout:?} (last: {state})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The phone scans the QR through wa-sim's control door; a code that rotated meanwhile (404) is
/// left for the next round.
async fn scan(sim: &wa_sim::SimServer, code: &str, phone: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{}/scan", sim.control_url()))
        .json(&json!({"code": code, "phone": phone}))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    match response.status().as_u16() {
        200..=299 | 404 => Ok(()),
        s => bail!("the simulated phone could not scan: {s} {}", response.text().await?),
    }
}

/// Every session sends `count` texts, one request at a time, the sessions in parallel; each
/// accepted id with the instant its request started.
async fn send_all(
    client: &Client,
    sessions: &[String],
    count: usize,
    label: &str,
) -> anyhow::Result<HashMap<String, Instant>> {
    let senders = sessions.iter().map(|s| async move {
        let path = format!("/v1/workspaces/{WORKSPACE}/sessions/{s}/messages");
        let mut accepted = Vec::with_capacity(count);
        for n in 0..count {
            let body =
                json!({"to": FRIEND, "type": "text", "text": {"body": format!("{label} {s} {n}")}});
            let t0 = Instant::now();
            let (status, answer) = client.post(&path, &body).await?;
            if status != 202 {
                bail!("sending from {s}: {status} {answer}");
            }
            let id = serde_json::from_str::<Value>(&answer).unwrap_or_default()["id"]
                .as_str()
                .map(str::to_owned)
                .context("a 202 without an id")?;
            accepted.push((id, t0));
        }
        Ok(accepted)
    });
    let mut all = HashMap::new();
    for r in futures::future::join_all(senders).await {
        all.extend(r?);
    }
    Ok(all)
}

/// Records, from the live event bus, when each message first got past `queued`.
async fn collect(
    mut rx: tokio::sync::broadcast::Receiver<crate::events::Event>,
    acks: Arc<Mutex<Acks>>,
) {
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                acks.lock().unwrap_or_else(|p| p.into_inner()).lagged += n;
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if event.kind != kind::MESSAGE_STATUS {
            continue;
        }
        let Some(id) = event.data["id"].as_str() else { continue };
        let mut acks = acks.lock().unwrap_or_else(|p| p.into_inner());
        match event.data["status"].as_str() {
            Some("sent" | "delivered" | "read" | "played") => {
                acks.at.entry(id.to_owned()).or_insert_with(Instant::now);
            }
            Some("failed" | "unconfirmed") => {
                acks.failed.insert(id.to_owned(), event.data.clone());
            }
            _ => {}
        }
    }
}

/// Waits until every accepted message is acked; a failure or the timeout ends the bench.
async fn wait_acked(
    acks: &Mutex<Acks>,
    accepted: &HashMap<String, Instant>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        {
            let acks = acks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((id, why)) = accepted.keys().find_map(|id| acks.failed.get_key_value(id)) {
                bail!("message {id} did not reach the server: {why}");
            }
            let done = accepted.keys().filter(|id| acks.at.contains_key(*id)).count();
            if done == accepted.len() {
                return Ok(());
            }
            if acks.lagged > 0 {
                bail!("the bench missed {} events (the live bus lagged)", acks.lagged);
            }
            if Instant::now() > deadline {
                bail!("{done} of {} messages server-acked within {timeout:?}", accepted.len());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// The 1-minute load average (`/proc/loadavg`), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
