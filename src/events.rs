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

    /// Commit the event to every sink, then tell live subscribers. Sinks block (the outbox
    /// fsyncs), so on a multi-threaded tokio worker this runs as a blocking section: the worker's
    /// other tasks move to another thread meanwhile, and the caller still returns only once the
    /// event is committed.
    pub fn publish(&self, event: Event) {
        let commit = || {
            for sink in self.sinks.iter() {
                if let Err(e) = sink.accept(&event) {
                    tracing::error!(error = %e, kind = event.kind, key = %event.key, "event sink refused an event");
                }
            }
        };
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker {
            tokio::task::block_in_place(commit);
        } else {
            commit();
        }
        // No live subscriber is normal.
        let _ = self.live.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::ids::{SessionId, WorkspaceId};

    /// A sink whose commit takes as long as a slow fsync.
    struct SlowSink(Duration, Mutex<Option<Instant>>);

    impl EventSink for SlowSink {
        fn accept(&self, _: &Event) -> anyhow::Result<()> {
            std::thread::sleep(self.0);
            *self.1.lock().unwrap() = Some(Instant::now());
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_slow_commit_does_not_hold_the_worker_s_other_tasks() {
        let sink = Arc::new(SlowSink(Duration::from_millis(1500), Mutex::new(None)));
        let bus = EventBus::new(vec![sink.clone()]);
        let key = SessionKey::new(WorkspaceId::parse("w").unwrap(), SessionId::parse("s").unwrap());
        let ticker = tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Instant::now()
        });
        // Publish from a task on the same (only) worker, as a session actor does.
        let publisher = tokio::spawn(async move {
            tokio::task::yield_now().await;
            bus.publish(Event::new("session.status", key, serde_json::json!({})));
        });
        publisher.await.unwrap();
        let committed = sink.1.lock().unwrap().expect("committed before publish returns");
        let ticked = ticker.await.unwrap();
        assert!(ticked < committed, "the other task ran while the commit blocked");
    }
}
