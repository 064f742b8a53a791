//! The message model shared by sending and receiving (DESIGN.md "Messages"): our message ids,
//! statuses and their monotonic order, WhatsApp's ack levels, and deterministic event ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::SessionKey;

/// Our id of a message: opaque, unique within its session, the same in every callback, in
/// `GET …/messages/{id}` and on an idempotent repeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh id for an outbound message (time-ordered).
    pub fn new_outbound() -> Self {
        Self(format!("out_{}", uuid::Uuid::now_v7().simple()))
    }

    /// The id of an inbound message: derived from WhatsApp's id, so reading it again (a repeated
    /// event, a catch-up) gives the same id.
    pub fn for_inbound(key: &SessionKey, wa_id: &str) -> Self {
        Self(format!(
            "in_{}",
            &digest(&[key.workspace.as_str(), key.session.as_str(), wa_id])[..32]
        ))
    }

    /// Accepts what a path may carry: our id or WhatsApp's serialized id (`true_…@c.us_3EB0…`).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-@.:".contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Out,
    In,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::In => "in",
        }
    }
}

/// Where a message stands. Monotonic: see [`Status::may_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted and committed; not yet handed to WhatsApp (or handed, not yet acked).
    Queued,
    /// No server ack came in time; checked against the page, never blindly resent.
    Unconfirmed,
    /// WhatsApp's server took it (ack 1).
    Sent,
    /// On the recipient's device (ack 2).
    Delivered,
    /// Read (ack 3).
    Read,
    /// A voice note or video played (ack 4).
    Played,
    /// Will not be sent; `error` says why.
    Failed,
    /// An inbound message, reported to the host.
    Received,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Unconfirmed => "unconfirmed",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "unconfirmed" => Self::Unconfirmed,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            "received" => Self::Received,
            _ => return None,
        })
    }

    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Unconfirmed => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Played => 5,
            Self::Failed | Self::Received => 6,
        }
    }

    /// Whether a message in `self` may move to `next`: only forward (a late or skipped ack never
    /// moves it back), `failed` only before WhatsApp took it, nothing after `failed`.
    pub fn may_become(self, next: Status) -> bool {
        match (self, next) {
            (Self::Failed | Self::Received, _) | (_, Self::Received) => false,
            (from, Self::Failed) => matches!(from, Self::Queued | Self::Unconfirmed),
            (from, to) => to.rank() > from.rank(),
        }
    }

    /// The status an ack level means (wa-js `ACK`: -1 error and below, 0 pending/clock, 1 server,
    /// 2 device, 3 read, 4 played). `None` for 0: nothing to report yet.
    pub fn from_ack(ack: i64) -> Option<Self> {
        match ack {
            i64::MIN..=-1 => Some(Self::Failed),
            0 => None,
            1 => Some(Self::Sent),
            2 => Some(Self::Delivered),
            3 => Some(Self::Read),
            _ => Some(Self::Played),
        }
    }
}

/// The callback id of a message event: the same for the same (session, message, kind, detail),
/// so a re-report has the same `webhook-id` and the outbox keeps one copy. `detail` tells events
/// of one kind apart (the status for `message.status`, the edit's id for `message.edited`, …).
pub fn event_id(key: &SessionKey, message: &str, kind: &str, detail: &str) -> String {
    let d = digest(&[key.workspace.as_str(), key.session.as_str(), message, kind, detail]);
    format!("evt_{}", &d[..32])
}

/// Hex sha256 over the parts, each length-prefixed so no two part lists collide.
fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};

    fn key(s: &str) -> SessionKey {
        SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse(s).unwrap())
    }

    #[test]
    fn status_moves_only_forward() {
        use Status::*;
        assert!(Queued.may_become(Sent));
        assert!(Queued.may_become(Read), "skipped levels are fine");
        assert!(Unconfirmed.may_become(Delivered));
        assert!(!Read.may_become(Delivered), "a late ack never moves it back");
        assert!(!Sent.may_become(Sent));
        assert!(Queued.may_become(Failed));
        assert!(!Sent.may_become(Failed), "once WhatsApp took it, it is not failed");
        assert!(!Failed.may_become(Sent));
    }

    #[test]
    fn acks_map_to_statuses() {
        assert_eq!(Status::from_ack(-1), Some(Status::Failed));
        assert_eq!(Status::from_ack(0), None);
        assert_eq!(Status::from_ack(1), Some(Status::Sent));
        assert_eq!(Status::from_ack(3), Some(Status::Read));
        assert_eq!(Status::from_ack(4), Some(Status::Played));
    }

    #[test]
    fn event_ids_are_deterministic_and_distinct() {
        let a = event_id(&key("main"), "out_1", "message.status", "sent");
        assert_eq!(a, event_id(&key("main"), "out_1", "message.status", "sent"));
        assert_ne!(a, event_id(&key("main"), "out_1", "message.status", "read"));
        assert_ne!(a, event_id(&key("other"), "out_1", "message.status", "sent"));
        assert!(a.starts_with("evt_") && a.len() == 36);
    }

    #[test]
    fn inbound_ids_follow_whatsapp_ids() {
        let k = key("main");
        assert_eq!(
            MessageId::for_inbound(&k, "false_1@c.us_AB"),
            MessageId::for_inbound(&k, "false_1@c.us_AB")
        );
        assert_ne!(
            MessageId::for_inbound(&k, "false_1@c.us_AB"),
            MessageId::for_inbound(&key("b"), "false_1@c.us_AB")
        );
        assert!(MessageId::parse("true_15551234567@c.us_3EB0ABCDEF").is_some());
        assert!(MessageId::parse("../etc").is_none());
    }
}
