//! What a session needs from a WhatsApp provider: the [`Engine`] trait and the typed
//! [`EngineEvent`]s it reports. The Chromium implementation (one browser per session, or several
//! sessions in one browser through [`BrowserPool`], driving WhatsApp Web through the `WPP`
//! bridge) lives beside it; a Cloud API provider could follow.
//!
//! The engine reports facts ("the page shows QR X", "the browser is gone"); the session actor
//! (`crate::sessions`) owns the state machine and decides what they mean.

pub mod bridge;
mod chromium;
pub mod config;
pub mod inbound;
mod launch;
mod pipe;
mod pool;
mod pooled;
pub mod process;
mod pump;
pub mod storage;
mod tracker;
pub mod wpp;

pub use bridge::{bridge_info, BridgeInfo};
pub use chromium::ChromiumEngine;
pub use config::{EngineConfig, Sandbox};
pub use pool::{sweep_pool_dirs, BrowserPool, POOL_DIR};
pub use process::{kill_browsers_under, kill_orphans};

use std::path::PathBuf;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::ids::{PhoneNumber, SessionKey};

/// Facts an engine reports while it runs. Sent on the channel given to [`Engine::start`].
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The bridge is usable (`WPP.isReady`). `authenticated` is `WPP.conn.isAuthenticated() ||
    /// WPP.conn.isRegistered()` at that moment: a login stored in the profile shows up here, even
    /// while WhatsApp is still restoring it (a restore emits no `conn.authenticated`).
    BridgeReady { authenticated: bool, version: Option<String> },
    /// A QR to show (`conn.auth_code_change` with a code; the text is `fullCode`, opaque).
    Qr { code: String },
    /// WhatsApp stopped rotating the QR (`conn.qrcode_idle`).
    QrIdle,
    /// A phone scanned the QR or entered the link code; login is being set up.
    Authenticating,
    /// Logged in and the main UI is live (authenticated and stream mode `MAIN`).
    Connected { phone: Option<String> },
    /// The connection to WhatsApp dropped or came back (`conn.online`, stream info).
    Online(bool),
    /// The phone unlinked this device, or a logout happened (`conn.logout`).
    LoggedOut { reason: Option<String> },
    /// Another client took over the account (stream mode / socket state `CONFLICT`).
    Conflict,
    /// A blocking state WhatsApp reports (PROXYBLOCK, TOS_BLOCK, DEPRECATED_VERSION, ...).
    Blocked { state: String },
    /// The managed link-code flow produced or refreshed a code.
    PairingCode { code: String },
    /// The bridge never reported `WPP.isReady` within `engine.ready_timeout_ms` of the page
    /// starting to load (WhatsApp changed and the bundle no longer fits: "bridge incompatible").
    /// The browser keeps running; the session decides (typically `failed`).
    BridgeNotReady { after_ms: u64 },
    /// The page crashed (`Inspector.targetCrashed`) or stopped answering the bridge probe.
    PageUnresponsive { reason: String },
    /// Any other `WPP` event the glue forwards (`chat.new_message`, `chat.msg_ack_change`, …),
    /// with the payload the glue made plain. The engine does not interpret these: the session
    /// hands them to the messages part (`crate::messages`).
    Page { name: String, payload: serde_json::Value },
    /// The browser process is gone (handler ended or process exited). The last event of a run,
    /// sent once: `reason` is "stopped" after [`Engine::stop`] (delivered only if the channel has
    /// room then). After an unexpected one, call `stop()` to reap the process.
    BrowserGone { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("browser failed to launch: {0}")]
    Launch(String),
    #[error("browser is not running")]
    NotRunning,
    #[error("timed out after {after_ms} ms waiting for {what}")]
    Timeout { what: &'static str, after_ms: u64 },
    /// The bridge threw; `code` is the `WPPError` code when it had one.
    #[error("bridge call {call} failed: {message}")]
    Bridge { call: &'static str, code: Option<String>, message: String },
    #[error("CDP error: {0}")]
    Cdp(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything one start needs: which session, where its live profile is, where to send events.
#[derive(Debug, Clone)]
pub struct StartSpec {
    pub key: SessionKey,
    /// The live (plaintext) profile dir, prepared by the profile store before launch.
    pub profile_dir: PathBuf,
}

/// One WhatsApp account driven by a provider. One instance per session; methods are called by
/// that session's actor only, so no two calls race.
pub trait Engine: Send + Sync {
    /// Launch and navigate. Returns once the page is loading; everything after arrives as events.
    fn start(
        &mut self,
        spec: StartSpec,
        events: mpsc::Sender<EngineEvent>,
    ) -> BoxFuture<'_, Result<(), EngineError>>;
    /// Close the browser gracefully, then kill its process group if it does not exit in time.
    /// Idempotent. When it returns, no process of this run is left.
    fn stop(&mut self) -> BoxFuture<'_, Result<(), EngineError>>;
    /// `WPP.conn.logout()`: unlinks this device from the phone.
    fn logout(&mut self) -> BoxFuture<'_, Result<(), EngineError>>;
    /// `WPP.conn.refreshQR()` after the QR went idle.
    fn refresh_qr(&mut self) -> BoxFuture<'_, Result<(), EngineError>>;
    /// `WPP.conn.genLinkDeviceCodeForPhoneNumber`: the 8-character code to type on the phone.
    fn pairing_code(&mut self, phone: &PhoneNumber) -> BoxFuture<'_, Result<String, EngineError>>;
    /// Evaluates one bridge expression (built by [`wpp`], never from raw request text) and returns
    /// its value; a throw comes back as [`EngineError::Bridge`] with the `WPPError` code.
    fn call(
        &mut self,
        call: &'static str,
        expr: String,
    ) -> BoxFuture<'_, Result<serde_json::Value, EngineError>>;
    /// A PNG of the page, for debugging.
    fn screenshot(&mut self) -> BoxFuture<'_, Result<Vec<u8>, EngineError>>;
    /// The process group id of the browser, while one runs (for orphan cleanup and tests).
    fn pgid(&self) -> Option<i32>;
}
