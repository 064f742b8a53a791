//! Integration tests of the callbacks outbox against a real HTTP receiver, real SQLite and, for
//! durability, the built binary. Each test has its own temp dir and ports.
//! (`cargo nextest run -p wa-sidecar --test api callbacks::`)

mod api;
mod delivery;
mod durability;
mod http_under_load;
pub(crate) mod receiver;
mod sessions;
pub(crate) mod verify;

use crate::helpers;

use std::time::{Duration, Instant};

use tempfile::TempDir;
use wa_sidecar::callbacks::{CallbacksConfig, Outbox};
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};

pub const SECRET_A: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const SECRET_B: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const WAIT: Duration = Duration::from_secs(10);

/// A config with millisecond retries, for a receiver at `url`.
pub fn config(url: &str) -> CallbacksConfig {
    CallbacksConfig {
        url: url.to_owned(),
        secrets: vec![SECRET_A.to_owned()],
        timeout: Duration::from_secs(5),
        workers: 4,
        retry_schedule: vec![Duration::from_millis(20); 3],
        retry_after_min: Duration::from_millis(1),
        retry_after_max: Duration::from_secs(5),
        idle_wakeup: Duration::from_millis(500),
        shutdown_timeout: Duration::from_secs(1),
        ..CallbacksConfig::default()
    }
}

/// The outbound policy of these tests: receivers listen on loopback.
pub fn loopback() -> std::sync::Arc<wa_sidecar::net::NetPolicy> {
    std::sync::Arc::new(wa_sidecar::net::NetPolicy::permissive())
}

/// An outbox on its own temp database; delivery stops when dropped.
pub struct Harness {
    pub outbox: Outbox,
    pub dir: TempDir,
}

/// The vault keys every harness seals sessions' callback secrets with (fixed, so a reopened
/// outbox opens them).
pub fn vault_keys() -> std::sync::Arc<wa_sidecar::vault::VaultKeys> {
    let key = wa_sidecar::vault::MasterKey::from_bytes([7; 32]);
    std::sync::Arc::new(wa_sidecar::vault::VaultKeys::single("test", key))
}

impl Harness {
    pub fn open(cfg: &CallbacksConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let outbox =
            Outbox::open(cfg, &dir.path().join("data/sidecar.db"), loopback(), vault_keys())
                .unwrap();
        Self { outbox, dir }
    }

    pub fn started(cfg: &CallbacksConfig) -> Self {
        let h = Self::open(cfg);
        h.outbox.start();
        h
    }

    pub fn send(&self, kind: &'static str, key: &SessionKey, data: serde_json::Value) -> String {
        self.outbox.enqueue(kind, key, &data, std::time::SystemTime::now()).unwrap().id
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.outbox.shutdown();
    }
}

pub fn key(workspace: &str, session: &str) -> SessionKey {
    SessionKey::new(WorkspaceId::parse(workspace).unwrap(), SessionId::parse(session).unwrap())
}

/// Poll `cond` every 10 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < within, "condition not met within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
