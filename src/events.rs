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
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// One of [`kind`]'s names.
    pub kind: &'static str,
    pub key: SessionKey,
    /// The callback's `data` object.
    pub data: serde_json::Value,
    pub at: SystemTime,
}

impl Event {
    pub fn new(kind: &'static str, key: SessionKey, data: serde_json::Value) -> Self {
        Self { kind, key, data, at: SystemTime::now() }
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
