//! `[server]` and `[log]`: where the sidecar listens and keeps its files, and how it logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{problem, Problem};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port`; port 0 picks a free port (tests).
    pub bind: String,
    /// SQLite database, generated development key, other private state.
    pub data_dir: PathBuf,
    /// Sealed session profiles, one folder per workspace and session.
    pub sessions_dir: PathBuf,
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Request-body bytes all clients together may have buffered before their signature is
    /// checked; a read past it gets 503 `SERVER_BUSY`. At least `max_body_bytes`.
    pub max_pending_body_bytes: usize,
    /// The same bound per client address.
    pub max_pending_body_bytes_per_ip: usize,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// How long a graceful stop waits for requests in flight.
    pub shutdown_timeout_secs: u64,
    /// How long a client may take to send its request head.
    pub client_request_timeout_ms: u64,
    /// How long a signed request's body may take to arrive (408 after).
    pub body_timeout_ms: u64,
    /// How long each readiness check may take before it counts as failed.
    pub health_check_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8787".into(),
            data_dir: "data".into(),
            sessions_dir: "sessions".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_pending_body_bytes: 128 * 1024 * 1024,
            max_pending_body_bytes_per_ip: 64 * 1024 * 1024,
            workers: 0,
            shutdown_timeout_secs: 30,
            client_request_timeout_ms: 5_000,
            body_timeout_ms: 30_000,
            health_check_timeout_ms: 2_000,
        }
    }
}

impl ServerConfig {
    pub fn validate(&self, _production: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.bind.parse::<SocketAddr>().is_err() {
            problems.push(problem(
                "server.bind",
                format!(
                    "{:?} is not an address; write host:port, e.g. \"127.0.0.1:8787\"",
                    self.bind
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push(problem("server.data_dir", "must not be empty"));
        }
        if self.sessions_dir.as_os_str().is_empty() {
            problems.push(problem("server.sessions_dir", "must not be empty"));
        }
        if self.max_body_bytes < 1024 {
            problems.push(problem("server.max_body_bytes", "must be at least 1024"));
        }
        if self.max_pending_body_bytes < self.max_body_bytes {
            problems
                .push(problem("server.max_pending_body_bytes", "must be at least max_body_bytes"));
        }
        if self.max_pending_body_bytes_per_ip < self.max_body_bytes {
            problems.push(problem(
                "server.max_pending_body_bytes_per_ip",
                "must be at least max_body_bytes",
            ));
        }
        if !(1..=3600).contains(&self.shutdown_timeout_secs) {
            problems.push(problem("server.shutdown_timeout_secs", "must be between 1 and 3600"));
        }
        if !(100..=600_000).contains(&self.client_request_timeout_ms) {
            problems.push(problem(
                "server.client_request_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if !(100..=600_000).contains(&self.body_timeout_ms) {
            problems.push(problem("server.body_timeout_ms", "must be between 100 and 600000"));
        }
        if !(10..=60_000).contains(&self.health_check_timeout_ms) {
            problems
                .push(problem("server.health_check_timeout_ms", "must be between 10 and 60000"));
        }
        problems
    }

    /// The parsed bind address; call after validation.
    pub fn bind_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.bind.parse()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON in production, text otherwise.
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. "info" or "info,wa_sidecar=debug". `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Auto, level: "info".into() }
    }
}

impl LogConfig {
    pub fn validate(&self) -> Vec<Problem> {
        match tracing_subscriber::EnvFilter::try_new(&self.level) {
            Ok(_) => Vec::new(),
            Err(e) => {
                vec![problem("log.level", format!("{:?} is not a log filter: {e}", self.level))]
            }
        }
    }

    pub fn json(&self, production: bool) -> bool {
        match self.format {
            LogFormat::Auto => production,
            LogFormat::Text => false,
            LogFormat::Json => true,
        }
    }
}
