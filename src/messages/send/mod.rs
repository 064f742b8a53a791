//! Sending: accepting a message (validated, committed, idempotent), one worker per session that
//! hands messages to the page exactly once and in order, statuses from WhatsApp's acks, and the
//! routes. Owns the tables of `schema.sql` (`send_queue`, `send_idempotency`, `send_recipients`)
//! and the outbound rows of the message index.
//!
//! Exactly once: a message's WhatsApp id is generated on the resolved chat and persisted before
//! the page sees it; any later attempt (after a crash, a reload, a timeout) first asks the page for
//! that id and sends only when it is absent, with the same id.
//!
//! Never touches: Chromium (calls go through `SessionManager::bridge_call`), inbound messages
//! (the receiving part), callback delivery (events go on the bus).

pub mod api;
pub mod config;
pub mod ops;
pub mod queue;
pub mod request;
pub mod schema;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::Notify;

pub use config::{PacingConfig, SendingConfig};

use super::store::{now_ms, MessageStore, StoreError};
use super::{model, Status};
use crate::events::{kind, Event, EventBus};
use crate::ids::SessionKey;
use crate::sessions::SessionManager;

/// The sending part. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    store: MessageStore,
    sessions: SessionManager,
    bus: EventBus,
    /// `[sending]` as at start; its `pacing` is not read from here (see `pacing`).
    cfg: SendingConfig,
    /// `[sending.pacing]`, replaced on SIGHUP: each use takes the current one.
    pacing: std::sync::RwLock<Arc<PacingConfig>>,
    /// The running worker of each session, woken when something is queued for it.
    workers: Mutex<HashMap<SessionKey, Arc<Notify>>>,
    /// `WPP.chat.find` answers of the current page of each session: (target → chat id). Cleared
    /// when the session's page (re)connects, since a new page may resolve differently.
    chats: Mutex<HashMap<SessionKey, HashMap<String, String>>>,
    /// Sessions whose queue is paused (WhatsApp's ban signal): until when, and why.
    paused: Mutex<HashMap<SessionKey, (std::time::Instant, String)>>,
}

impl Sender {
    pub fn new(
        store: MessageStore,
        sessions: SessionManager,
        bus: EventBus,
        cfg: SendingConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                sessions,
                bus,
                pacing: std::sync::RwLock::new(Arc::new(cfg.pacing.clone())),
                cfg,
                workers: Mutex::default(),
                chats: Mutex::default(),
                paused: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &SendingConfig {
        &self.inner.cfg
    }

    /// The pacing in force now (SIGHUP may replace it).
    pub fn pacing(&self) -> Arc<PacingConfig> {
        self.inner.pacing.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGHUP: new pacing for the next send of every session (typing, gaps, caps, breaker); what
    /// is being sent finishes under the old one.
    pub fn reload_pacing(&self, pacing: PacingConfig) -> bool {
        let mut current = self.inner.pacing.write().unwrap_or_else(|p| p.into_inner());
        let changed = **current != pacing;
        *current = Arc::new(pacing);
        changed
    }

    /// Starts a worker for every session with queued messages (after a restart).
    pub async fn resume(&self) {
        match self.inner.store.run(|c| queue::sessions_with_work(c)).await {
            Ok(keys) => {
                for key in keys {
                    self.kick(&key);
                }
            }
            Err(e) => tracing::error!(error = %e, "sending: could not read the queue"),
        }
    }

    /// Wakes the session's worker, starting it if needed.
    pub fn kick(&self, key: &SessionKey) {
        let mut workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        let notify = workers
            .entry(key.clone())
            .or_insert_with(|| {
                let notify = Arc::new(Notify::new());
                tokio::spawn(worker::run(self.clone(), key.clone(), notify.clone()));
                notify
            })
            .clone();
        notify.notify_one();
    }

    /// A backend event of WhatsApp Web (`conn.backend_event`; the glue forwards it as
    /// `{event, data}`, a bare name is taken too). A ban signal
    /// (`account_temporarily_banned`) pauses the session's queue for `pacing.breaker_pause_ms`:
    /// sending on would only make it worse.
    pub fn on_backend_event(&self, key: &SessionKey, payload: &Value) {
        let name = payload.get("event").unwrap_or(payload).as_str().unwrap_or_default();
        if !name.contains("banned") {
            return;
        }
        let pause = std::time::Duration::from_millis(self.pacing().breaker_pause_ms);
        tracing::warn!(session = %key, signal = name, ?pause, "WhatsApp ban signal: the send queue pauses");
        let until = std::time::Instant::now() + pause;
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), (until, name.to_owned()));
        // Stored too, so a restart keeps the pause (WhatsApp says it once).
        let (store, k, reason) = (self.inner.store.clone(), key.clone(), name.to_owned());
        let until_ms = now_ms() + pause.as_millis() as i64;
        tokio::spawn(async move {
            let stored = store.run(move |c| queue::store_pause(c, &k, until_ms, &reason)).await;
            if let Err(e) = stored {
                tracing::error!(error = %e, "sending: the pause was not stored; a restart lifts it");
            }
        });
    }

    /// The pauses stored by earlier runs that still hold (call before sessions connect).
    pub async fn load_pauses(&self) {
        let now = now_ms();
        let pauses = match self.inner.store.run(move |c| queue::live_pauses(c, now)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "sending: stored pauses unreadable");
                return;
            }
        };
        let mut paused = self.inner.paused.lock().unwrap_or_else(|p| p.into_inner());
        for (key, until_ms, reason) in pauses {
            let left = std::time::Duration::from_millis((until_ms - now).max(0) as u64);
            tracing::warn!(session = %key, ?left, reason, "sending: the send queue stays paused");
            paused.insert(key, (std::time::Instant::now() + left, reason));
        }
    }

    /// Why and for how long (ms) the session's queue is paused, if it is.
    pub fn paused(&self, key: &SessionKey) -> Option<(u64, String)> {
        let mut paused = self.inner.paused.lock().unwrap_or_else(|p| p.into_inner());
        let (until, why) = paused.get(key)?.clone();
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            paused.remove(key);
            return None;
        }
        Some((left.as_millis() as u64, why))
    }

    fn cached_chat(&self, key: &SessionKey, target: &str) -> Option<String> {
        let chats = self.inner.chats.lock().unwrap_or_else(|p| p.into_inner());
        chats.get(key).and_then(|m| m.get(target)).cloned()
    }

    fn remember_chat(&self, key: &SessionKey, target: &str, chat: &str) {
        let mut chats = self.inner.chats.lock().unwrap_or_else(|p| p.into_inner());
        let m = chats.entry(key.clone()).or_default();
        if m.len() >= 10_000 {
            m.clear();
        }
        m.insert(target.to_owned(), chat.to_owned());
    }

    /// The worker of `key` ends: forget it (a later kick starts a new one).
    fn worker_ended(&self, key: &SessionKey) {
        self.inner.workers.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// A session's page reached `connected` (first start, reload, restart): whatever was handed
    /// to the previous page and not acked is looked up again before anything else goes.
    pub async fn on_connected(&self, key: &SessionKey) {
        self.inner.chats.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        let k = key.clone();
        let reset = self
            .inner
            .store
            .run(move |c| {
                Ok(c.execute(
                    "UPDATE send_queue SET state = 'pending' WHERE workspace = ?1 AND session = ?2 AND state = 'handed'",
                    rusqlite::params![k.workspace.as_str(), k.session.as_str()],
                )?)
            })
            .await;
        match reset {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(session = %key, n, "sending: unacked messages will be looked up")
            }
            Err(e) => tracing::error!(session = %key, error = %e, "sending: reset failed"),
        }
        self.kick(key);
    }

    /// `chat.msg_ack_change` as the glue forwards it: `{ack, chat, participant, ids: [serialized
    /// ids]}`; `participant` is set for a group member's receipt.
    pub async fn on_ack(&self, key: &SessionKey, payload: &Value) {
        let Some(ack) = payload.get("ack").and_then(Value::as_i64) else { return };
        let Some(status) = Status::from_ack(ack) else { return };
        let ids: Vec<String> = payload
            .get("ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if let Some(participant) = payload.get("participant").and_then(Value::as_str) {
            for id in ids {
                self.on_receipt(key, participant, ack, &id).await;
            }
            return;
        }
        let detail = (status == Status::Failed).then(
            || json!({"code": "whatsapp_error", "message": format!("WhatsApp reported ack {ack}")}),
        );
        for wa_id in ids {
            // The lookup and the move in one trip to the store: acks of every session pass here.
            let (k, d) = (key.clone(), detail.clone());
            let moved = self
                .inner
                .store
                .run(move |c| {
                    // Not one of ours (sent from the phone, or a reaction): nothing to move.
                    let Some(id) = queue::outbound_by_wa_id(c, &k, &wa_id)? else {
                        return Ok(None);
                    };
                    queue::settle_and_read(c, &k, &id, status, d.as_ref())
                })
                .await;
            match moved {
                Ok(Some(row)) => self.report(key, row, status, detail.clone(), Some(ack)),
                Ok(None) => {}
                Err(e) => tracing::error!(session = %key, error = %e, "sending: ack not stored"),
            }
        }
    }

    /// A group member's receipt for one of our group messages. Its key names the member as
    /// participant (not the key our send returned), so the message is found by chat and raw id.
    /// The receipt is stored (highest per member); the message's own status follows the page's
    /// model, whose ack WhatsApp Web keeps as the lowest of all members: asked on a task of its
    /// own, so the one listener of page events never waits on the browser.
    async fn on_receipt(&self, key: &SessionKey, participant: &str, ack: i64, serialized: &str) {
        let Some(prefix) = own_key_prefix(serialized) else { return };
        let (k, p) = (key.clone(), participant.to_owned());
        let found = self
            .inner
            .store
            .run(move |c| {
                let Some((id, wa_id)) = queue::outbound_by_key_prefix(c, &k, &prefix)? else {
                    return Ok(None);
                };
                // A member's receipt is 2 or more; anything lower only moves the message.
                if ack >= 2 {
                    queue::record_receipt(c, &k, &id, &p, ack)?;
                }
                Ok(Some((id, wa_id)))
            })
            .await;
        let (id, wa_id) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(session = %key, error = %e, "sending: receipt not stored");
                return;
            }
        };
        let (sender, key) = (self.clone(), key.clone());
        tokio::spawn(async move {
            let call = crate::engine::wpp::get_message_by_id(&wa_id);
            match sender.inner.sessions.bridge_call(&key, call).await {
                Ok(m) => {
                    let ack = m.get("ack").and_then(Value::as_i64).unwrap_or(0);
                    if let Some(status) = Status::from_ack(ack).filter(|_| ack >= 1) {
                        sender.settle(&key, &id, status, None, Some(ack)).await;
                    }
                }
                Err(e) => tracing::debug!(session = %key, error = %e, "group ack not read"),
            }
        });
    }

    /// Moves a message to `status` (monotonic) and, when it moved, reports it once.
    async fn settle(
        &self,
        key: &SessionKey,
        id: &str,
        status: Status,
        detail: Option<Value>,
        ack: Option<i64>,
    ) -> bool {
        let (k, i, d) = (key.clone(), id.to_owned(), detail.clone());
        let moved = self
            .inner
            .store
            .run(move |c| queue::settle_and_read(c, &k, &i, status, d.as_ref()))
            .await;
        match moved {
            Ok(Some(row)) => {
                self.report(key, row, status, detail, ack);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(session = %key, id, error = %e, "sending: status not stored");
                false
            }
        }
    }

    /// `message.status` for a change already stored (`row` as it is now). The event id is
    /// deterministic, so a re-report is the same callback.
    fn report(
        &self,
        key: &SessionKey,
        row: crate::messages::store::MessageRow,
        status: Status,
        detail: Option<Value>,
        ack: Option<i64>,
    ) {
        let mut data = json!({
            "id": row.id,
            "wa_id": row.wa_id,
            "status": status.as_str(),
            "to": row.peer,
            "chat_id": row.chat_id,
            "type": row.kind,
            "client_ref": row.client_ref,
            "timestamp": crate::sessions::snapshot::rfc3339(std::time::SystemTime::now()),
        });
        if let Some(ack) = ack {
            data["ack"] = json!(ack);
        }
        if status == Status::Failed {
            data["error"] = detail.unwrap_or(Value::Null);
        }
        let event_id = model::event_id(key, &row.id, kind::MESSAGE_STATUS, status.as_str());
        self.inner.bus.publish(Event::with_id(event_id, kind::MESSAGE_STATUS, key.clone(), data));
    }

    /// Fails a message with a stable code and reports it.
    async fn fail(&self, key: &SessionKey, id: &str, code: &str, message: String) {
        let detail = json!({"code": code, "message": message});
        if !self.settle(key, id, Status::Failed, Some(detail), None).await {
            // Not movable to failed (already sent, or failed before): just leave the queue.
            let (k, i) = (key.clone(), id.to_owned());
            let _ = self.inner.store.run(move |c| queue::dequeue(c, &k, &i)).await;
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.inner.store.run(f).await
    }
}

/// `true_<chat>_<id>` of a serialized key of ours (`true_<chat>_<id>[_<participant>]`), whatever
/// participant it names; `None` for someone else's message.
fn own_key_prefix(serialized: &str) -> Option<String> {
    let mut parts = serialized.splitn(4, '_');
    let (from_me, chat, raw) = (parts.next()?, parts.next()?, parts.next()?);
    (from_me == "true" && !chat.is_empty() && !raw.is_empty()).then(|| format!("true_{chat}_{raw}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_receipt_key_names_our_message_whatever_participant_it_carries() {
        let p = super::own_key_prefix;
        assert_eq!(
            p("true_123-456@g.us_3EB0AB_15557654321@c.us").as_deref(),
            Some("true_123-456@g.us_3EB0AB")
        );
        assert_eq!(p("true_1@c.us_3EB0AB").as_deref(), Some("true_1@c.us_3EB0AB"));
        assert_eq!(p("false_123-456@g.us_3EB0AB_1@c.us"), None);
        assert_eq!(p("garbage"), None);
    }
}
