//! `wa-sidecar demo`: the whole flow on any machine, without a WhatsApp account. One process runs
//! wa-sim (WhatsApp Web and the phone, on loopback) and the sidecar pointed at it, in a fresh
//! folder; it creates a session through the signed API, draws its QR in the terminal, lets the
//! simulated phone scan it when Enter is pressed (`--auto-scan`: at once) and follows the session
//! to `connected`. Real Chromium, real HTTP, real vault; only WhatsApp is simulated.
//!
//! Built with the `demo` feature (on by default); the simulator is its only extra dependency.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::client::Client;
use crate::config::{load_keys, LoadOptions, RunMode, Settings};
use crate::sessions::qr;
use crate::startup::Application;

const WORKSPACE: &str = "demo";
const SESSION: &str = "phone";
/// Someone the demo account writes to and hears from.
const FRIEND: &str = "15557654321";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scan the QR with the simulated phone at once instead of waiting for Enter (scripts, tests).
    #[arg(long)]
    pub auto_scan: bool,
    /// Stop (gracefully: browser closed, login sealed) once the session is connected.
    #[arg(long)]
    pub exit_when_connected: bool,
    /// The sidecar's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Folder for data, sessions and live profiles, kept afterwards (default: a temporary folder,
    /// removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The simulated phone's number.
    #[arg(long, default_value = "15550001234")]
    pub phone: String,
    /// Longest wait for each step (the QR, the login) before giving up, in seconds.
    #[arg(long, default_value_t = 120)]
    pub step_timeout: u64,
}

pub fn run(config: Option<PathBuf>, args: &DemoArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(&LoadOptions::from_process(config))?;
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => {
            (std::env::temp_dir().join(format!("wa-sidecar-demo-{}", std::process::id())), true)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(&mut settings, &dir, args);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(settings: &mut Settings, dir: &Path, args: &DemoArgs) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        settings.log.level = "warn".into();
    }
    crate::telemetry::init(&settings.log, false)?;
    let sim = wa_sim::SimServer::start(wa_sim::SimConfig::default())
        .context("starting the WhatsApp simulator")?;
    // Development mode in a folder of its own: a generated HMAC key and vault key, no host.
    settings.mode = RunMode::development();
    settings.auth.keys.clear();
    settings.server.bind = format!("127.0.0.1:{}", args.port);
    settings.server.data_dir = dir.join("data");
    settings.server.sessions_dir = dir.join("sessions");
    settings.engine.wa_web_url = sim.base_url();
    settings.engine.inject_bridge = false;
    settings.callbacks.url = String::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve_and_drive(settings.clone(), &sim, args));
    drop(runtime);
    sim.stop();
    result
}

async fn serve_and_drive(
    settings: Settings,
    sim: &wa_sim::SimServer,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let address = format!("http://{}", app.address());
    let handle = app.handle();
    let mut server = tokio::spawn(app.run_until_stopped());
    let keys = load_keys(&settings, false).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let key = keys.keys.into_iter().next().context("the development key")?;
    let client = Client::new(address.clone(), key.id.clone(), key.secret.to_vec())?;
    println!("wa-sidecar demo");
    println!("  sidecar    {address}   (HMAC key {:?}, file {})", key.id, key_file(&settings));
    println!("  WhatsApp   {} (simulated; the phone is {})", sim.base_url(), args.phone);
    println!(
        "  data       {}",
        settings.server.data_dir.parent().unwrap_or(Path::new(".")).display()
    );
    let outcome = tokio::select! {
        r = drive(&client, sim, args) => r,
        _ = &mut server => {
            println!("The sidecar stopped.");
            return Ok(());
        }
    };
    println!("Stopping: closing the browser and sealing the login…");
    handle.stop(true).await;
    let _ = tokio::time::timeout(Duration::from_secs(90), server).await;
    println!("Stopped.");
    outcome
}

fn key_file(settings: &Settings) -> String {
    settings.server.data_dir.join("dev-hmac.key").display().to_string()
}

/// Lines typed on stdin, read on a thread of their own (a blocking read must not hold the
/// runtime); `None` once stdin is closed.
fn stdin_lines() -> mpsc::UnboundedReceiver<Option<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(_) => {
                    if tx.send(Some(line.trim().to_owned())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

async fn drive(client: &Client, sim: &wa_sim::SimServer, args: &DemoArgs) -> anyhow::Result<()> {
    let sessions = format!("/v1/workspaces/{WORKSPACE}/sessions");
    let path = format!("{sessions}/{SESSION}");
    let (status, body) = client.post(&sessions, &json!({"id": SESSION})).await?;
    if status != 201 {
        bail!("creating the session: {status} {body}");
    }
    println!("\nSession {WORKSPACE}/{SESSION} created: POST {sessions} → 201. Starting Chromium…");
    let mut input = (!args.auto_scan).then(stdin_lines);
    let mut shown = String::new();
    let mut state = String::new();
    let mut since = Instant::now();
    let step = Duration::from_secs(args.step_timeout);
    loop {
        let (code, body) = client.get(&path).await?;
        if code != 200 {
            bail!("reading the session: {code} {body}");
        }
        let session: Value = serde_json::from_str(&body).unwrap_or_default();
        let now = session["state"].as_str().unwrap_or("unknown").to_owned();
        if now != state {
            println!("state: {now}");
            state = now.clone();
            since = Instant::now();
        }
        match now.as_str() {
            "connected" => break,
            "failed" | "logged_out" | "conflict" => {
                bail!("the session is {now}: {}", session["reason"])
            }
            "qr_required" => {
                let (code, raw) = client.get(&format!("{path}/qr?format=raw")).await?;
                if code == 200 && raw != shown {
                    print!("{}", qr::terminal(&raw)?);
                    if args.auto_scan {
                        println!("The simulated phone scans it (--auto-scan).");
                    } else {
                        println!(
                            "Press Enter and the simulated phone scans this QR (q + Enter quits)."
                        );
                    }
                    shown = raw;
                }
                if !shown.is_empty() && want_scan(&mut input).await? {
                    scan(sim, &shown, &args.phone).await?;
                }
            }
            _ => {}
        }
        if since.elapsed() > step {
            bail!("the session stayed {now} for {step:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("Connected as +{} — no WhatsApp account needed.", args.phone);
    message_round_trip(client, sim, &path, &args.phone).await;
    if args.exit_when_connected {
        return Ok(());
    }
    println!("\nThe sidecar keeps running. Try it from another terminal:");
    println!(
        "  wa-sidecar sign --key-id dev --key-file <data>/dev-hmac.key GET {}{path} --curl | sh",
        client.base()
    );
    println!("Press Enter (or Ctrl-C) to stop.");
    let mut input = input.unwrap_or_else(stdin_lines);
    let _ = input.recv().await;
    Ok(())
}

/// Whether the user asked for a scan: `--auto-scan`, or a line on stdin. `q` or a closed stdin
/// ends the demo.
async fn want_scan(
    input: &mut Option<mpsc::UnboundedReceiver<Option<String>>>,
) -> anyhow::Result<bool> {
    let Some(rx) = input else { return Ok(true) };
    match rx.try_recv() {
        Ok(Some(line)) if line.eq_ignore_ascii_case("q") => bail!("quit"),
        Ok(Some(_)) => Ok(true),
        Ok(None) => bail!("stdin is closed: nobody can press Enter (use --auto-scan)"),
        Err(mpsc::error::TryRecvError::Empty) => Ok(false),
        Err(mpsc::error::TryRecvError::Disconnected) => bail!("stdin is closed"),
    }
}

/// The simulated phone scans the QR text (wa-sim's control API, as in docs/simulator.md). A code
/// that rotated meanwhile is 404: the next round shows and scans the new one.
async fn scan(sim: &wa_sim::SimServer, code: &str, phone: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{}/scan", sim.control_url()))
        .json(&json!({"code": code, "phone": phone, "pushname": "Demo phone"}))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    match response.status().as_u16() {
        200..=299 => println!("Scanned."),
        404 => println!("That QR rotated before the scan; scanning the next one."),
        s => bail!("the simulated phone could not scan: {s} {}", response.text().await?),
    }
    Ok(())
}

/// A message out to a simulated friend and one back: the send's status as it moves, then the
/// reply as the sidecar read it. Every step is bounded; a failure is printed, never fatal.
async fn message_round_trip(client: &Client, sim: &wa_sim::SimServer, path: &str, phone: &str) {
    let body = json!({"to": FRIEND, "type": "text", "text": {"body": "Hello from wa-sidecar"}});
    let id = match client.post(&format!("{path}/messages"), &body).await {
        Ok((202, answer)) => {
            println!("Sent a message to +{FRIEND}: POST {path}/messages → 202 {answer}");
            serde_json::from_str::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
        }
        Ok((status, answer)) => {
            println!("Sending a message: {status} {answer}");
            None
        }
        Err(e) => {
            println!("Sending a message: {e:#}");
            None
        }
    };
    let Some(id) = id else { return };
    let delivered = follow_status(client, sim, &format!("{path}/messages/{id}")).await;
    let incoming =
        json!({"from": FRIEND, "to": phone, "type": "text", "text": "Hi back from the phone"});
    let replied = reqwest::Client::new()
        .post(format!("{}/messages", sim.control_url()))
        .json(&incoming)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    if let Err(e) = replied {
        println!("The phone could not reply: {e}");
        return;
    }
    let received =
        wait_for_reply(client, &format!("{path}/chats/{FRIEND}@c.us/messages?limit=5")).await;
    if delivered && received {
        println!("Message round trip: out and delivered, back and received.");
    }
}

/// Polls a sent message until the friend's phone has it (delivered or read) or 30 s pass;
/// prints each status once. Pacing is on, so the friend first sees "typing…". The friend has no
/// browser open in the simulation, so once the message is sent the demo plays the friend's phone
/// receiving it (a delivery receipt through wa-sim's control door).
async fn follow_status(client: &Client, sim: &wa_sim::SimServer, path: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok((200, text)) = client.get(path).await {
            let message = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
            let status = message["status"].as_str().unwrap_or_default().to_owned();
            if status != last {
                println!("  status: {status}");
                last = status.clone();
                if let ("sent", Some(wa_id)) = (status.as_str(), message["wa_id"].as_str()) {
                    let receipt = reqwest::Client::new()
                        .post(format!("{}/messages/{wa_id}/ack", sim.control_url()))
                        .json(&json!({"ack": 2}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if let Err(e) = receipt {
                        println!("  (the friend's phone could not confirm delivery: {e})");
                    }
                }
            }
            match status.as_str() {
                "delivered" | "read" | "played" => return true,
                "failed" => return false,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("  (no delivery within 30 s)");
    false
}

/// Polls the friend's chat until the reply shows up (the sidecar also sent it to the host as a
/// `message.received` callback).
async fn wait_for_reply(client: &Client, path: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if let Ok((200, text)) = client.get(path).await {
            let page: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let reply = page["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["from_me"] == false && m["text"] == "Hi back from the phone");
            if let Some(m) = reply {
                println!(
                    "+{FRIEND} replied: {:?} (a message.received callback went to the host)",
                    m["text"].as_str().unwrap_or("")
                );
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("  (the reply did not show up within 30 s)");
    false
}
