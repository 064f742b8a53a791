//! The session state machine of DESIGN.md, as a pure function from (state, engine fact) to what
//! the actor must do. No I/O here, so every transition is unit-tested.

use serde::Serialize;

use crate::engine::EngineEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Stopped,
    Starting,
    QrRequired,
    Pairing,
    Authenticating,
    Connected,
    /// The link to WhatsApp or the browser dropped; the session retries by itself.
    Disconnected,
    /// The phone unlinked this device: a new QR is needed.
    LoggedOut,
    /// Another client took the account; we stop and do not fight for it.
    Conflict,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::QrRequired => "qr_required",
            State::Pairing => "pairing",
            State::Authenticating => "authenticating",
            State::Connected => "connected",
            State::Disconnected => "disconnected",
            State::LoggedOut => "logged_out",
            State::Conflict => "conflict",
            State::Failed => "failed",
        }
    }

    /// States in which a browser should be running.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            State::Starting
                | State::QrRequired
                | State::Pairing
                | State::Authenticating
                | State::Connected
                | State::Disconnected
        )
    }

    /// Waiting for the phone: a QR or a pairing code makes sense now.
    pub fn awaits_login(self) -> bool {
        matches!(self, State::QrRequired | State::Pairing)
    }
}

/// Why a session is `failed` (or why it stopped). Stable strings, part of the callback contract.
pub mod reason {
    pub const QR_TIMEOUT: &str = "qr_timeout";
    pub const BRIDGE_NOT_READY: &str = "bridge_not_ready";
    pub const BROWSER_CRASHED: &str = "browser_crashed";
    pub const LAUNCH_FAILED: &str = "launch_failed";
    pub const PROFILE_UNREADABLE: &str = "profile_unreadable";
    pub const BLOCKED: &str = "blocked";
}

/// What the actor must do after an engine fact.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing changes.
    Stay,
    /// Move to a state; the browser keeps running.
    Go(State),
    /// A new QR is on screen (the state becomes `qr_required`).
    ShowQr(String),
    /// A pairing code is on screen (the state becomes `pairing`).
    ShowPairingCode(String),
    /// Connected, with the account's phone number when known.
    Connect(Option<String>),
    /// Stop the browser and settle in a terminal state with a reason; no automatic restart.
    Halt { state: State, reason: Option<String>, wipe_login: bool },
    /// The browser or page is lost: stop what is left and restart with backoff.
    Recover(String),
}

/// The transition table. `state` is the current state; `seen_ready` tells whether the bridge
/// became ready during this run (a crash before that is a bridge that never became ready).
pub fn step(state: State, seen_ready: bool, event: &EngineEvent) -> Step {
    use EngineEvent as E;
    match event {
        E::BridgeReady { authenticated: true, .. } => Step::Go(State::Authenticating),
        E::BridgeReady { authenticated: false, .. } => Step::Stay,
        E::Qr { code } => Step::ShowQr(code.clone()),
        E::PairingCode { code } => Step::ShowPairingCode(code.clone()),
        E::QrIdle => Step::Halt {
            state: State::Failed,
            reason: Some(reason::QR_TIMEOUT.into()),
            wipe_login: false,
        },
        E::Authenticating => Step::Go(State::Authenticating),
        E::Connected { phone } => Step::Connect(phone.clone()),
        E::Online(false) if state == State::Connected => Step::Go(State::Disconnected),
        E::Online(true) if state == State::Disconnected => Step::Go(State::Connected),
        E::Online(_) => Step::Stay,
        E::LoggedOut { reason } => {
            Step::Halt { state: State::LoggedOut, reason: reason.clone(), wipe_login: true }
        }
        E::Conflict => Step::Halt { state: State::Conflict, reason: None, wipe_login: false },
        E::Blocked { state: s } => Step::Halt {
            state: State::Failed,
            reason: Some(format!("{}:{}", reason::BLOCKED, s.to_lowercase())),
            wipe_login: false,
        },
        E::BridgeNotReady { after_ms } => Step::Halt {
            state: State::Failed,
            reason: Some(format!(
                "{}: WhatsApp Web was not usable within {after_ms} ms",
                reason::BRIDGE_NOT_READY
            )),
            wipe_login: false,
        },
        E::PageUnresponsive { reason: why } if !seen_ready => Step::Halt {
            state: State::Failed,
            reason: Some(format!("{}: {why}", reason::BRIDGE_NOT_READY)),
            wipe_login: false,
        },
        E::PageUnresponsive { reason } | E::BrowserGone { reason } => Step::Recover(reason.clone()),
        // Messages, acks, presence…: not about the session's state (the actor forwards them).
        E::Page { .. } => Step::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EngineEvent as E;

    #[test]
    fn a_restored_login_goes_through_authenticating_without_a_qr() {
        assert_eq!(
            step(State::Starting, false, &E::BridgeReady { authenticated: true, version: None }),
            Step::Go(State::Authenticating)
        );
        assert_eq!(
            step(State::Authenticating, true, &E::Connected { phone: Some("1555".into()) }),
            Step::Connect(Some("1555".into()))
        );
    }

    #[test]
    fn a_fresh_login_shows_a_qr_and_an_idle_qr_fails_with_qr_timeout() {
        assert_eq!(
            step(State::Starting, false, &E::BridgeReady { authenticated: false, version: None }),
            Step::Stay
        );
        assert_eq!(
            step(State::Starting, true, &E::Qr { code: "a,b".into() }),
            Step::ShowQr("a,b".into())
        );
        assert_eq!(
            step(State::QrRequired, true, &E::QrIdle),
            Step::Halt {
                state: State::Failed,
                reason: Some("qr_timeout".into()),
                wipe_login: false
            }
        );
    }

    #[test]
    fn conflict_halts_and_logout_wipes_the_login() {
        assert!(matches!(
            step(State::Connected, true, &E::Conflict),
            Step::Halt { state: State::Conflict, wipe_login: false, .. }
        ));
        assert!(matches!(
            step(State::Connected, true, &E::LoggedOut { reason: None }),
            Step::Halt { state: State::LoggedOut, wipe_login: true, .. }
        ));
    }

    #[test]
    fn offline_and_back_only_matter_when_connected() {
        assert_eq!(step(State::Connected, true, &E::Online(false)), Step::Go(State::Disconnected));
        assert_eq!(step(State::Disconnected, true, &E::Online(true)), Step::Go(State::Connected));
        assert_eq!(step(State::QrRequired, true, &E::Online(false)), Step::Stay);
    }

    #[test]
    fn a_bridge_that_never_gets_ready_fails_with_a_reason() {
        assert!(matches!(
            step(State::Starting, false, &E::BridgeNotReady { after_ms: 500 }),
            Step::Halt { state: State::Failed, reason: Some(r), .. } if r.starts_with("bridge_not_ready") && r.contains("500 ms")
        ));
    }

    #[test]
    fn a_crash_after_ready_recovers_but_a_bridge_that_never_got_ready_fails() {
        assert_eq!(
            step(State::Connected, true, &E::BrowserGone { reason: "killed".into() }),
            Step::Recover("killed".into())
        );
        assert!(matches!(
            step(State::Starting, false, &E::PageUnresponsive { reason: "no WPP".into() }),
            Step::Halt { state: State::Failed, reason: Some(r), .. } if r.starts_with("bridge_not_ready")
        ));
    }
}
