//! Vault figures: `cargo run --release --example vault_bench -- [--mib 40] [--flow-secs 30] ...`.
//! The same bench runs as `wa-sidecar bench vault`; see docs/performance.md, "## Vault".

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use wa_sidecar::vault::bench::{run, BenchOptions};

#[derive(Parser)]
struct Args {
    /// Size of the login part of the generated profile, MiB.
    #[arg(long, default_value_t = 40)]
    mib: usize,
    #[arg(long, default_value_t = 5)]
    iterations: u32,
    #[arg(long, default_value_t = 120)]
    flow_secs: u64,
    /// Time between messages during the flow.
    #[arg(long, default_value_t = 200)]
    message_ms: u64,
    #[arg(long, default_value_t = 5000)]
    debounce_ms: u64,
    #[arg(long, default_value_t = 15000)]
    min_ms: u64,
    #[arg(long, default_value_t = 60000)]
    max_ms: u64,
    /// Where the profile is generated (default: the system temp dir). Try a tmpfs.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let opts = BenchOptions {
        work_dir: a.dir,
        profile_mib: a.mib,
        iterations: a.iterations,
        flow: Duration::from_secs(a.flow_secs),
        message_every: Duration::from_millis(a.message_ms),
        debounce: Duration::from_millis(a.debounce_ms),
        min_interval: Duration::from_millis(a.min_ms),
        max_interval: Duration::from_millis(a.max_ms),
    };
    run(&opts, &mut std::io::stdout())?;
    Ok(())
}
