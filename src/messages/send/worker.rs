//! One worker per session: takes the session's oldest pending message, hands it to the page
//! exactly once (resolve the chat, pre-generate and persist WhatsApp's id, send with it; a message
//! that already has an id is looked up first), paces, expires what waits too long for a
//! connection, and checks messages whose server ack is overdue. One message in flight per session,
//! so order is kept per chat.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::queue::{self, Job, Known};
use super::request::{Content, MessageType, Outgoing, Priority, Recipient};
use super::Sender;
use crate::engine::{wpp, EngineError};
use crate::ids::SessionKey;
use crate::messages::store::now_ms;
use crate::messages::Status;
use crate::sessions::{SessionError, State};

/// How often an idle worker looks again (expiry, overdue acks) without being woken.
const TICK: Duration = Duration::from_millis(500);
/// Back-off after a transient failure (the page reloading, a bridge timeout).
const RETRY: Duration = Duration::from_secs(1);
/// Overdue checks at most this often.
const SWEEP_EVERY_MS: i64 = 1_000;

/// WPPError codes that say "try again", not "this message cannot be sent".
const TRANSIENT_CODES: &[&str] = &["not_authenticated", "ERROR_NETWORK", "timeout"];

enum Outcome {
    /// Handed over, or settled; next.
    Done,
    /// Try this one again after a pause.
    Retry,
}

pub(super) async fn run(sender: Sender, key: SessionKey, notify: Arc<Notify>) {
    tracing::debug!(session = %key, "send worker started");
    let mut last_sweep = 0i64;
    let mut failures = 0u32;
    let mut was_connected = false;
    // Messages whose id this worker generated (with an earlier one's) and that no page has seen:
    // they need no lookup before their send.
    let mut fresh = HashSet::new();
    loop {
        let state = match sender.inner.sessions.get(&key) {
            Ok(s) => Some(s.state),
            Err(_) => None,
        };
        if state.is_none() && sender.inner.sessions.owned_elsewhere(&key) {
            // Handed over to a sidecar sharing the data folder: its worker sends the queue.
            sender.worker_ended(&key);
            tracing::info!(session = %key, "send worker ended (the session moved to another process)");
            return;
        }
        if state != Some(State::Connected) {
            was_connected = false;
            expire(&sender, &key, &fresh).await;
            if state.is_none() && queue_empty(&sender, &key).await {
                sender.worker_ended(&key);
                tracing::debug!(session = %key, "send worker ended (session gone, queue empty)");
                return;
            }
            let _ = tokio::time::timeout(TICK, notify.notified()).await;
            continue;
        }
        if sender.paused(&key).is_some() {
            let _ = tokio::time::timeout(TICK, notify.notified()).await;
            continue;
        }
        if !was_connected {
            let k = key.clone();
            if sender.run(move |c| queue::clear_expiry(c, &k)).await.is_ok() {
                was_connected = true;
            }
        }
        if now_ms() - last_sweep >= SWEEP_EVERY_MS {
            last_sweep = now_ms();
            sweep_overdue(&sender, &key).await;
        }
        let k = key.clone();
        let job = match sender.run(move |c| queue::next_pending(c, &k, now_ms())).await {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(session = %key, error = %e, "send worker: queue unreadable");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let Some(job) = job else {
            let _ = tokio::time::timeout(TICK, notify.notified()).await;
            continue;
        };
        let pacing = sender.pacing();
        if fresh.len() > 10_000 {
            fresh.clear(); // a bound; a forgotten one is only looked up first
        }
        match process(&sender, &key, job.clone(), &mut fresh).await {
            Outcome::Done => {
                failures = 0;
                if pacing.enabled && pacing.gap_max_ms > 0 {
                    let gap = rand::rng().random_range(pacing.gap_min_ms..=pacing.gap_max_ms);
                    tokio::time::sleep(Duration::from_millis(gap)).await;
                }
            }
            Outcome::Retry => {
                let k = key.clone();
                let id = job.id.clone();
                let attempts = sender.run(move |c| queue::bump_attempts(c, &k, &id)).await;
                if attempts.is_ok_and(|a| a >= sender.inner.cfg.max_attempts) {
                    give_up(&sender, &key, &job).await;
                }
                failures += 1;
                if pacing.enabled && failures >= pacing.breaker_failures {
                    tracing::warn!(session = %key, failures, "send breaker open: pausing the queue");
                    tokio::time::sleep(Duration::from_millis(pacing.breaker_pause_ms)).await;
                    failures = 0;
                } else {
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

async fn queue_empty(sender: &Sender, key: &SessionKey) -> bool {
    let k = key.clone();
    sender
        .run(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM send_queue WHERE workspace = ?1 AND session = ?2",
                rusqlite::params![k.workspace.as_str(), k.session.as_str()],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .is_ok_and(|n| n == 0)
}

/// Not connected: fail what waited longer than `expire_after_ms`.
async fn expire(sender: &Sender, key: &SessionKey, fresh: &HashSet<String>) {
    let k = key.clone();
    let after = sender.inner.cfg.expire_after_ms as i64;
    let fresh = fresh.clone();
    let ids = match sender.run(move |c| queue::expiring(c, &k, now_ms(), after, &fresh)).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(session = %key, error = %e, "send worker: expiry failed");
            return;
        }
    };
    for id in ids {
        let msg = format!(
            "the session was not connected for {} s after the message was queued",
            after / 1000
        );
        sender.fail(key, &id, "expired", msg).await;
    }
}

/// Attempts are used up: if the page has the message it was handed over after all; otherwise
/// it fails.
async fn give_up(sender: &Sender, key: &SessionKey, job: &Job) {
    let k = key.clone();
    let id = job.id.clone();
    let wa_id = sender.run(move |c| crate::messages::store::get(c, &k, &id)).await;
    if let Ok(Some(row)) = wa_id {
        if let Some(wa_id) = row.wa_id {
            if let Ok(Some(_)) = lookup(sender, key, &wa_id).await {
                mark_handed(sender, key, &job.id).await;
                return;
            }
        }
    }
    sender
        .fail(
            key,
            &job.id,
            "send_failed",
            "the page did not take the message after repeated attempts".into(),
        )
        .await;
}

fn wpp_code(e: &SessionError) -> Option<&str> {
    match e {
        SessionError::Engine(EngineError::Bridge { code: Some(c), .. }) => Some(c.as_str()),
        _ => None,
    }
}

/// A refusal by WhatsApp (a `WPPError` with a code) that retrying will not change.
fn is_permanent(e: &SessionError) -> bool {
    wpp_code(e).is_some_and(|c| !TRANSIENT_CODES.contains(&c))
}

/// `getMessageById`: `Ok(Some(msg))` present, `Ok(None)` absent, `Err` unknown.
async fn lookup(
    sender: &Sender,
    key: &SessionKey,
    wa_id: &str,
) -> Result<Option<Value>, SessionError> {
    match sender.inner.sessions.bridge_call(key, wpp::get_message_by_id(wa_id)).await {
        Ok(Value::Null) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) if wpp_code(&e) == Some("msg_not_found") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn mark_handed(sender: &Sender, key: &SessionKey, id: &str) {
    let (k, i) = (key.clone(), id.to_owned());
    if let Err(e) = sender.run(move |c| queue::mark_handed(c, &k, &i)).await {
        tracing::error!(session = %key, id, error = %e, "send worker: hand-over not stored");
    }
}

/// A status from an ack the page reports for a message (present after a lookup, or a send).
async fn apply_ack(sender: &Sender, key: &SessionKey, id: &str, ack: Option<i64>) {
    let Some(ack) = ack else { return };
    if let Some(status) = Status::from_ack(ack) {
        let detail = (status == Status::Failed).then(
            || json!({"code": "whatsapp_error", "message": format!("WhatsApp reported ack {ack}")}),
        );
        sender.settle(key, id, status, detail, Some(ack)).await;
    }
}

async fn process(
    sender: &Sender,
    key: &SessionKey,
    job: Job,
    fresh: &mut HashSet<String>,
) -> Outcome {
    let out: Outgoing = match serde_json::from_value(job.body.clone()) {
        Ok(o) => o,
        Err(e) => {
            sender.fail(key, &job.id, "internal", format!("stored message unreadable: {e}")).await;
            return Outcome::Done;
        }
    };
    if let Content::Reaction { message_id, emoji } = &out.content {
        return react(sender, key, &job, message_id, emoji).await;
    }
    let (chat, wa_id) = match (&job.wa_id, &job.chat_id) {
        (Some(wa_id), Some(chat)) if fresh.remove(&job.id) => (chat.clone(), wa_id.clone()),
        (Some(wa_id), Some(chat)) => {
            // Handed to a page before (maybe): ask first, never resend blindly.
            match lookup(sender, key, wa_id).await {
                Ok(Some(msg)) => {
                    mark_handed(sender, key, &job.id).await;
                    apply_ack(sender, key, &job.id, msg.get("ack").and_then(Value::as_i64)).await;
                    return Outcome::Done;
                }
                Ok(None) => (chat.clone(), wa_id.clone()),
                Err(e) => {
                    tracing::info!(session = %key, id = %job.id, error = %e, "lookup before resend failed; will retry");
                    return Outcome::Retry;
                }
            }
        }
        _ => match prepare(sender, key, &job, &out, fresh).await {
            Ok(Some(ids)) => ids,
            Ok(None) => return Outcome::Done,
            Err(outcome) => return outcome,
        },
    };
    if sender.pacing().enabled && out.priority == Priority::Normal {
        show_typing(sender, key, &chat, &out.content).await;
    }
    let call = match send_call(&chat, &wa_id, &out, sender, key, &job.id).await {
        Ok(call) => call,
        Err(outcome) => return outcome,
    };
    match sender.inner.sessions.bridge_call(key, call).await {
        Ok(result) => {
            mark_handed(sender, key, &job.id).await;
            apply_ack(sender, key, &job.id, result.get("ack").and_then(Value::as_i64)).await;
            Outcome::Done
        }
        Err(e) if is_permanent(&e) => {
            let code = wpp_code(&e).unwrap_or_default().to_owned();
            let (status_code, message) = if code == "wid_not_found" {
                ("recipient_not_on_whatsapp", format!("{} is not on WhatsApp", out.to))
            } else {
                ("whatsapp_error", format!("WhatsApp refused the message: {e}"))
            };
            sender.fail(key, &job.id, status_code, message).await;
            Outcome::Done
        }
        Err(e) => {
            tracing::info!(session = %key, id = %job.id, error = %e, "send failed; will look up and retry");
            Outcome::Retry
        }
    }
}

/// First hand-over: check the recipient, resolve the chat, pre-generate WhatsApp's id and persist
/// it, with the ids of the next pending messages to the same recipient (added to `fresh`).
/// `Ok(None)`: the message failed (reported).
async fn prepare(
    sender: &Sender,
    key: &SessionKey,
    job: &Job,
    out: &Outgoing,
    fresh: &mut HashSet<String>,
) -> Result<Option<(String, String)>, Outcome> {
    let mut target = out.recipient.chat_id();
    if let Recipient::Phone(phone) = &out.recipient {
        match recipient(sender, key, phone).await {
            Ok(known) if known.found => {
                if let Some(wid) = known.wid {
                    target = wid;
                }
            }
            Ok(_) => {
                let msg = format!("{} is not on WhatsApp", out.to);
                sender.fail(key, &job.id, "recipient_not_on_whatsapp", msg).await;
                return Ok(None);
            }
            Err(e) => return Err(transient_or_fail(sender, key, job, e).await),
        }
    }
    let cached = sender.cached_chat(key, &target);
    let chat = match cached {
        Some(chat) => chat,
        None => match sender.inner.sessions.bridge_call(key, wpp::find_chat(&target)).await {
            Ok(v) => match v.get("id").and_then(Value::as_str) {
                Some(id) => {
                    sender.remember_chat(key, &target, id);
                    id.to_owned()
                }
                None => {
                    let msg = format!("WhatsApp has no chat for {}", out.to);
                    sender.fail(key, &job.id, "chat_not_found", msg).await;
                    return Ok(None);
                }
            },
            Err(e) => return Err(transient_or_fail(sender, key, job, e).await),
        },
    };
    let mut ids = vec![job.id.clone()];
    ids.extend(same_recipient_next(sender, key, job, out).await);
    let call = wpp::generate_message_ids(&chat, ids.len());
    let wa_ids: Vec<String> = match sender.inner.sessions.bridge_call(key, call).await {
        Ok(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Ok(other) => {
            tracing::error!(session = %key, result = %other, "generateMessageID gave no ids");
            return Err(Outcome::Retry);
        }
        Err(e) => return Err(transient_or_fail(sender, key, job, e).await),
    };
    if wa_ids.len() != ids.len() {
        tracing::error!(session = %key, asked = ids.len(), got = wa_ids.len(), "generateMessageID gave too few ids");
        return Err(Outcome::Retry);
    }
    let wa_id = wa_ids[0].clone();
    let pairs: Vec<(String, String)> = ids.into_iter().zip(wa_ids).collect();
    let later: Vec<String> = pairs.iter().skip(1).map(|(id, _)| id.clone()).collect();
    let (k, c) = (key.clone(), chat.clone());
    if let Err(e) = sender.run(move |conn| queue::set_wa_ids(conn, &k, &pairs, &c)).await {
        tracing::error!(session = %key, error = %e, "send worker: could not persist the WhatsApp ids");
        return Err(Outcome::Retry);
    }
    fresh.extend(later);
    Ok(Some((chat, wa_id)))
}

/// The next pending messages (after `job`, without an id yet) to the same recipient, up to a
/// batch: their ids are generated with `job`'s. Reactions have no id of their own.
async fn same_recipient_next(
    sender: &Sender,
    key: &SessionKey,
    job: &Job,
    out: &Outgoing,
) -> Vec<String> {
    let batch = sender.inner.cfg.id_batch;
    if batch <= 1 {
        return Vec::new();
    }
    let (k, after) = (key.clone(), job.id.clone());
    let Ok(rows) = sender.run(move |c| queue::pending_without_id(c, &k, &after, batch * 4)).await
    else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|(id, body)| {
            let next: Outgoing = serde_json::from_value(body).ok()?;
            let same = next.recipient == out.recipient
                && !matches!(next.content, Content::Reaction { .. });
            same.then_some(id)
        })
        .take(batch - 1)
        .collect()
}

async fn transient_or_fail(
    sender: &Sender,
    key: &SessionKey,
    job: &Job,
    e: SessionError,
) -> Outcome {
    if is_permanent(&e) {
        let code = wpp_code(&e).unwrap_or_default();
        let status_code =
            if code == "wid_not_found" { "recipient_not_on_whatsapp" } else { "whatsapp_error" };
        sender.fail(key, &job.id, status_code, format!("WhatsApp refused: {e}")).await;
        Outcome::Done
    } else {
        tracing::info!(session = %key, id = %job.id, error = %e, "send step failed; will retry");
        Outcome::Retry
    }
}

/// A phone number's WhatsApp account, from the cache or `queryExists`.
pub(super) async fn recipient(
    sender: &Sender,
    key: &SessionKey,
    phone: &str,
) -> Result<Known, SessionError> {
    let cfg = &sender.inner.cfg;
    let (k, p) = (key.clone(), phone.to_owned());
    let (hit, miss) = (cfg.recipient_hit_ttl_ms as i64, cfg.recipient_miss_ttl_ms as i64);
    if let Ok(Some(known)) =
        sender.run(move |c| queue::recipient(c, &k, &p, now_ms(), hit, miss)).await
    {
        return Ok(known);
    }
    let v =
        sender.inner.sessions.bridge_call(key, wpp::query_exists(&format!("{phone}@c.us"))).await?;
    let known = Known {
        found: !v.is_null(),
        wid: v.get("wid").and_then(Value::as_str).map(str::to_owned),
        lid: v.get("lid").and_then(Value::as_str).map(str::to_owned),
    };
    let (k, p, kn) = (key.clone(), phone.to_owned(), known.clone());
    if let Err(e) = sender.run(move |c| queue::remember_recipient(c, &k, &p, &kn)).await {
        tracing::warn!(session = %key, error = %e, "recipient cache not written");
    }
    Ok(known)
}

/// Typing (or recording, for a voice note) for a time that grows with the text, timed here.
async fn show_typing(sender: &Sender, key: &SessionKey, chat: &str, content: &Content) {
    let p = sender.pacing();
    if matches!(content, Content::Reaction { .. }) {
        return;
    }
    let chars = content.typed_chars() as u64;
    let base =
        (p.typing_base_ms + p.typing_per_char_ms * chars).clamp(p.typing_min_ms, p.typing_max_ms);
    let jitter = if p.typing_jitter > 0.0 {
        rand::rng().random_range(-p.typing_jitter..p.typing_jitter)
    } else {
        0.0
    };
    let ms = ((base as f64) * (1.0 + jitter)).max(0.0) as u64;
    let voice = matches!(content, Content::Media { kind: MessageType::Audio, voice: true, .. });
    let call =
        if voice { wpp::mark_is_recording(chat, ms) } else { wpp::mark_is_composing(chat, ms) };
    if let Err(e) = sender.inner.sessions.bridge_call(key, call).await {
        tracing::debug!(session = %key, error = %e, "typing indicator not shown");
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The options every send carries: the pre-generated id, no waiting in the page, no implicit
/// read receipts, no in-page delay.
fn base_options(wa_id: &str, out: &Outgoing, reply_to: Option<&str>) -> Value {
    let mut o = json!({
        "messageId": wa_id,
        "waitForAck": false,
        "markIsRead": false,
        "delay": 0,
        "createChat": true,
    });
    if let Some(q) = reply_to {
        o["quotedMsg"] = json!(q);
    }
    if !out.mentions.is_empty() {
        o["mentionedList"] = json!(out.mentions);
        o["detectMentioned"] = json!(false);
    }
    o
}

/// The reply target as WhatsApp's id (ours are looked up in the index).
async fn resolve_message(sender: &Sender, key: &SessionKey, id: &str) -> Option<String> {
    match sender.inner.store.get(key, id).await {
        Ok(Some(row)) => row.wa_id,
        _ if id.starts_with("true_") || id.starts_with("false_") => Some(id.to_owned()),
        _ => None,
    }
}

async fn send_call(
    chat: &str,
    wa_id: &str,
    out: &Outgoing,
    sender: &Sender,
    key: &SessionKey,
    id: &str,
) -> Result<wpp::WppCall, Outcome> {
    let reply_to = match &out.reply_to {
        Some(target) => match resolve_message(sender, key, target).await {
            Some(w) => Some(w),
            None => {
                // Fail rather than send it without the reply the host asked for.
                let msg = format!("context.message_id: no message {target} in this session");
                sender.fail(key, id, "reply_not_found", msg).await;
                return Err(Outcome::Done);
            }
        },
        None => None,
    };
    let mut opts = base_options(wa_id, out, reply_to.as_deref());
    Ok(match &out.content {
        Content::Text { body, preview_url } => {
            opts["linkPreview"] = json!(preview_url);
            wpp::send_text(chat, body, &opts)
        }
        Content::Media { kind, mime_type, data, caption, filename, voice, .. } => {
            opts["type"] = json!(kind.as_str());
            opts["mimetype"] = json!(mime_type);
            if let Some(c) = caption {
                opts["caption"] = json!(c);
            }
            if let Some(f) = filename {
                opts["filename"] = json!(f);
            }
            if *voice {
                opts["isPtt"] = json!(true);
            }
            wpp::send_file(chat, &format!("data:{mime_type};base64,{data}"), &opts)
        }
        Content::Location { latitude, longitude, name, address } => {
            opts["lat"] = json!(latitude);
            opts["lng"] = json!(longitude);
            if let Some(n) = name {
                opts["name"] = json!(n);
            }
            if let Some(a) = address {
                opts["address"] = json!(a);
            }
            wpp::send_location(chat, &opts)
        }
        Content::Contacts { cards } => {
            let list: Vec<Value> =
                cards.iter().map(|(id, name)| json!({"id": id, "name": name})).collect();
            wpp::send_vcard(chat, &json!(list), &opts)
        }
        Content::Poll { name, options, selectable_count } => {
            opts["selectableCount"] = json!(selectable_count);
            wpp::send_poll(chat, name, options, &opts)
        }
        Content::Reaction { .. } => return Err(Outcome::Done),
    })
}

/// A reaction: no message of its own to pre-generate; setting the same reaction twice is
/// harmless, so a retry simply sends it again.
async fn react(sender: &Sender, key: &SessionKey, job: &Job, target: &str, emoji: &str) -> Outcome {
    let Some(wa_id) = resolve_message(sender, key, target).await else {
        let msg = format!("no message {target} in this session");
        sender.fail(key, &job.id, "message_not_found", msg).await;
        return Outcome::Done;
    };
    match sender.inner.sessions.bridge_call(key, wpp::send_reaction(&wa_id, emoji)).await {
        Ok(_) => {
            sender.settle(key, &job.id, Status::Sent, None, None).await;
            Outcome::Done
        }
        Err(e) => transient_or_fail(sender, key, job, e).await,
    }
}

/// Handed messages whose server ack is overdue: ask the page. Acked → the status; failed → failed;
/// absent (the page lost it before the server had it) → pending again (sent with the same id);
/// present but pending → `unconfirmed`.
async fn sweep_overdue(sender: &Sender, key: &SessionKey) {
    let k = key.clone();
    let cutoff = now_ms() - sender.inner.cfg.unconfirmed_after_ms as i64;
    let Ok(rows) = sender.run(move |c| queue::overdue(c, &k, cutoff)).await else { return };
    for (id, wa_id) in rows {
        match lookup(sender, key, &wa_id).await {
            Ok(Some(msg)) => {
                let ack = msg.get("ack").and_then(Value::as_i64).unwrap_or(0);
                if ack != 0 {
                    apply_ack(sender, key, &id, Some(ack)).await;
                } else {
                    let detail =
                        json!({"reason": "no server ack in time; the page still has it pending"});
                    sender.settle(key, &id, Status::Unconfirmed, Some(detail), None).await;
                    let (k, i) = (key.clone(), id.clone());
                    let _ = sender.run(move |c| queue::dequeue(c, &k, &i)).await;
                }
            }
            Ok(None) => {
                let (k, i) = (key.clone(), id.clone());
                let _ = sender
                    .run(move |c| {
                        Ok(c.execute(
                            "UPDATE send_queue SET state = 'pending' WHERE workspace = ?1 AND session = ?2 AND id = ?3",
                            rusqlite::params![k.workspace.as_str(), k.session.as_str(), i],
                        )?)
                    })
                    .await;
            }
            Err(e) => tracing::debug!(session = %key, error = %e, "overdue check failed"),
        }
    }
}
