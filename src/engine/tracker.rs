//! Turns the glue's raw bridge messages into [`EngineEvent`]s, following the bridge contract's
//! state machine (§2.5): "connected" is authenticated *and* stream mode `MAIN` (never
//! `conn.main_ready`, which also fires on the QR screen); a restored login emits no
//! `conn.authenticated`; one event per transition, not per repeated report.

use super::bridge::{BridgeMsg, Snapshot};
use super::EngineEvent;

const BLOCKING_MODES: [&str; 4] =
    ["PROXYBLOCK", "TOS_BLOCK", "SMB_TOS_BLOCK", "DEPRECATED_VERSION"];

/// What the page has said so far in the current document.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    authenticated: bool,
    mode: Option<String>,
    /// The mode `on_mode` last reacted to, so each transition is reported once.
    acted_mode: Option<String>,
    phone: Option<String>,
    /// A QR or link code was shown in this document: a following sync is a fresh login.
    login_offered: bool,
    /// The QR last reported, so a repeat (the glue's catch-up read) is not a new QR.
    last_qr: Option<String>,
    authenticating_sent: bool,
    connected: bool,
    online: Option<bool>,
    logout_reason: Option<String>,
}

impl Tracker {
    pub(crate) fn on_message(&mut self, msg: BridgeMsg) -> Vec<EngineEvent> {
        let mut out = Vec::new();
        match msg {
            // A new document (first load, or WhatsApp's reload after a logout): start over.
            BridgeMsg::Boot => *self = Self::default(),
            BridgeMsg::Ready { version, registered, snapshot } => {
                self.absorb(snapshot);
                let authenticated = self.authenticated || registered == Some(true);
                out.push(EngineEvent::BridgeReady { authenticated, version });
            }
            BridgeMsg::Ev { name, payload, snapshot } => {
                self.absorb(snapshot);
                self.on_event(&name, payload, &mut out);
            }
        }
        self.on_mode(&mut out);
        self.check_connected(&mut out);
        out
    }

    fn absorb(&mut self, s: Snapshot) {
        if let Some(a) = s.authenticated {
            self.authenticated = a;
        }
        if s.mode.is_some() {
            self.mode = s.mode;
        }
        if s.phone.is_some() {
            self.phone = s.phone;
        }
    }

    fn on_event(&mut self, name: &str, payload: serde_json::Value, out: &mut Vec<EngineEvent>) {
        let text = payload.as_str().map(str::to_owned);
        match name {
            "conn.auth_code_change" => match text {
                Some(code) if !super::inbound::plausible_qr(&code) => {
                    tracing::warn!(
                        bytes = code.len(),
                        "a QR that is not shaped like WhatsApp's was dropped"
                    );
                }
                Some(code) if self.last_qr.as_deref() != Some(code.as_str()) => {
                    self.login_offered = true;
                    self.authenticating_sent = false;
                    self.last_qr = Some(code.clone());
                    out.push(EngineEvent::Qr { code });
                }
                Some(_) => {}
                // The code goes null once a phone scanned it (or the page is logged in).
                None => self.authenticating(out),
            },
            "conn.link_code_change" => {
                if let Some(code) = text {
                    self.login_offered = true;
                    self.authenticating_sent = false;
                    out.push(EngineEvent::PairingCode { code });
                }
            }
            "conn.qrcode_idle" => out.push(EngineEvent::QrIdle),
            "conn.authenticated" => {
                self.login_offered = true;
                self.authenticating(out);
            }
            "conn.stream_mode_changed" => {
                if let Some(mode) = text {
                    self.mode = Some(mode);
                }
            }
            "conn.stream_info_changed" => match text.as_deref() {
                Some("OFFLINE") => self.set_online(false, out),
                Some("NORMAL") if self.online == Some(false) => self.set_online(true, out),
                _ => {}
            },
            "conn.online" => {
                if let Some(on) = payload.as_bool() {
                    self.set_online(on, out);
                }
            }
            "conn.logout_reason" => self.logout_reason = text,
            "conn.logout" => {
                let reason = self.logout_reason.take();
                *self = Self::default();
                out.push(EngineEvent::LoggedOut { reason });
            }
            "conn.link_code_error" => {
                tracing::warn!(error = ?text, "link code error reported by the bridge")
            }
            // Not about the connection: the messages part reads these.
            // (`conn.backend_event` carries WhatsApp's ban signal, which sending acts on.)
            other if !other.starts_with("conn.") || other == "conn.backend_event" => {
                out.push(EngineEvent::Page { name: other.to_owned(), payload })
            }
            _ => {}
        }
    }

    /// Reacts to the stream mode, whether it came as an event or in a snapshot.
    fn on_mode(&mut self, out: &mut Vec<EngineEvent>) {
        let Some(mode) = self.mode.clone() else { return };
        let changed = self.acted_mode.as_deref() != Some(mode.as_str());
        self.acted_mode = Some(mode.clone());
        match mode.as_str() {
            "CONFLICT" if changed => out.push(EngineEvent::Conflict),
            m if changed && BLOCKING_MODES.contains(&m) => {
                out.push(EngineEvent::Blocked { state: mode.clone() })
            }
            "SYNCING" if changed && self.login_offered => self.authenticating(out),
            _ => {}
        }
    }

    fn authenticating(&mut self, out: &mut Vec<EngineEvent>) {
        if self.login_offered && !self.authenticating_sent && !self.connected {
            self.authenticating_sent = true;
            out.push(EngineEvent::Authenticating);
        }
    }

    fn set_online(&mut self, on: bool, out: &mut Vec<EngineEvent>) {
        if self.online != Some(on) {
            self.online = Some(on);
            out.push(EngineEvent::Online(on));
        }
    }

    fn check_connected(&mut self, out: &mut Vec<EngineEvent>) {
        let now = self.authenticated && self.mode.as_deref() == Some("MAIN");
        if now && !self.connected {
            out.push(EngineEvent::Connected { phone: self.phone.clone() });
        }
        self.connected = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(
        name: &str,
        payload: serde_json::Value,
        auth: Option<bool>,
        mode: Option<&str>,
    ) -> BridgeMsg {
        let snapshot = Snapshot {
            authenticated: auth,
            mode: mode.map(Into::into),
            phone: auth.filter(|a| *a).map(|_| "15551234567".into()),
        };
        BridgeMsg::Ev { name: name.into(), payload, snapshot }
    }

    fn ready(auth: bool, mode: &str) -> BridgeMsg {
        BridgeMsg::Ready {
            version: Some("4.6.0".into()),
            registered: Some(auth),
            snapshot: Snapshot { authenticated: Some(auth), mode: Some(mode.into()), phone: None },
        }
    }

    fn run(msgs: Vec<BridgeMsg>) -> Vec<EngineEvent> {
        let mut t = Tracker::default();
        msgs.into_iter().flat_map(|m| t.on_message(m)).collect()
    }

    #[test]
    fn qr_scan_then_connected() {
        let events = run(vec![
            BridgeMsg::Boot,
            ready(false, "QR"),
            ev("conn.main_ready", json!(null), Some(false), Some("QR")),
            ev("conn.auth_code_change", json!("2@ref1,a,b,c"), Some(false), Some("QR")),
            ev("conn.auth_code_change", json!("2@ref2,a,b,c"), Some(false), Some("QR")),
            ev("conn.auth_code_change", json!("2@ref2,a,b,c"), Some(false), Some("QR")),
            ev("conn.stream_mode_changed", json!("SYNCING"), Some(false), Some("SYNCING")),
            ev("conn.auth_code_change", json!(null), Some(false), Some("SYNCING")),
            ev("conn.authenticated", json!(null), Some(true), Some("SYNCING")),
            ev("conn.stream_mode_changed", json!("MAIN"), Some(true), Some("MAIN")),
            ev("conn.main_loaded", json!(null), Some(true), Some("MAIN")),
        ]);
        assert_eq!(
            events,
            vec![
                EngineEvent::BridgeReady { authenticated: false, version: Some("4.6.0".into()) },
                EngineEvent::Qr { code: "2@ref1,a,b,c".into() },
                EngineEvent::Qr { code: "2@ref2,a,b,c".into() },
                EngineEvent::Authenticating,
                EngineEvent::Connected { phone: Some("15551234567".into()) },
            ]
        );
    }

    #[test]
    fn restore_connects_without_qr_or_authenticating() {
        let events = run(vec![
            ready(true, "SYNCING"),
            ev("conn.stream_mode_changed", json!("SYNCING"), Some(true), Some("SYNCING")),
            ev("conn.stream_mode_changed", json!("MAIN"), Some(true), Some("MAIN")),
            ev("conn.main_ready", json!(null), Some(true), Some("MAIN")),
        ]);
        assert_eq!(
            events,
            vec![
                EngineEvent::BridgeReady { authenticated: true, version: Some("4.6.0".into()) },
                EngineEvent::Connected { phone: Some("15551234567".into()) },
            ]
        );
    }

    #[test]
    fn a_stored_login_counts_as_authenticated_at_ready() {
        let early = BridgeMsg::Ready {
            version: None,
            registered: Some(true),
            snapshot: Snapshot { authenticated: Some(false), mode: None, phone: None },
        };
        let events = run(vec![
            early,
            ev("conn.stream_mode_changed", json!("SYNCING"), Some(true), Some("SYNCING")),
            ev("conn.stream_mode_changed", json!("MAIN"), Some(true), Some("MAIN")),
        ]);
        assert_eq!(
            events,
            vec![
                EngineEvent::BridgeReady { authenticated: true, version: None },
                EngineEvent::Connected { phone: Some("15551234567".into()) },
            ]
        );
    }

    #[test]
    fn main_ready_on_the_qr_screen_is_not_a_login() {
        let events = run(vec![
            ready(false, "QR"),
            ev("conn.main_ready", json!(null), Some(false), Some("QR")),
        ]);
        assert!(!events.iter().any(|e| matches!(e, EngineEvent::Connected { .. })), "{events:?}");
    }

    #[test]
    fn logout_conflict_block_and_online() {
        let events = run(vec![
            ready(true, "MAIN"),
            ev("conn.online", json!(false), Some(true), Some("MAIN")),
            ev("conn.online", json!(false), Some(true), Some("MAIN")),
            ev("conn.online", json!(true), Some(true), Some("MAIN")),
            ev("conn.stream_mode_changed", json!("CONFLICT"), Some(true), Some("CONFLICT")),
            ev("conn.stream_mode_changed", json!("TOS_BLOCK"), Some(true), Some("TOS_BLOCK")),
            ev("conn.logout_reason", json!("user_initiated"), Some(false), None),
            ev("conn.logout", json!(null), Some(false), None),
        ]);
        assert_eq!(
            events,
            vec![
                EngineEvent::BridgeReady { authenticated: true, version: Some("4.6.0".into()) },
                EngineEvent::Connected { phone: None },
                EngineEvent::Online(false),
                EngineEvent::Online(true),
                EngineEvent::Conflict,
                EngineEvent::Blocked { state: "TOS_BLOCK".into() },
                EngineEvent::LoggedOut { reason: Some("user_initiated".into()) },
            ]
        );
    }

    #[test]
    fn pairing_code_then_login() {
        let events = run(vec![
            ready(false, "QR"),
            ev("conn.link_code_change", json!("ABCD1234"), Some(false), Some("QR")),
            ev("conn.stream_mode_changed", json!("SYNCING"), Some(false), Some("SYNCING")),
            ev("conn.stream_mode_changed", json!("MAIN"), Some(true), Some("MAIN")),
        ]);
        assert_eq!(events[1], EngineEvent::PairingCode { code: "ABCD1234".into() });
        assert_eq!(events[2], EngineEvent::Authenticating);
        assert!(matches!(events[3], EngineEvent::Connected { .. }));
    }
}
