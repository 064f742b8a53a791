//! `wa-sidecar serve`: load the settings, start logging, build and run the application.
//! SIGINT/SIGTERM stop it gracefully (HTTP drains, every browser closes, every login is sealed);
//! SIGHUP re-reads what can change while running (`crate::reload`).

use std::path::PathBuf;

use anyhow::Context;

use crate::config::{LoadOptions, Settings};
use crate::startup::Application;

pub fn run(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let options = LoadOptions::from_process(config_file);
    let settings = Settings::load(&options)?;
    crate::telemetry::init(&settings.log, settings.mode.is_production())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let hangups = crate::reload::listen().context("listening for SIGHUP")?;
        let app = Application::build(settings).await?;
        tokio::spawn(crate::reload::on_sighup(hangups, options, app.state()));
        app.run_until_stopped().await.context("HTTP server")?;
        tracing::info!("stopped");
        Ok(())
    })
}
