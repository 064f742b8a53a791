//! `wa-sidecar reap`: kills the Chromium browsers a sidecar on this configuration left behind
//! when it died without closing them (`kill -9`, a supervisor's SIGKILL after its stop timeout).
//! A browser whose sidecar still runs is never touched (see `engine::kill_orphans`), so it is
//! safe to run at any time; supervisors (ops/wa-sidecarctl, pm2's ecosystem file) run it after a
//! stop so that no verb leaves a browser behind.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{LoadOptions, Settings};

pub fn run(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(&LoadOptions::from_process(config_file))?;
    let roots = roots(&settings);
    let killed = crate::engine::kill_orphans(&roots, Duration::from_secs(10));
    if killed.is_empty() {
        println!("no orphaned Chromium under {}", show(&roots));
    } else {
        println!(
            "killed {} orphaned Chromium process group(s) under {}: {killed:?}",
            killed.len(),
            show(&roots)
        );
    }
    Ok(())
}

/// Where this configuration's browsers keep their profiles: the vault's runtime directory (as
/// `serve` resolves it, under `server.data_dir`) and the sessions directory.
fn roots(settings: &Settings) -> Vec<PathBuf> {
    vec![
        crate::vault::runtime_dir::resolve(
            &settings.vault,
            &settings.server.data_dir,
            &settings.server.bind,
            settings.mode.is_production(),
        ),
        settings.server.sessions_dir.clone(),
    ]
}

fn show(roots: &[PathBuf]) -> String {
    roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(" and ")
}
