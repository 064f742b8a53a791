//! `wa-sidecar handover --from URL --to URL`: moves sessions, one at a time, from a running
//! sidecar (blue) to another on the same sessions folder (green): blue releases the session
//! (browser closed, login sealed, ownership given up), green adopts it and reconnects without a
//! QR. A session green cannot take goes back to blue and the handover stops (exit 1). Used by
//! ops/deploy/blue-green.sh; the key is a `workspaces = ["*"]` key of the configuration.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use super::client::Client;
use crate::config::{load_keys, KeyScope, LoadOptions, Settings};

#[derive(Debug, Args)]
pub struct HandoverArgs {
    /// The sidecar giving its sessions up (blue), e.g. http://127.0.0.1:8787.
    #[arg(long)]
    pub from: String,
    /// The sidecar taking them over (green).
    #[arg(long)]
    pub to: String,
    /// Only this session (WORKSPACE/SESSION; repeatable). Default: every session of --from.
    #[arg(long = "session", value_name = "WS/ID")]
    pub sessions: Vec<String>,
    /// Longest wait, per session, for green to have it connected again (seconds).
    #[arg(long, default_value_t = 120)]
    pub connect_timeout: u64,
}

pub fn run(config: Option<std::path::PathBuf>, args: &HandoverArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&LoadOptions::from_process(config))?;
    let keys = load_keys(&settings, false).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let key = keys
        .keys
        .into_iter()
        .find(|k| k.scope == KeyScope::All)
        .context("handover needs a key with workspaces = [\"*\"] in the configuration")?;
    let blue =
        Client::new(args.from.trim_end_matches('/').into(), key.id.clone(), key.secret.to_vec())?;
    let green =
        Client::new(args.to.trim_end_matches('/').into(), key.id.clone(), key.secret.to_vec())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(handover(&blue, &green, args))
}

async fn handover(blue: &Client, green: &Client, args: &HandoverArgs) -> anyhow::Result<()> {
    let (status, body) = blue.get("/v1/admin/sessions").await?;
    if status != 200 {
        bail!("listing the sessions of {}: {status} {body}", blue.base());
    }
    let listed: Value = serde_json::from_str(&body)?;
    let mut moves = Vec::new();
    for s in listed["sessions"].as_array().cloned().unwrap_or_default() {
        let (ws, id) = (s["workspace"].as_str().unwrap_or(""), s["id"].as_str().unwrap_or(""));
        let name = format!("{ws}/{id}");
        if args.sessions.is_empty() || args.sessions.contains(&name) {
            moves.push((name, s["state"].as_str().unwrap_or("").to_owned()));
        }
    }
    println!("moving {} session(s) from {} to {}", moves.len(), blue.base(), green.base());
    for (name, state) in moves {
        move_one(blue, green, &name, &state, Duration::from_secs(args.connect_timeout)).await?;
    }
    Ok(())
}

async fn move_one(
    blue: &Client,
    green: &Client,
    name: &str,
    was: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let admin = format!("/v1/admin/sessions/{name}");
    let (status, body) = blue.post(&format!("{admin}/release"), &json!({})).await?;
    if status != 204 {
        bail!("{name}: {} did not release it: {status} {body}", blue.base());
    }
    let released = started.elapsed();
    match adopt_and_wait(green, name, was, within).await {
        Ok(()) => {
            println!(
                "{name}: released in {:.1} s, {was} on green after {:.1} s",
                released.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("{name}: green could not take it ({e:#}); giving it back to blue");
            // Green lets go first, whatever it got to, so blue can claim it again.
            let _ = green.post(&format!("{admin}/release"), &json!({})).await;
            let (status, body) = blue.post(&format!("{admin}/adopt"), &json!({})).await?;
            if status != 200 {
                bail!("{name}: blue could not take it back either: {status} {body}");
            }
            bail!("handover stopped at {name}: {e:#}")
        }
    }
}

/// Adopt on green, then wait until the session is where it was on blue (`connected` for a linked
/// session). A QR on the way means the login did not survive: that is a failure.
async fn adopt_and_wait(
    green: &Client,
    name: &str,
    was: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let (status, body) =
        green.post(&format!("/v1/admin/sessions/{name}/adopt"), &json!({})).await?;
    if status != 200 {
        bail!("adopt: {status} {body}");
    }
    if was != "connected" {
        return Ok(());
    }
    let (ws, id) = name.split_once('/').unwrap_or((name, ""));
    let path = format!("/v1/workspaces/{ws}/sessions/{id}");
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = green.get(&path).await?;
        let state = serde_json::from_str::<Value>(&body).unwrap_or_default()["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        match (status, state.as_str()) {
            (200, "connected") => return Ok(()),
            (200, "qr_required" | "pairing" | "failed" | "logged_out" | "conflict") => {
                bail!("the session is {state} on green")
            }
            _ => {}
        }
        if Instant::now() > deadline {
            bail!("not connected on green within {within:?} (last: {status} {state})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
