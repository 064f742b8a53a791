//! `wa-sidecar qr WORKSPACE SESSION`: the current QR of a session, drawn in the terminal, for an
//! operator without the host UI at hand. It asks the running sidecar (the address and a key from
//! the same configuration `serve` reads), so it shows exactly what the host would get.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::client::Client;
use crate::config::{load_keys, LoadOptions, Settings};
use crate::ids::{SessionId, WorkspaceId};
use crate::sessions::qr;

#[derive(Debug, Args)]
pub struct QrArgs {
    pub workspace: String,
    pub session: String,
    /// The sidecar's base URL (default: http:// and `server.bind` from the configuration).
    #[arg(long)]
    pub url: Option<String>,
    /// Keep drawing each new QR until the session leaves the QR screen (scanned or timed out).
    #[arg(long)]
    pub watch: bool,
}

pub fn run(config: Option<std::path::PathBuf>, args: &QrArgs) -> anyhow::Result<()> {
    let workspace = WorkspaceId::parse(&args.workspace)?;
    let session = SessionId::parse(&args.session)?;
    let settings = Settings::load(&LoadOptions::from_process(config))?;
    let keys = load_keys(&settings, false).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let key = keys
        .keys
        .into_iter()
        .find(|k| k.scope.allows(&workspace))
        .context("no configured HMAC key may call this workspace")?;
    let client = Client::new(
        args.url.clone().unwrap_or_else(|| format!("http://{}", settings.server.bind)),
        key.id.clone(),
        key.secret.to_vec(),
    )?;
    let path = format!("/v1/workspaces/{workspace}/sessions/{session}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(show(&client, &path, args.watch))
}

async fn show(client: &Client, path: &str, watch: bool) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let (status, body) = client.get(&format!("{path}/qr?format=raw")).await?;
        match status {
            200 if body != last => {
                print!("{}", qr::terminal(&body)?);
                println!(
                    "Scan with WhatsApp on the phone: Settings > Linked devices > Link a device."
                );
                last = body;
            }
            200 => {}
            404 if !last.is_empty() || watch => {
                let (_, session) = client.get(path).await?;
                let state: serde_json::Value = serde_json::from_str(&session).unwrap_or_default();
                let state = state["state"].as_str().unwrap_or("unknown").to_owned();
                if state != "starting" {
                    println!("The session is now {state}.");
                    return Ok(());
                }
            }
            _ => bail!("{status}: {body}"),
        }
        if !watch {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
