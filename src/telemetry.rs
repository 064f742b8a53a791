//! Logging through `tracing`: text on a terminal, JSON in production (`[log]`). `RUST_LOG`, when
//! set, overrides `log.level`. The level can change while running ([`set_level`], on SIGHUP).

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::config::LogConfig;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log.level: {0}")]
    Filter(String),
    #[error("a global logger is already installed")]
    AlreadySet,
    #[error("the logger is not installed by this process")]
    NotInstalled,
}

/// The handle that swaps the installed filter.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber once, for the process.
pub fn init(log: &LogConfig, production: bool) -> Result<(), TelemetryError> {
    let filter = match rust_log() {
        Some(directives) => EnvFilter::try_new(directives),
        None => EnvFilter::try_new(&log.level),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    if log.json(production) {
        let layer = fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stdout);
        registry.with(layer).try_init().map_err(|_| TelemetryError::AlreadySet)?;
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let layer = fmt::layer().with_target(false).with_ansi(ansi).with_writer(std::io::stdout);
        registry.with(layer).try_init().map_err(|_| TelemetryError::AlreadySet)?;
    }
    let _ = FILTER.set(handle);
    Ok(())
}

/// Replaces the level filter of the logger [`init`] installed. Returns the filter now in force:
/// `RUST_LOG`, when set, still wins over `level`.
pub fn set_level(level: &str) -> Result<String, TelemetryError> {
    let directives = rust_log().unwrap_or_else(|| level.to_owned());
    let filter =
        EnvFilter::try_new(&directives).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let handle = FILTER.get().ok_or(TelemetryError::NotInstalled)?;
    handle.reload(filter).map_err(|_| TelemetryError::NotInstalled)?;
    Ok(directives)
}

fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok().filter(|d| !d.trim().is_empty())
}
