//! `wa-sidecar vault verify` and `wa-sidecar vault rotate`: the operator's view of every sealed
//! login under `server.sessions_dir`, with the same settings and master keys `serve` uses.
//! `rotate` also seals sessions' own callback secrets (in `sidecar.db`) again under the newest key.
//!
//! Both exit non-zero when a sealed file does not open (verify) or could not be resealed
//! (rotate), so a deploy script can stop on it. Neither generates a development key: with no key
//! configured and none generated before, there is nothing that could open a file.

use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::config::{LoadOptions, Settings};
use crate::vault::keys::DEV_KEY_FILE;
use crate::vault::{rotate_all, verify_all, VaultKeys};

/// The settings and keys `serve` would use.
fn load(config_file: Option<PathBuf>) -> anyhow::Result<(Settings, VaultKeys)> {
    let settings = Settings::load(&LoadOptions::from_process(config_file))?;
    let vault = &settings.vault;
    let data_dir = &settings.server.data_dir;
    if vault.master_keys.is_empty()
        && vault.master_keys_file.is_none()
        && (settings.mode.is_production() || !data_dir.join(DEV_KEY_FILE).exists())
    {
        bail!("no vault master key: set SIDECAR__VAULT__MASTER_KEYS or vault.master_keys_file");
    }
    let keys = VaultKeys::load_or_generate(vault, data_dir, settings.mode.is_production())
        .context("loading the vault master keys")?;
    Ok((settings, keys))
}

pub fn verify(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let (settings, keys) = load(config_file)?;
    let root = &settings.server.sessions_dir;
    let report = verify_all(root, &keys).with_context(|| format!("reading {}", root.display()))?;
    println!("{report}");
    for stray in &report.strays {
        eprintln!("warning: {} is not a sealed file: nothing under the sessions root should be a plaintext profile", stray.display());
    }
    let not_current = report.ok.iter().filter(|(_, id)| id != keys.seal_key_id()).count();
    if not_current > 0 {
        println!(
            "{not_current} not under the newest key {:?}: run `wa-sidecar vault rotate`",
            keys.seal_key_id()
        );
    }
    if !report.failed.is_empty() {
        bail!("{} sealed file(s) do not open", report.failed.len());
    }
    Ok(())
}

pub fn rotate(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let (settings, keys) = load(config_file)?;
    let root = &settings.server.sessions_dir;
    println!("resealing under master key {:?}", keys.seal_key_id());
    let report = rotate_all(root, &keys).with_context(|| format!("reading {}", root.display()))?;
    println!("{report}");
    // Sessions' own callback secrets are sealed with the same keys, in the database.
    let db = crate::db::path_in(&settings.server.data_dir);
    if db.exists() {
        let conn = crate::db::open(&db).with_context(|| format!("opening {}", db.display()))?;
        crate::callbacks::session_secrets::create(&conn)?;
        let resealed = crate::callbacks::session_secrets::reseal(&conn, &keys)?;
        println!("callback secrets of sessions sealed again: {resealed}");
    }
    if !report.failed.is_empty() {
        bail!("{} sealed file(s) could not be rotated; they are unchanged", report.failed.len());
    }
    if !report.in_use.is_empty() {
        bail!(
            "{} session(s) are run by a sidecar right now and were not rotated: stop it (its sessions reseal under the new key as they change) and run rotate again",
            report.in_use.len()
        );
    }
    Ok(())
}
