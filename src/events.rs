//! The events every session produces and the bus that carries them.
//!
//! A session publishes an [`Event`]; the bus first hands it to every durable [`EventSink`] (the
//! callbacks outbox commits it to SQLite before `publish` returns), then broadcasts it to live
//! subscribers (tests, metrics). A subscriber that lags loses broadcast copies, never the durable one.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::ids::SessionKey;

/// Event type names as they appear in callbacks (`type` field).
pub mod kind {
    pub const SESSION_STATUS: &str = "session.status";
    pub const SESSION_QR: &str = "session.qr";
    pub const SESSION_PAIRING_CODE: &str = "session.pairing_code";
    pub const SESSION_RESTRICTED: &str = "session.restricted";
    pub const MESSAGE_STATUS: &str = "message.status";
    pub const MESSAGE_RECEIVED: &str = "message.received";
    pub const MESSAGE_SENT: &str = "message.sent";
    pub const MESSAGE_EDITED: &str = "message.edited";
    pub const MESSAGE_REVOKED: &str = "message.revoked";
    pub const MESSAGE_REACTION: &str = "message.reaction";
    pub const POLL_VOTE: &str = "poll.vote";
    pub const PRESENCE_UPDATE: &str = "presence.update";
    pub const GROUP_PARTICIPANTS: &str = "group.participants";
    pub const CALL_INCOMING: &str = "call.incoming";
    pub const CONTACT_IDENTITY: &str = "contact.identity";
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The callback's id (`webhook-id`) when the publisher fixes it: message events use a
    /// deterministic id (`crate::messages::model::event_id`) so a re-report is the same event.
    /// `None`: the outbox makes a fresh one.
    pub id: Option<String>,
    /// One of [`kind`]'s names.
    pub kind: &'static str,
    pub key: SessionKey,
    /// The callback's `data` object.
    pub data: serde_json::Value,
    pub at: SystemTime,
}

impl Event {
    pub fn new(kind: &'static str, key: SessionKey, data: serde_json::Value) -> Self {
        Self { id: None, kind, key, data, at: SystemTime::now() }
    }

    /// An event with a fixed, deterministic id.
    pub fn with_id(
        id: String,
        kind: &'static str,
        key: SessionKey,
        data: serde_json::Value,
    ) -> Self {
        Self { id: Some(id), ..Self::new(kind, key, data) }
    }
}

/// Something that must see every event, durably, before the publisher goes on.
pub trait EventSink: Send + Sync {
    /// Record the event. An error is logged by the bus; the sink owns retrying it.
    fn accept(&self, event: &Event) -> anyhow::Result<()>;
}

#[derive(Clone)]
pub struct EventBus {
    sinks: Arc<Vec<Arc<dyn EventSink>>>,
    live: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(sinks: Vec<Arc<dyn EventSink>>) -> Self {
        let (live, _) = broadcast::channel(1024);
        Self { sinks: Arc::new(sinks), live }
    }

    pub fn publish(&self, event: Event) {
        for sink in self.sinks.iter() {
            if let Err(e) = sink.accept(&event) {
                tracing::error!(error = %e, kind = event.kind, key = %event.key, "event sink refused an event");
            }
        }
        // No live subscriber is normal.
        let _ = self.live.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }
}
