//! Logging through `tracing`: text on a terminal, JSON in production (`[log]`). `RUST_LOG`, when
//! set, overrides `log.level`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogConfig;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log.level: {0}")]
    Filter(String),
    #[error("a global logger is already installed")]
    AlreadySet,
}

/// Installs the global subscriber once, for the process.
pub fn init(log: &LogConfig, production: bool) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(&log.level),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let registry = tracing_subscriber::registry().with(filter);
    if log.json(production) {
        let layer = fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stdout);
        registry.with(layer).try_init().map_err(|_| TelemetryError::AlreadySet)
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let layer = fmt::layer().with_target(false).with_ansi(ansi).with_writer(std::io::stdout);
        registry.with(layer).try_init().map_err(|_| TelemetryError::AlreadySet)
    }
}
