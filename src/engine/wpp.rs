//! The `WPP` calls the engine makes, as expressions for [`super::Engine::call`]. Every one names a
//! function of `@wppconnect/wa-js` 4.6.0 with the arguments it takes there (wa-sim implements the
//! same surface). Arguments are JSON-encoded with [`js`], so nothing from a request is ever spliced
//! into page script as code.
//!
//! Each builder returns `(name, expression)`: the name is what logs and errors show.

use serde::Serialize;
use serde_json::{json, Value};

/// A call ready for [`super::Engine::call`].
#[derive(Debug, Clone, PartialEq)]
pub struct WppCall {
    pub name: &'static str,
    pub expr: String,
}

impl WppCall {
    fn new(name: &'static str, args: &[Value]) -> Self {
        let args: Vec<String> = args.iter().map(js).collect();
        Self { name, expr: format!("{name}({})", args.join(", ")) }
    }

    /// The same call with its result passed through a page-side function (`(v) => …`), for
    /// results that are models rather than plain data.
    fn then(mut self, mapper: &str) -> Self {
        self.expr = format!("Promise.resolve({}).then({mapper})", self.expr);
        self
    }
}

/// A JSON value as a JavaScript literal. JSON is a subset of JavaScript (ES2019), so this is safe
/// for any string, including quotes, `</script>` and line separators.
pub fn js(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// `WPP.chat.find(id)`: the chat WhatsApp would send to, created if needed. Returns its id as
/// WhatsApp resolved it (a phone's chat may come back as `…@lid`).
pub fn find_chat(chat_id: &str) -> WppCall {
    WppCall::new("WPP.chat.find", &[json!(chat_id)])
        .then("(c) => c && c.id ? { id: (c.id._serialized || String(c.id)) } : null")
}

/// `WPP.chat.getMessageById(id)`: one message by its serialized key, or a `msg_not_found` throw.
pub fn get_message_by_id(wa_id: &str) -> WppCall {
    WppCall::new("WPP.chat.getMessageById", &[json!(wa_id)])
        .then("(m) => window.__waSidecarWire ? window.__waSidecarWire.msg(m) : null")
}

/// `WPP.chat.getMessages(chat, {count, direction, id})`: a page of a chat's messages, oldest first.
pub fn get_messages(chat_id: &str, count: u32, before: Option<&str>) -> WppCall {
    let mut opts = json!({ "count": count });
    if let Some(id) = before {
        opts["direction"] = json!("before");
        opts["id"] = json!(id);
    }
    WppCall::new("WPP.chat.getMessages", &[json!(chat_id), opts])
        .then("(ms) => (ms || []).map((m) => window.__waSidecarWire.msg(m))")
}

/// What a send returns, as plain data: `{id, ack}` (`id` = the serialized key WhatsApp used).
const SENT: &str = "(r) => ({ id: r && r.id ? String(r.id._serialized || r.id) : null, ack: r && typeof r.ack === 'number' ? r.ack : null })";

/// `WPP.chat.generateMessageID(chat)`: a fresh key for our next message in `chat` (use the id
/// `find_chat` returned, so the key's remote is the chat the send will resolve).
pub fn generate_message_id(chat_id: &str) -> WppCall {
    WppCall::new("WPP.chat.generateMessageID", &[json!(chat_id)])
        .then("(k) => k ? String(k._serialized || k) : null")
}

/// `WPP.chat.generateMessageID(chat)` `n` times in one page evaluation: keys for the next `n`
/// messages to `chat`, as an array of serialized ids (one round trip instead of `n`).
pub fn generate_message_ids(chat_id: &str, n: usize) -> WppCall {
    let one = generate_message_id(chat_id).expr;
    WppCall {
        name: "WPP.chat.generateMessageID",
        expr: format!("Promise.all(Array.from({{ length: {n} }}, () => {one}))"),
    }
}

/// `WPP.chat.sendTextMessage(chat, content, options)`.
pub fn send_text(chat_id: &str, body: &str, options: &Value) -> WppCall {
    WppCall::new("WPP.chat.sendTextMessage", &[json!(chat_id), json!(body), options.clone()])
        .then(SENT)
}

/// `WPP.chat.sendFileMessage(chat, content, options)`: `content` is a `data:` URL; `options`
/// carries `type` (image, video, audio, document, sticker), `mimetype`, `filename`, `caption`,
/// `isPtt`.
pub fn send_file(chat_id: &str, data_url: &str, options: &Value) -> WppCall {
    WppCall::new("WPP.chat.sendFileMessage", &[json!(chat_id), json!(data_url), options.clone()])
        .then(SENT)
}

/// `WPP.chat.sendLocationMessage(chat, options)` with `lat`, `lng`, `name`, `address`.
pub fn send_location(chat_id: &str, options: &Value) -> WppCall {
    WppCall::new("WPP.chat.sendLocationMessage", &[json!(chat_id), options.clone()]).then(SENT)
}

/// `WPP.chat.sendVCardContactMessage(chat, contacts, options)`; `contacts` = `[{id, name}]`.
pub fn send_vcard(chat_id: &str, contacts: &Value, options: &Value) -> WppCall {
    WppCall::new(
        "WPP.chat.sendVCardContactMessage",
        &[json!(chat_id), contacts.clone(), options.clone()],
    )
    .then(SENT)
}

/// `WPP.chat.sendCreatePollMessage(chat, name, choices, options)`; `options.selectableCount`.
pub fn send_poll(chat_id: &str, name: &str, choices: &[String], options: &Value) -> WppCall {
    WppCall::new(
        "WPP.chat.sendCreatePollMessage",
        &[json!(chat_id), json!(name), json!(choices), options.clone()],
    )
    .then(SENT)
}

/// `WPP.chat.sendReactionToMessage(msgId, reaction)`: `""` removes (sent as `false`).
pub fn send_reaction(wa_id: &str, emoji: &str) -> WppCall {
    let reaction = if emoji.is_empty() { json!(false) } else { json!(emoji) };
    WppCall::new("WPP.chat.sendReactionToMessage", &[json!(wa_id), reaction]).then(
        "(r) => ({ ok: true, result: r && r.sendMsgResult ? String(r.sendMsgResult) : null })",
    )
}

/// `WPP.contact.queryExists(id)`: `{wid, lid, biz}` when the number is on WhatsApp, else `null`.
pub fn query_exists(id: &str) -> WppCall {
    WppCall::new("WPP.contact.queryExists", &[json!(id)]).then(
        "(r) => { const s = (w) => (w ? String(w._serialized || w) : null); return r && r.wid ? { wid: s(r.wid), lid: s(r.lid), biz: !!r.biz } : null; }",
    )
}

/// `WPP.chat.markIsComposing(chat, duration)`: typing shown; the page ends it after `duration`
/// if nothing else does (the wait itself is timed in Rust).
pub fn mark_is_composing(chat_id: &str, duration_ms: u64) -> WppCall {
    WppCall::new("WPP.chat.markIsComposing", &[json!(chat_id), json!(duration_ms)])
        .then("() => true")
}

/// `WPP.chat.markIsRecording(chat, duration)`: "recording audio…" shown.
pub fn mark_is_recording(chat_id: &str, duration_ms: u64) -> WppCall {
    WppCall::new("WPP.chat.markIsRecording", &[json!(chat_id), json!(duration_ms)])
        .then("() => true")
}

/// `WPP.chat.markIsPaused(chat)`: typing or recording stops.
pub fn mark_is_paused(chat_id: &str) -> WppCall {
    WppCall::new("WPP.chat.markIsPaused", &[json!(chat_id)]).then("() => true")
}

/// `WPP.chat.markIsRead(chat)`: read receipts for the chat (only when the host asks).
pub fn mark_is_read(chat_id: &str) -> WppCall {
    WppCall::new("WPP.chat.markIsRead", &[json!(chat_id)])
        .then("(r) => ({ unread: r && typeof r.unreadCount === 'number' ? r.unreadCount : null })")
}

/// `WPP.chat.editMessage(msgId, newText, options)`.
pub fn edit_message(wa_id: &str, text: &str) -> WppCall {
    WppCall::new("WPP.chat.editMessage", &[json!(wa_id), json!(text), json!({})]).then(SENT)
}

/// `WPP.chat.deleteMessage(chat, id, deleteMediaInDevice, revoke)`: `revoke` = for everyone.
pub fn delete_message(chat_id: &str, wa_id: &str, revoke: bool) -> WppCall {
    WppCall::new(
        "WPP.chat.deleteMessage",
        &[json!(chat_id), json!(wa_id), json!(false), json!(revoke)],
    )
    .then("(r) => ({ revoked: !!(r && r.isRevoked), deleted: !!(r && r.isDeleted) })")
}

/// `WPP.chat.forwardMessages(to, [ids], options)`.
pub fn forward_messages(to_chat: &str, wa_ids: &[String]) -> WppCall {
    WppCall::new("WPP.chat.forwardMessages", &[json!(to_chat), json!(wa_ids), json!({})])
        .then("() => true")
}

/// `WPP.chat.starMessage(id, star)`.
pub fn star_message(wa_id: &str, star: bool) -> WppCall {
    WppCall::new("WPP.chat.starMessage", &[json!(wa_id), json!(star)]).then("() => true")
}

/// `WPP.chat.getMessages(chat, {count, direction: "after", id})`: messages strictly after `id`,
/// oldest first. Needed because without `id` wa-js anchors on the chat's last *received* message,
/// so the account's own newer messages only come this way.
pub fn get_messages_after(chat_id: &str, count: u32, after: &str) -> WppCall {
    let opts = json!({ "count": count, "direction": "after", "id": after });
    WppCall::new("WPP.chat.getMessages", &[json!(chat_id), opts])
        .then("(ms) => (ms || []).map((m) => window.__waSidecarWire.msg(m))")
}

/// `WPP.chat.list({count})`: the account's chats, most recent first, as plain data
/// (`{id, name, is_group, unread, t, archived}`, `t` in seconds).
pub fn chat_list(count: Option<u32>) -> WppCall {
    let opts = match count {
        Some(n) => json!({ "count": n }),
        None => json!({}),
    };
    WppCall::new("WPP.chat.list", &[opts])
        .then("(cs) => (cs || []).map((c) => window.__waSidecarWire.chat(c))")
}

/// `WPP.contact.getPnLidEntry(id)` (`…@c.us` or `…@lid` only): what the page knows of a
/// contact's two ids, as `{lid, pn, push_name}` (each `null` when unknown).
pub fn get_pn_lid_entry(id: &str) -> WppCall {
    WppCall::new("WPP.contact.getPnLidEntry", &[json!(id)]).then(
        "(e) => { const s = (w) => (w && w._serialized ? String(w._serialized) : null); const c = (e && e.contact) || {}; \
         return { lid: s(e && e.lid), pn: s(e && e.phoneNumber), push_name: c.pushname || c.name || null }; }",
    )
}

/// `WPP.chat.downloadMedia(id)`: the message's media as a Blob, kept in the page under a token
/// (`{token, size, mime_type}`) to be read with [`media_slice`] and freed with [`media_release`].
pub fn download_media(wa_id: &str) -> WppCall {
    WppCall::new("WPP.chat.downloadMedia", &[json!(wa_id)])
        .then("(b) => window.__waSidecarWire.keep(b)")
}

/// A slice of kept media, base64 (the glue's own helper, not a `WPP` function).
pub fn media_slice(token: &str, offset: u64, length: u64) -> WppCall {
    WppCall {
        name: "glue.media_slice",
        expr: format!("window.__waSidecarWire.slice({}, {offset}, {length})", js(&token)),
    }
}

/// Frees kept media in the page.
pub fn media_release(token: &str) -> WppCall {
    WppCall {
        name: "glue.media_release",
        expr: format!("window.__waSidecarWire.release({})", js(&token)),
    }
}

/// `WPP.call.reject(callId)`: declines a ringing call.
pub fn call_reject(call_id: &str) -> WppCall {
    WppCall::new("WPP.call.reject", &[json!(call_id)])
}

/// `WPP.group.getAllGroups()`: every group of the account, as plain chats.
pub fn group_list() -> WppCall {
    WppCall::new("WPP.group.getAllGroups", &[])
        .then("(cs) => (cs || []).map((c) => window.__waSidecarWire.chat(c))")
}

/// `WPP.group.getParticipants(groupId)`: `[{id, is_admin, is_super_admin}]`.
pub fn group_participants(group_id: &str) -> WppCall {
    WppCall::new("WPP.group.getParticipants", &[json!(group_id)]).then(
        "(ps) => (ps || []).map((p) => ({ id: window.__waSidecarWire.id(p.id), is_admin: !!p.isAdmin, is_super_admin: !!p.isSuperAdmin }))",
    )
}

/// `WPP.chat.get(chatId)`: a chat the page holds, as plain data, or `null`.
pub fn get_chat(chat_id: &str) -> WppCall {
    WppCall::new("WPP.chat.get", &[json!(chat_id)]).then("(c) => window.__waSidecarWire.chat(c)")
}

/// `WPP.chat.getReactions(msgId)`: every current reaction to the message, flattened to the
/// shape of a `chat.new_reaction` payload: `[{id, msg_id, text, sender, timestamp}]`.
pub fn get_reactions(msg_id: &str) -> WppCall {
    WppCall::new("WPP.chat.getReactions", &[json!(msg_id)]).then(
        "(r) => { const w = window.__waSidecarWire; return ((r && r.reactions) || []).flatMap((g) => (g.senders || []).map((s) => ({ id: w.id(s.id), msg_id: w.id(s.msgId), text: typeof s.reactionText === 'string' ? s.reactionText : '', sender: w.id(s.sender || s.senderUserJid), timestamp: typeof s.timestamp === 'number' ? s.timestamp : null }))); }",
    )
}

/// `WPP.chat.getVotes(pollId)`: every voter's current vote, in the shape of a
/// `chat.poll_response` payload: `[{msg_id, chat, sender, timestamp, selected: [{name, local_id}]}]`.
pub fn get_votes(poll_id: &str) -> WppCall {
    WppCall::new("WPP.chat.getVotes", &[json!(poll_id)]).then(
        "(r) => { const w = window.__waSidecarWire; return ((r && r.votes) || []).map((v) => ({ msg_id: w.id(r.msgId), chat: w.id(r.chatId), sender: w.id(v.sender), timestamp: typeof v.timestamp === 'number' ? v.timestamp : null, selected: Array.from(v.selectedOptions || []).filter((o) => o !== null && o !== undefined).map((o) => (o && typeof o === 'object' ? { name: o.name === undefined ? null : String(o.name), local_id: typeof o.localId === 'number' ? o.localId : null } : { name: String(o), local_id: null })) })); }",
    )
}

/// `WPP.contact.getProfilePictureUrl(id)`: the URL, or `null` when there is none.
pub fn profile_picture_url(id: &str) -> WppCall {
    WppCall::new("WPP.contact.getProfilePictureUrl", &[json!(id)])
        .then("(u) => (typeof u === 'string' ? u : null)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_data_not_code() {
        let c = find_chat("15551234567@c.us\"); alert(1); (\"");
        assert!(
            c.expr.starts_with(
                r#"Promise.resolve(WPP.chat.find("15551234567@c.us\"); alert(1); (\""))"#
            ),
            "{}",
            c.expr
        );
        assert_eq!(c.name, "WPP.chat.find");
    }

    #[test]
    fn get_messages_before_an_id() {
        let c = get_messages("1@c.us", 20, Some("true_1@c.us_ABC"));
        assert!(
            c.expr.contains(r#"WPP.chat.getMessages("1@c.us", {"count":20,"direction":"before","id":"true_1@c.us_ABC"})"#),
            "{}",
            c.expr
        );
    }
}
