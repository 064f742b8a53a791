//! `wa-sim serve --port 7777`: the simulator for demos and host CI.

use clap::{Parser, Subcommand};
use std::net::IpAddr;

#[derive(Parser)]
#[command(name = "wa-sim", version, about = "A WhatsApp Web simulator with the WPP bridge surface")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the simulated WhatsApp Web and its control API (/_sim).
    Serve {
        /// Port to bind (keep it fixed: browsers key IndexedDB by origin, port included).
        #[arg(long, default_value_t = 7777)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Use the fast test schedule (QR rotates in seconds) instead of WhatsApp's.
        #[arg(long)]
        fast: bool,
        /// Override any SimConfig field, as JSON, e.g. '{"qr_first_ttl_ms":5000}'.
        #[arg(long)]
        config: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Command::Serve { port, host, fast, config } = Cli::parse().command;
    let mut cfg = if fast { wa_sim::SimConfig::fast() } else { wa_sim::SimConfig::default() };
    if let Some(json) = config {
        let mut merged = serde_json::to_value(&cfg)?;
        let patch: serde_json::Value = serde_json::from_str(&json)?;
        if let (Some(m), Some(p)) = (merged.as_object_mut(), patch.as_object()) {
            m.extend(p.clone());
        }
        cfg = serde_json::from_value(merged)?;
    }
    cfg.port = port;
    cfg.host = host;
    let sim = wa_sim::SimServer::start(cfg)?;
    println!("wa-sim serving {} (control API {})", sim.base_url(), sim.control_url());
    sim.wait();
    Ok(())
}
