//! `wa-sidecar bench vault`: seal/unseal/verify time and size for a generated WhatsApp-shaped
//! profile, and the reseal rate under a steady message flow (see `crate::vault::bench`).
//! Build with `--release` for figures worth quoting.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::vault::bench::{run, BenchOptions};

#[derive(Debug, Args)]
pub struct VaultBenchArgs {
    /// Size of the login part of the generated profile, MiB.
    #[arg(long, default_value_t = 40)]
    pub mib: usize,
    /// Seal and unseal repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iterations: u32,
    /// Length of the steady-flow phase, seconds.
    #[arg(long, default_value_t = 120)]
    pub flow_secs: u64,
    /// Time between messages during the flow, ms.
    #[arg(long, default_value_t = 200)]
    pub message_ms: u64,
    #[arg(long, default_value_t = 5000)]
    pub debounce_ms: u64,
    #[arg(long, default_value_t = 15000)]
    pub min_ms: u64,
    #[arg(long, default_value_t = 60000)]
    pub max_ms: u64,
    /// Where the profile is generated (default: the system temp dir). Try a tmpfs.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn vault(a: &VaultBenchArgs) -> anyhow::Result<()> {
    let opts = BenchOptions {
        work_dir: a.dir.clone(),
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
