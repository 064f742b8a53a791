//! `wa-sidecar serve`: load the settings, start logging, build and run the application.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::{LoadOptions, Settings};
use crate::startup::Application;

pub fn run(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(&LoadOptions::from_process(config_file))?;
    crate::telemetry::init(&settings.log, settings.mode.is_production())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await.context("HTTP server")?;
        tracing::info!("stopped");
        Ok(())
    })
}
