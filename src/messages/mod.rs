//! Messages: the model shared by sending and receiving (ids, statuses, event ids), the message
//! index that makes every message sent once and reported once, and (as they land) the send queue
//! with pacing, idempotency, inbound reporting and catch-up, and their routes.
//!
//! Talks to a session's page only through the session's actor (`SessionManager::bridge_call`,
//! with calls built by `crate::engine::wpp`), and hears the page through [`PageObserver`]:
//! events arrive on the actor's task and are handed at once to this part's own task.
//!
//! Never touches: Chromium or CDP (that is `crate::engine`), callback delivery (events go on the
//! `crate::events::EventBus`), session state (read from the session's snapshot).

pub mod inbound;
pub mod model;
pub mod send;
pub mod store;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use model::{Direction, MessageId, Status};
pub use store::{MessageStore, StoreError};

use crate::events::EventBus;
use crate::ids::SessionKey;
use crate::sessions::{PageObserver, SessionManager};

/// What a session's page told us, in the order it happened.
#[derive(Debug)]
pub enum PageNote {
    Event { key: SessionKey, name: String, payload: serde_json::Value },
    Connected { key: SessionKey },
    Blocked { key: SessionKey, state: String },
}

/// The messages part: shared by the routes (as `web::Data<Messages>`) and the sessions' actors.
#[derive(Clone)]
pub struct Messages {
    pub store: MessageStore,
    pub sessions: SessionManager,
    pub bus: EventBus,
    /// Sending: the outbound queue, its workers and routes (`send`).
    pub send: send::Sender,
    notes: mpsc::UnboundedSender<PageNote>,
    /// Receiving's configuration and media store (set once at startup by [`Messages::set_up_receiving`]).
    receiving: Arc<std::sync::OnceLock<inbound::Setup>>,
}

impl Messages {
    /// Builds the part and starts its task on the current runtime. Call before sessions are
    /// restored, so the first page event of every session is heard.
    pub fn start(
        store: MessageStore,
        sessions: SessionManager,
        bus: EventBus,
        sending: send::SendingConfig,
    ) -> Self {
        let (notes, rx) = mpsc::unbounded_channel();
        let send = send::Sender::new(store.clone(), sessions.clone(), bus.clone(), sending);
        let messages = Self {
            store,
            sessions: sessions.clone(),
            bus,
            send,
            notes,
            receiving: Default::default(),
        };
        sessions.set_page_observer(Arc::new(messages.clone()));
        tokio::spawn(messages.clone().listen(rx));
        messages
    }

    /// Receiving's media store and settings; starts the media retention sweep.
    pub fn set_up_receiving(&self, setup: inbound::Setup) {
        let (media, every) = (setup.media.clone(), setup.media_sweep_every);
        if self.receiving.set(setup).is_ok() {
            inbound::media::spawn_sweeper(self.clone(), media, every);
        }
    }

    pub fn setup(&self) -> Option<&inbound::Setup> {
        self.receiving.get()
    }

    /// The one task that handles page notes, one at a time, in order.
    async fn listen(self, mut rx: mpsc::UnboundedReceiver<PageNote>) {
        while let Some(note) = rx.recv().await {
            self.on_note(note).await;
        }
        tracing::debug!("messages: page notes ended");
    }

    async fn on_note(&self, note: PageNote) {
        match note {
            // Acks are about our own sends.
            PageNote::Event { key, name, payload } if name == "chat.msg_ack_change" => {
                self.send.on_ack(&key, &payload).await;
            }
            PageNote::Event { key, name, payload } => {
                // WhatsApp's ban signal pauses sending and is reported (session.restricted).
                if name == "conn.backend_event" {
                    self.send.on_backend_event(&key, &payload);
                }
                inbound::on_event(self, &key, &name, payload).await;
            }
            PageNote::Connected { key } => {
                tracing::debug!(session = %key, "session connected");
                self.send.on_connected(&key).await;
                inbound::on_connected(self, &key);
                inbound::catch_up(self, &key).await;
            }
            PageNote::Blocked { key, state } => inbound::on_blocked(self, &key, &state).await,
        }
    }
}

impl PageObserver for Messages {
    fn page_event(&self, key: &SessionKey, name: &str, payload: serde_json::Value) {
        let _ =
            self.notes.send(PageNote::Event { key: key.clone(), name: name.to_owned(), payload });
    }

    fn connected(&self, key: &SessionKey) {
        let _ = self.notes.send(PageNote::Connected { key: key.clone() });
    }

    fn blocked(&self, key: &SessionKey, state: &str) {
        let _ = self.notes.send(PageNote::Blocked { key: key.clone(), state: state.to_owned() });
    }
}
