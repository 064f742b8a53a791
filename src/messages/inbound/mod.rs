//! Receiving: every page event of a linked account except our own sends' acks becomes a callback,
//! exactly once, and messages that arrived while the page was away are caught up on every
//! (re)connect.
//!
//! Owns: `message.received`, `message.sent` (origin phone), `message.edited`, `message.revoked`,
//! `message.reaction`, `poll.vote`, `presence.update`, `group.participants`, `call.incoming`,
//! `contact.identity`; the per-session watermark and the identity cache (`store`); the mapping of
//! WhatsApp's message shape to the callbacks' (`shape`).
//!
//! Exactly once: a message is looked up in the message index, published with a deterministic
//! event id, then indexed. A crash between the two repeats the callback with the same
//! `webhook-id` (the outbox keeps one copy per id); nothing is ever reported under two ids.
//!
//! Runs on the messages task only (one note at a time, in order), so it may call the page
//! through the session's actor.

pub mod api;
pub mod media;
pub mod metrics;
pub mod reactions;
pub mod shape;
pub mod store;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};

use self::shape::{Context, Identity, Kind, Source, WireMsg};
use super::model::{event_id, Direction, MessageId, Status};
use super::store::NewMessage;
use super::Messages;
use crate::engine::wpp;
use crate::events::{kind, Event};
use crate::ids::SessionKey;

/// `[calls]`: what the sidecar does when a call rings.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Decline every incoming call (`WPP.call.reject`); `call.incoming` is still reported, with
    /// `rejected: true`.
    pub reject: bool,
}

/// What receiving needs from the configuration, set once at startup.
pub struct Setup {
    pub media: Arc<media::MediaStore>,
    /// How often the media retention sweep runs.
    pub media_sweep_every: std::time::Duration,
    pub reject_calls: bool,
    /// The restriction last reported per session, so a repeated signal is reported once.
    pub restrictions: std::sync::Mutex<std::collections::HashMap<SessionKey, String>>,
}

/// A catch-up re-reads messages this much older than the watermark (clock skew between chats,
/// messages reported out of order); the index drops what was seen.
const CATCHUP_SLACK_S: i64 = 120;
/// Messages read per `getMessages` page during a catch-up, and the most per chat.
const CATCHUP_PAGE: u32 = 50;
const CATCHUP_MAX_PER_CHAT: usize = 2_000;
/// How long an incomplete identity (LID or phone only) is trusted before the page is asked again.
const IDENTITY_RECHECK_MS: i64 = 5_000;

/// Handles one page event of `key`'s page.
pub async fn on_event(m: &Messages, key: &SessionKey, name: &str, payload: Value) {
    let result = match name {
        "chat.new_message" => on_message(m, key, payload, Source::Live).await.map(|_| ()),
        "chat.msg_edited" => on_edited(m, key, payload).await,
        "chat.msg_revoke" => on_revoked(m, key, payload).await,
        "chat.new_reaction" => reactions::on_reaction(m, key, payload).await,
        "chat.poll_response" => reactions::on_poll_vote(m, key, payload).await,
        "chat.presence_change" => on_presence(m, key, payload).await,
        "group.participant_changed" => on_participants(m, key, payload).await,
        "call.incoming_call" => on_call(m, key, payload).await,
        "conn.backend_event" => on_backend_event(m, key, payload).await,
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(session = %key, event = name, error = %e, "page event not reported");
    }
}

type Result<T> = std::result::Result<T, anyhow::Error>;

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

async fn publish(m: &Messages, event: Event) {
    metrics::event(event.kind);
    let bus = m.bus.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || bus.publish(event)).await {
        tracing::error!(error = %e, "publishing an event failed");
    }
}

/// Reports one message (live or from a catch-up). Returns whether a callback was published.
async fn on_message(
    m: &Messages,
    key: &SessionKey,
    payload: Value,
    source: Source,
) -> Result<bool> {
    let msg: WireMsg = serde_json::from_value(payload)?;
    report_message(m, key, &msg, source).await
}

async fn report_message(
    m: &Messages,
    key: &SessionKey,
    msg: &WireMsg,
    source: Source,
) -> Result<bool> {
    let Some(wa_id) = msg.id.clone() else { return Ok(false) };
    let kind_of = Kind::of(msg);
    if kind_of == Kind::Ignored {
        return Ok(false);
    }
    let existing = m.store.get(key, &wa_id).await?;
    let decrypted = match &existing {
        // Ours (sent through the API, the send part reports it) or reported already.
        Some(row) if row.kind == "undecryptable" && kind_of != Kind::Undecryptable => true,
        Some(_) => return Ok(false),
        None => false,
    };
    let id = match &existing {
        Some(row) => row.id.clone(),
        None => MessageId::for_inbound(key, &wa_id).to_string(),
    };
    let from = identify(m, key, shape::sender_id(msg), msg.notify_name.as_deref()).await;
    let quoted = match msg.quoted_id.as_deref() {
        Some(q) => m.store.get(key, q).await?.map(|r| r.id),
        None => None,
    };
    let media_id = (msg.is_media
        || matches!(kind_of, Kind::Content("image" | "video" | "audio" | "document" | "sticker")))
    .then(|| media_id(key, &wa_id));
    let mut data = shape::message_data(
        msg,
        &Context {
            id: &id,
            from: &from,
            quoted: quoted.as_deref(),
            media_id: media_id.as_deref(),
            source,
        },
    );
    if let (Some(mid), Some(media_store), Kind::Content(k)) =
        (media_id.as_deref(), m.setup().map(|s| &s.media), kind_of)
    {
        let want = data["media"]["sha256"].as_str().map(str::to_owned);
        let info = media::ensure(
            m,
            media_store,
            key,
            &media::Expected {
                media_id: mid,
                message_id: &id,
                wa_id: &wa_id,
                kind: k,
                mime_type: msg.mimetype.as_deref(),
                sha256: want.as_deref(),
                filename: msg.filename.as_deref(),
            },
        )
        .await;
        let voice = data["media"]["voice"].clone();
        data["media"] = serde_json::to_value(&info)?;
        if voice == json!(true) {
            data["media"]["voice"] = voice;
        }
        if info.status == "stored" && info.size.is_some_and(|s| s <= media_store.inline_max) {
            let (s, k, mid) = (media_store.clone(), key.clone(), mid.to_owned());
            if let Ok(Ok(Some(bytes))) = tokio::task::spawn_blocking(move || s.read(&k, &mid)).await
            {
                use base64::Engine as _;
                data["media"]["data"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
    }
    if decrypted {
        data["decrypted"] = json!(true);
    }
    let event_kind = if msg.from_me { kind::MESSAGE_SENT } else { kind::MESSAGE_RECEIVED };
    let detail = if decrypted { "decrypted" } else { "" };
    publish(
        m,
        Event::with_id(
            event_id(key, &id, event_kind, detail),
            event_kind,
            key.clone(),
            data.clone(),
        ),
    )
    .await;

    let t = msg.t.map(|t| t as i64);
    let (k, row_kind, chat, peer) = (
        key.clone(),
        kind_of.name().to_owned(),
        msg.remote.clone(),
        from.id.clone().unwrap_or_default(),
    );
    let new = NewMessage {
        id: MessageId::parse(&id).unwrap_or_else(|| MessageId::for_inbound(key, &wa_id)),
        wa_id: Some(wa_id),
        // A message the account sent from its phone is outbound; `received` keeps it out of the
        // send part's status tracking.
        direction: if msg.from_me { Direction::Out } else { Direction::In },
        chat_id: chat,
        peer,
        kind: row_kind.clone(),
        body: {
            let mut body = data;
            if let Some(media) = body.get_mut("media").and_then(Value::as_object_mut) {
                media.remove("data");
            }
            body
        },
        status: Status::Received,
        client_ref: None,
        wa_t: t,
    };
    m.store
        .run(move |c| {
            if decrypted {
                c.execute(
                    "UPDATE messages SET type = ?4, body = ?5, updated_at = ?6 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
                    rusqlite::params![
                        k.workspace.as_str(), k.session.as_str(), new.id.as_str(), row_kind,
                        new.body.to_string(), super::store::now_ms()
                    ],
                )?;
            } else {
                super::store::insert(c, &k, &new)?;
            }
            if let Some(t) = t {
                store::advance_watermark(c, &k, t)?;
            }
            Ok(())
        })
        .await?;
    Ok(true)
}

/// Our id of a message's media: derived from the message, so it is stable across repeats.
pub fn media_id(key: &SessionKey, wa_id: &str) -> String {
    let id = MessageId::for_inbound(key, wa_id);
    format!("med_{}", &id.as_str()[3..])
}

/// Who `id` is: the id itself, both of its forms when the session knows them (asking the page
/// once in a while), and the push name. Learning a LID ↔ phone pair publishes `contact.identity`.
pub async fn identify(
    m: &Messages,
    key: &SessionKey,
    id: Option<&str>,
    push_name: Option<&str>,
) -> Identity {
    let mut who = Identity::from_id(id, push_name);
    let Some(id) = id else { return who };
    if !(id.ends_with("@c.us") || id.ends_with("@lid")) {
        return who;
    }
    let (k, i) = (key.clone(), id.to_owned());
    let known = m.store.run(move |c| store::identity(c, &k, &i)).await.ok().flatten();
    if let Some(k) = &known {
        who.lid = who.lid.take().or(k.lid.clone());
        who.pn = who.pn.take().or(k.pn.clone());
        if who.push_name.is_none() {
            who.push_name = k.push_name.clone();
        }
    }
    let complete = who.lid.is_some() && who.pn.is_some();
    let fresh =
        known.as_ref().is_some_and(|k| super::store::now_ms() - k.checked_at < IDENTITY_RECHECK_MS);
    if complete
        && known.as_ref().is_some_and(|k| k.push_name == who.push_name || who.push_name.is_none())
    {
        return who;
    }
    if !complete && !fresh {
        match m.sessions.bridge_call(key, wpp::get_pn_lid_entry(id)).await {
            Ok(v) => {
                #[derive(Deserialize)]
                struct Entry {
                    lid: Option<String>,
                    pn: Option<String>,
                    push_name: Option<String>,
                }
                if let Ok(e) = serde_json::from_value::<Entry>(v) {
                    who.lid = who.lid.take().or(e.lid);
                    who.pn = who.pn.take().or(e.pn.as_deref().and_then(shape::pn_digits));
                    if who.push_name.is_none() {
                        who.push_name = e.push_name;
                    }
                }
            }
            Err(e) => tracing::debug!(session = %key, error = %e, "getPnLidEntry failed"),
        }
    }
    let (k, i, w) = (key.clone(), id.to_owned(), who.clone());
    match m.store.run(move |c| store::learn(c, &k, &i, &w)).await {
        Ok(true) => {
            let lid = who.lid.clone().unwrap_or_default();
            let pn = who.pn.clone().unwrap_or_default();
            let data =
                json!({"id": who.id, "lid": who.lid, "pn": who.pn, "push_name": who.push_name});
            publish(
                m,
                Event::with_id(
                    event_id(key, &lid, kind::CONTACT_IDENTITY, &pn),
                    kind::CONTACT_IDENTITY,
                    key.clone(),
                    data,
                ),
            )
            .await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(session = %key, error = %e, "identity not stored"),
    }
    who
}

/// Catch-up after `key` connected: messages newer than the watermark that no live event
/// reported are read from the page and reported in order with `source: "catchup"`. The first
/// connection only sets the watermark (history from before linking is not news).
pub async fn catch_up(m: &Messages, key: &SessionKey) {
    let started = std::time::Instant::now();
    match catch_up_inner(m, key).await {
        Ok(Some(n)) => {
            tracing::info!(session = %key, reported = n, took_ms = started.elapsed().as_millis() as u64, "catch-up done")
        }
        Ok(None) => tracing::debug!(session = %key, "first connection: watermark set"),
        Err(e) => {
            tracing::warn!(session = %key, error = %e, "catch-up failed; the next connection retries")
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireChat {
    id: Option<String>,
    t: Option<f64>,
}

async fn catch_up_inner(m: &Messages, key: &SessionKey) -> Result<Option<usize>> {
    let k = key.clone();
    let (mark, created) = m.store.run(move |c| store::init_watermark(c, &k, now_s())).await?;
    if created {
        return Ok(None);
    }
    let floor = mark.since.max(mark.t - CATCHUP_SLACK_S);
    let chats: Vec<WireChat> =
        serde_json::from_value(m.sessions.bridge_call(key, wpp::chat_list(None)).await?)?;
    let mut found: Vec<WireMsg> = Vec::new();
    for chat in chats {
        let Some(chat_id) = chat.id else { continue };
        if chat.t.is_some_and(|t| (t as i64) < floor) || chat_id == "status@broadcast" {
            continue;
        }
        found.extend(read_since(m, key, &chat_id, floor).await?);
    }
    // Oldest first across chats; a stable sort keeps each chat's own order within a second.
    found.sort_by_key(|msg| msg.t.map(|t| t as i64).unwrap_or(i64::MAX));
    let mut reported = 0;
    for msg in &found {
        if report_message(m, key, msg, Source::Catchup).await? {
            reported += 1;
        } else {
            catch_up_changes(m, key, msg).await?;
        }
        // A page that cannot tell (an older WhatsApp Web) must not stop the messages' catch-up.
        if let Err(e) = reactions::catch_up(m, key, msg).await {
            tracing::warn!(session = %key, error = %e, "reactions and votes not caught up");
        }
    }
    let k = key.clone();
    m.store.run(move |c| store::count_catchup(c, &k)).await?;
    metrics::catchup(reported);
    Ok(Some(reported))
}

/// A chat's messages with `t >= floor`, oldest first: the latest page (wa-js anchors it on the
/// last *received* message), what follows it (the account's own newer messages), then paging
/// back to the floor.
async fn read_since(
    m: &Messages,
    key: &SessionKey,
    chat: &str,
    floor: i64,
) -> Result<Vec<WireMsg>> {
    let page = |before: Option<String>| async move {
        let v = m
            .sessions
            .bridge_call(key, wpp::get_messages(chat, CATCHUP_PAGE, before.as_deref()))
            .await?;
        Ok::<Vec<WireMsg>, anyhow::Error>(serde_json::from_value(v)?)
    };
    let mut out: Vec<WireMsg> = page(None).await?;
    // Forward from the newest message read, until nothing follows.
    let mut newest = out.last().and_then(|p| p.id.clone());
    while let Some(after) = newest.clone() {
        let v = m
            .sessions
            .bridge_call(key, wpp::get_messages_after(chat, CATCHUP_PAGE, &after))
            .await?;
        let more: Vec<WireMsg> = serde_json::from_value(v)?;
        newest = more.last().and_then(|p| p.id.clone());
        let full = more.len() as u32 >= CATCHUP_PAGE;
        out.extend(more);
        if !full || out.len() >= CATCHUP_MAX_PER_CHAT {
            break;
        }
    }
    // Back to the floor.
    let mut full = out.len() as u32 >= CATCHUP_PAGE;
    while full && out.len() < CATCHUP_MAX_PER_CHAT {
        let Some(oldest) = out.first() else { break };
        if oldest.t.is_some_and(|t| (t as i64) < floor) {
            break;
        }
        let older = page(oldest.id.clone()).await?;
        full = older.len() as u32 >= CATCHUP_PAGE;
        if older.is_empty() {
            break;
        }
        out.splice(0..0, older);
    }
    out.retain(|p| p.t.is_none_or(|t| t as i64 >= floor));
    Ok(out)
}

// ------------------------------------------------------------------------------ other events

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Edited {
    chat: Option<String>,
    id: Option<String>,
    msg: Option<WireMsg>,
}

/// Our id of a message by WhatsApp's id, and whether we sent it through the API.
async fn our_id(m: &Messages, key: &SessionKey, wa_id: &str) -> Result<(String, bool)> {
    Ok(match m.store.get(key, wa_id).await? {
        Some(row) => (row.id, row.direction == Direction::Out && row.status != Status::Received),
        None => (MessageId::for_inbound(key, wa_id).to_string(), false),
    })
}

fn chat_of(id: Option<&str>) -> Value {
    let group = id.is_some_and(|i| i.ends_with("@g.us"));
    json!({"id": id, "type": if group { "group" } else { "user" }})
}

async fn on_edited(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let e: Edited = serde_json::from_value(payload)?;
    let msg = e.msg.unwrap_or_default();
    let Some(wa_id) = e.id.clone().or(msg.id.clone()) else { return Ok(()) };
    report_edit(m, key, &wa_id, e.chat.as_deref().or(msg.remote.as_deref()), &msg).await
}

/// `message.edited` for `wa_id` (live, or found by a catch-up), recorded on the message's row so
/// a later catch-up does not report it again.
async fn report_edit(
    m: &Messages,
    key: &SessionKey,
    wa_id: &str,
    chat: Option<&str>,
    msg: &WireMsg,
) -> Result<()> {
    let (id, api_sent) = our_id(m, key, wa_id).await?;
    if api_sent {
        return Ok(());
    }
    let from = identify(m, key, shape::sender_id(msg), msg.notify_name.as_deref()).await;
    let text = msg.body.clone().or(msg.caption.clone());
    let detail = msg.edit_id.clone().unwrap_or_else(|| text.clone().unwrap_or_default());
    let data = json!({
        "id": id, "wa_id": wa_id, "chat": chat_of(chat),
        "from": from, "text": text, "edit_id": msg.edit_id, "timestamp": now_s(),
    });
    publish(
        m,
        Event::with_id(
            event_id(key, &id, kind::MESSAGE_EDITED, &detail),
            kind::MESSAGE_EDITED,
            key.clone(),
            data,
        ),
    )
    .await;
    record_change(m, key, &id, Some(detail), false).await
}

/// Notes an edit (its id) or a revoke on the message's row in the index.
async fn record_change(
    m: &Messages,
    key: &SessionKey,
    id: &str,
    edit: Option<String>,
    revoked: bool,
) -> Result<()> {
    let (k, id) = (key.clone(), id.to_owned());
    m.store
        .run(move |c| {
            let args = rusqlite::params![k.workspace.as_str(), k.session.as_str(), id, edit, super::store::now_ms()];
            if revoked {
                c.execute(
                    "UPDATE messages SET type = 'revoked', updated_at = ?5 WHERE workspace = ?1 AND session = ?2 AND id = ?3 AND ?4 IS NULL",
                    args,
                )?;
            } else {
                c.execute(
                    "UPDATE messages SET body = json_set(body, '$.edit_id', ?4), updated_at = ?5 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
                    args,
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// What a catch-up finds changed on a message the host already has: an edit or a revoke that
/// happened while the page was away (WhatsApp Web shows them in the history, without events).
async fn catch_up_changes(m: &Messages, key: &SessionKey, msg: &WireMsg) -> Result<()> {
    let Some(wa_id) = msg.id.as_deref() else { return Ok(()) };
    let Some(row) = m.store.get(key, wa_id).await? else { return Ok(()) };
    if row.direction == Direction::Out && row.status != Status::Received {
        return Ok(());
    }
    if msg.kind.as_deref() == Some("revoked") {
        if row.kind != "revoked" {
            let by = shape::sender_id(msg).map(str::to_owned);
            report_revoke(m, key, wa_id, by.as_deref(), msg.remote.as_deref(), None).await?;
        }
        return Ok(());
    }
    if let Some(edit) = msg.edit_id.as_deref() {
        if row.body.get("edit_id").and_then(Value::as_str) != Some(edit) {
            report_edit(m, key, wa_id, msg.remote.as_deref(), msg).await?;
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Revoked {
    author: Option<String>,
    from: Option<String>,
    to: Option<String>,
    ref_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn on_revoked(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let r: Revoked = serde_json::from_value(payload)?;
    let Some(wa_id) = r.ref_id else { return Ok(()) };
    let chat = if r.to.as_deref().is_some_and(|t| t.ends_with("@g.us")) {
        r.to.as_deref()
    } else {
        r.from.as_deref()
    };
    let by = r.author.as_deref().or(r.from.as_deref());
    report_revoke(m, key, &wa_id, by, chat, r.kind.as_deref()).await
}

/// `message.revoked` for `wa_id` (live, or found by a catch-up), recorded on its row.
async fn report_revoke(
    m: &Messages,
    key: &SessionKey,
    wa_id: &str,
    by: Option<&str>,
    chat: Option<&str>,
    revoke_type: Option<&str>,
) -> Result<()> {
    let (id, api_sent) = our_id(m, key, wa_id).await?;
    if api_sent {
        return Ok(());
    }
    let by = identify(m, key, by, None).await;
    let data = json!({
        "id": id, "wa_id": wa_id, "chat": chat_of(chat), "by": by,
        "revoke_type": revoke_type.unwrap_or("revoke"), "timestamp": now_s(),
    });
    publish(
        m,
        Event::with_id(
            event_id(key, &id, kind::MESSAGE_REVOKED, ""),
            kind::MESSAGE_REVOKED,
            key.clone(),
            data,
        ),
    )
    .await;
    record_change(m, key, &id, None, true).await
}

/// WhatsApp gives some times in milliseconds and others in seconds: seconds either way.
fn normalize_seconds(t: f64) -> i64 {
    if t > 1e11 {
        (t / 1000.0) as i64
    } else {
        t as i64
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Presence {
    id: Option<String>,
    is_group: bool,
    state: Option<String>,
    t: Option<f64>,
    short_name: Option<String>,
    participants: Option<Vec<PresenceParticipant>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PresenceParticipant {
    id: Option<String>,
    state: Option<String>,
}

async fn on_presence(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let p: Presence = serde_json::from_value(payload)?;
    let ts = p.t.map(normalize_seconds).unwrap_or_else(now_s);
    if p.is_group {
        for part in p.participants.unwrap_or_default() {
            let from = identify(m, key, part.id.as_deref(), None).await;
            let data = json!({"chat": chat_of(p.id.as_deref()), "from": from, "state": part.state, "timestamp": ts});
            publish(m, Event::new(kind::PRESENCE_UPDATE, key.clone(), data)).await;
        }
        return Ok(());
    }
    let from = identify(m, key, p.id.as_deref(), p.short_name.as_deref()).await;
    let data =
        json!({"chat": chat_of(p.id.as_deref()), "from": from, "state": p.state, "timestamp": ts});
    publish(m, Event::new(kind::PRESENCE_UPDATE, key.clone(), data)).await;
    Ok(())
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Participants {
    group: Option<String>,
    action: Option<String>,
    author: Option<String>,
    author_push_name: Option<String>,
    participants: Vec<Option<String>>,
}

async fn on_participants(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let g: Participants = serde_json::from_value(payload)?;
    let mut who = Vec::new();
    for p in g.participants.iter().flatten() {
        who.push(identify(m, key, Some(p), None).await);
    }
    let author = match g.author.as_deref() {
        Some(a) => Some(identify(m, key, Some(a), g.author_push_name.as_deref()).await),
        None => None,
    };
    let data = json!({
        "group": {"id": g.group, "type": "group"}, "action": g.action, "participants": who,
        "author": author, "timestamp": now_s(),
    });
    publish(m, Event::new(kind::GROUP_PARTICIPANTS, key.clone(), data)).await;
    Ok(())
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Call {
    id: Option<String>,
    is_group: bool,
    is_video: bool,
    offer_time: Option<f64>,
    sender: Option<String>,
    peer: Option<String>,
}

async fn on_call(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let c: Call = serde_json::from_value(payload)?;
    let Some(call_id) = c.id else { return Ok(()) };
    let from = identify(m, key, c.sender.as_deref().or(c.peer.as_deref()), None).await;
    let data = json!({
        "id": call_id, "from": from, "video": c.is_video, "group": c.is_group,
        "timestamp": c.offer_time.map(normalize_seconds),
    });
    let mut data = data;
    if m.setup().is_some_and(|s| s.reject_calls) {
        let rejected = m.sessions.bridge_call(key, wpp::call_reject(&call_id)).await;
        if let Err(e) = &rejected {
            tracing::warn!(session = %key, error = %e, "rejecting a call failed");
        }
        data["rejected"] = json!(rejected.is_ok());
    }
    publish(
        m,
        Event::with_id(
            event_id(key, &call_id, kind::CALL_INCOMING, ""),
            kind::CALL_INCOMING,
            key.clone(),
            data,
        ),
    )
    .await;
    Ok(())
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct BackendEvent {
    event: Option<String>,
    data: Value,
}

/// WhatsApp's ban signal (`conn.backend_event` `account_temporarily_banned`) becomes
/// `session.restricted`; other backend events are not for the host. The same ban (the same
/// expiry) signalled again is not reported again, and its id is derived from the expiry, so a
/// repeat after a restart carries the same `webhook-id`.
async fn on_backend_event(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let b: BackendEvent = serde_json::from_value(payload)?;
    if b.event.as_deref() != Some("account_temporarily_banned") {
        return Ok(());
    }
    let until = b.data.get("expiration").and_then(Value::as_f64).map(normalize_seconds);
    let mark =
        format!("temporarily_banned\u{1f}{}", until.map(|u| u.to_string()).unwrap_or_default());
    if !first_restriction(m, key, &mark) {
        return Ok(());
    }
    let data = json!({"reason": "temporarily_banned", "until": until, "timestamp": now_s()});
    let id = event_id(key, "", kind::SESSION_RESTRICTED, &mark);
    publish(m, Event::with_id(id, kind::SESSION_RESTRICTED, key.clone(), data)).await;
    Ok(())
}

/// A terms-of-service block (stream mode `TOS_BLOCK` or `SMB_TOS_BLOCK`) becomes
/// `session.restricted` with `reason: "tos_block"` (or `smb_tos_block`), once per block: the
/// session halts (`failed`, `blocked:tos_block`) and only a later connect clears the mark. Other
/// blocking modes (`PROXYBLOCK`, `DEPRECATED_VERSION`) are not about the account.
pub async fn on_blocked(m: &Messages, key: &SessionKey, state: &str) {
    let reason = match state {
        "TOS_BLOCK" => "tos_block",
        "SMB_TOS_BLOCK" => "smb_tos_block",
        _ => return,
    };
    if !first_restriction(m, key, reason) {
        return;
    }
    let data = json!({"reason": reason, "until": null, "timestamp": now_s()});
    publish(m, Event::new(kind::SESSION_RESTRICTED, key.clone(), data)).await;
}

/// A connected session is not blocked: a later block is news again.
pub fn on_connected(m: &Messages, key: &SessionKey) {
    if let Some(setup) = m.setup() {
        let mut marks = setup.restrictions.lock().unwrap_or_else(|p| p.into_inner());
        if marks.get(key).is_some_and(|r| r.ends_with("tos_block")) {
            marks.remove(key);
        }
    }
}

/// Records `mark` as the session's current restriction; false when it already was.
fn first_restriction(m: &Messages, key: &SessionKey, mark: &str) -> bool {
    let Some(setup) = m.setup() else { return true };
    let mut marks = setup.restrictions.lock().unwrap_or_else(|p| p.into_inner());
    if marks.get(key).map(String::as_str) == Some(mark) {
        return false;
    }
    marks.insert(key.clone(), mark.to_owned());
    true
}
