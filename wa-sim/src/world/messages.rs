//! Messages between accounts: storing, routing to linked devices, acks, read receipts, revokes,
//! edits, reactions, presence, and what the control API injects "from a phone".

use super::*;
use crate::error::SimError;
use base64::Engine;
use serde::Deserialize;
use serde_json::Map;

/// A message some phone sends, as the control API takes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Incoming {
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub media: Option<MediaIn>,
    pub location: Option<LocationIn>,
    pub contact: Option<ContactIn>,
    /// Several contacts in one message (`multi_vcard`).
    pub contacts: Option<Vec<ContactIn>>,
    pub reaction: Option<ReactionIn>,
    pub poll: Option<PollIn>,
    pub vote: Option<VoteIn>,
    /// Reply to this message (raw id or serialized key).
    pub quoted_id: Option<String>,
    /// Phone numbers mentioned (`mentionedJidList`); the text should contain `@<number>`.
    pub mentions: Vec<String>,
    /// Arrive first as a "waiting for this message" placeholder (`ciphertext`), decrypted by
    /// `POST /messages/{id}/decrypt` or after `decrypt_after_ms`.
    pub placeholder: bool,
    pub decrypt_after_ms: Option<u64>,
    pub id: Option<String>,
    pub pushname: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PollIn {
    pub name: String,
    pub options: Vec<String>,
    /// 0 = any number of options.
    pub selectable_count: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VoteIn {
    /// The poll message (raw id or serialized key).
    pub message_id: String,
    /// Chosen options, by name or by `localId`; empty withdraws the vote.
    pub options: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MediaIn {
    /// Base64 bytes, or a `data:` URL.
    pub data: String,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub view_once: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LocationIn {
    pub lat: f64,
    pub lng: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ContactIn {
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReactionIn {
    pub message_id: String,
    pub text: String,
}

/// The raw message id inside a serialized key (`true_123@c.us_ABC[_participant]`), or the id.
pub(crate) fn raw_id(id: &str) -> &str {
    let parts: Vec<&str> = id.split('_').collect();
    if parts.len() >= 3 && (parts[0] == "true" || parts[0] == "false") {
        parts[2]
    } else {
        id
    }
}

pub(crate) fn decode_b64(data: &str) -> Option<(Option<String>, Vec<u8>)> {
    let (mime, b64) = match data.strip_prefix("data:") {
        Some(rest) => {
            let (head, body) = rest.split_once(',')?;
            (head.strip_suffix(";base64").map(String::from), body)
        }
        None => (None, data),
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    Some((mime, bytes))
}

/// How many of its latest messages a page gets when it (re)connects.
const HISTORY_MAX: usize = 1000;

/// The stable LID of a phone number (digits, 15 long, starting with 1).
pub(crate) fn lid_for(phone: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(phone.as_bytes());
    let mut lid = String::from("1");
    for b in digest.iter().take(14) {
        lid.push(char::from(b'0' + b % 10));
    }
    lid
}

impl World {
    pub(crate) fn find_msg(&self, id: &str) -> Option<&Msg> {
        self.msg_index.get(raw_id(id)).and_then(|i| self.msgs.get(*i))
    }

    fn find_msg_mut(&mut self, id: &str) -> Option<&mut Msg> {
        let i = *self.msg_index.get(raw_id(id))?;
        self.msgs.get_mut(i)
    }

    /// Phones that receive a message (not its author).
    pub(crate) fn recipients(&self, m: &Msg) -> Vec<String> {
        match m.chat_phone() {
            Some(p) => vec![p.to_string()],
            None => self
                .groups
                .get(&m.chat)
                .map(|g| g.members.iter().filter(|x| **x != m.sender).cloned().collect())
                .unwrap_or_default(),
        }
    }

    pub(crate) fn visible_to(&self, m: &Msg, phone: &str) -> bool {
        m.sender == phone || self.recipients(m).iter().any(|r| r == phone)
    }

    /// The last messages an account can see (as the server holds them now: acks, edits,
    /// revokes applied), for a page that logs in, loads, or comes back online.
    pub(crate) fn history(&self, phone: &str) -> Value {
        let mut out: Vec<Value> = self
            .msgs
            .iter()
            .filter(|m| {
                self.visible_to(m, phone) && !self.hidden.contains(&(phone.into(), m.id.clone()))
            })
            .map(|m| {
                let mut v = json!(m);
                if self.stars.contains(&(phone.into(), m.id.clone())) {
                    v["star"] = json!(true);
                }
                v
            })
            .collect();
        let start = out.len().saturating_sub(HISTORY_MAX);
        out.drain(..start);
        let groups: Vec<Value> = self
            .groups
            .values()
            .filter(|g| g.members.iter().any(|m| m == phone))
            .map(|g| json!({"id": g.id, "subject": g.subject, "members": g.members, "admins": g.admins, "wids": self.wids_of(&g.members)}))
            .collect();
        json!({"msgs": out, "groups": groups})
    }

    /// An account's device came back: what others sent it meanwhile is now delivered (ack 2).
    pub(crate) fn deliver_pending_to(&mut self, phone: &str) {
        if !self.cfg.auto_delivery_ack {
            return;
        }
        let ids: Vec<String> = self
            .msgs
            .iter()
            .filter(|m| {
                m.ack == 1 && m.sender != phone && self.recipients(m).iter().any(|r| r == phone)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in ids {
            self.deliver(&id, phone);
        }
    }

    /// `phone`'s device got message `id`: ack 2 (a receipt from that participant in a group).
    fn deliver(&mut self, id: &str, phone: &str) {
        match self.find_msg(id) {
            Some(m) if m.is_group() => {
                self.set_receipt(id, phone, 2);
            }
            Some(_) => {
                self.set_ack(id, 2);
            }
            None => {}
        }
    }

    /// A group member's receipt for a group message: recorded per participant, told to the
    /// author's devices with that participant as `sender`; the message's own ack is the lowest
    /// receipt of all its recipients (2 once everyone has it, 3 once everyone read it).
    pub fn set_receipt(&mut self, id: &str, phone: &str, ack: i64) -> Option<Msg> {
        let m = self.find_msg(id)?.clone();
        if !m.is_group() || !self.recipients(&m).iter().any(|r| r == phone) {
            return None;
        }
        let receipts = self.receipts.entry(m.id.clone()).or_default();
        receipts.insert(phone.to_string(), ack);
        let receipts = receipts.clone();
        let lowest = self
            .recipients(&m)
            .iter()
            .map(|r| receipts.get(r).copied().unwrap_or(1))
            .min()
            .unwrap_or(ack);
        let m = {
            let stored = self.find_msg_mut(id)?;
            if lowest > stored.ack {
                stored.ack = lowest;
            }
            stored.clone()
        };
        let lid = self.accounts.get(phone).filter(|a| a.lid_addressed).map(|_| lid_for(phone));
        let ev = json!({"t": "ev", "kind": "ack", "ack": ack, "msg": m, "participant": phone, "participant_lid": lid});
        self.push_account(&m.sender, ev, None);
        Some(m)
    }

    /// Store a new message and deliver it to everyone in its chat; `from_page` (the sender's
    /// page) does not get it back from the server.
    pub(crate) fn route(&mut self, mut m: Msg, from_page: Option<&str>) {
        m.at_ms = now_ms();
        if self.accounts.get(&m.sender).is_some_and(|a| a.lid_addressed) {
            let lid = self.lid_of(&m.sender);
            m.extra.insert("senderLid".into(), json!(lid));
        }
        let ev = json!({"t": "ev", "kind": "msg", "msg": m});
        self.msg_index.insert(m.id.clone(), self.msgs.len());
        self.msgs.push(m.clone());
        self.account(&m.sender);
        self.push_account(&m.sender, ev.clone(), from_page);
        self.cloud_inbound(&m);
        let recipients = self.recipients(&m);
        for r in &recipients {
            self.account(r);
            self.push_account(r, ev.clone(), None);
        }
        if self.cfg.auto_delivery_ack && m.ack < 2 {
            let live: Vec<String> =
                recipients.iter().filter(|r| self.has_live_device(r)).cloned().collect();
            if m.is_group() {
                for r in &live {
                    self.set_receipt(&m.id, r, 2);
                }
            } else if !live.is_empty() {
                self.set_ack(&m.id, 2);
            }
        }
    }

    /// Set a message's ack and tell its author's devices.
    pub fn set_ack(&mut self, id: &str, ack: i64) -> Option<Msg> {
        let m = self.find_msg_mut(id)?;
        m.ack = ack;
        let m = m.clone();
        let ev = json!({"t": "ev", "kind": "ack", "ack": ack, "msg": m});
        self.push_account(&m.sender, ev, None);
        self.cloud_ack(&m.id, ack);
        Some(m)
    }

    /// `phone` read its chat with `chat_phone`: their messages to it become READ.
    pub(crate) fn read_chat(&mut self, phone: &str, chat: &str) -> usize {
        if chat.ends_with("@g.us") {
            let ids: Vec<String> = self
                .msgs
                .iter()
                .filter(|m| m.chat == chat && m.sender != phone && m.ack >= 0)
                .filter(|m| {
                    self.receipts.get(&m.id).and_then(|r| r.get(phone)).is_none_or(|a| *a < 3)
                })
                .map(|m| m.id.clone())
                .collect();
            for id in &ids {
                self.set_receipt(id, phone, 3);
            }
            return ids.len();
        }
        let other = match chat.strip_suffix("@lid") {
            Some(lid) => self.lids.get(lid).cloned(),
            None => chat.strip_suffix("@c.us").map(String::from),
        };
        let Some(other) = other else {
            return 0;
        };
        let other = other.as_str();
        let my_chat = format!("{phone}@c.us");
        let ids: Vec<String> = self
            .msgs
            .iter()
            .filter(|m| m.sender == other && m.chat == my_chat && m.ack < 3 && m.ack >= 0)
            .map(|m| m.id.clone())
            .collect();
        for id in &ids {
            self.set_ack(id, 3);
        }
        ids.len()
    }

    /// Everyone in a message's chat (author included).
    fn parties(&self, m: &Msg) -> Vec<String> {
        let mut all = self.recipients(m);
        all.push(m.sender.clone());
        all
    }

    pub(crate) fn revoke(&mut self, id: &str, from_page: Option<&str>) -> Result<Msg, SimError> {
        let m = self
            .find_msg_mut(id)
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?;
        m.extra.insert("revokedType".into(), json!(m.kind));
        m.kind = "revoked".into();
        m.body = String::new();
        let m = m.clone();
        let ev = json!({"t": "ev", "kind": "revoke", "msg": m, "revoke_id": random_hex_upper(32), "by": m.sender});
        for p in self.parties(&m) {
            self.push_account(&p, ev.clone(), from_page);
        }
        Ok(m)
    }

    pub(crate) fn edit(
        &mut self,
        id: &str,
        body: &str,
        from_page: Option<&str>,
    ) -> Result<Msg, SimError> {
        let edit_id = random_hex_upper(20);
        let m = self
            .find_msg_mut(id)
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?;
        if m.kind != "chat" {
            return Err(SimError::Conflict("NOT_EDITABLE", "only text messages can be edited"));
        }
        m.body = body.to_string();
        m.extra.insert("latestEditMsgKey".into(), json!({"id": edit_id}));
        m.extra.insert("latestEditSenderTimestampMs".into(), json!(now_ms()));
        let m = m.clone();
        let ev = json!({"t": "ev", "kind": "edit", "msg": m, "edit_id": edit_id});
        for p in self.parties(&m) {
            self.push_account(&p, ev.clone(), from_page);
        }
        Ok(m)
    }

    pub(crate) fn react(
        &mut self,
        reactor: &str,
        id: &str,
        text: &str,
        from_page: Option<&str>,
    ) -> Result<(), SimError> {
        let target = self
            .find_msg(id)
            .cloned()
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?;
        let (reaction_id, at) = (random_hex_upper(32), now_ms());
        let ev = json!({
            "t": "ev", "kind": "reaction", "id": reaction_id, "target": target,
            "text": text, "sender": reactor, "timestamp": at,
        });
        let current = self.reactions.entry(target.id.clone()).or_default();
        if text.is_empty() {
            current.remove(reactor);
        } else {
            current.insert(
                reactor.to_string(),
                json!({"id": reaction_id, "text": text, "timestamp": at}),
            );
        }
        for p in self.parties(&target) {
            self.push_account(&p, ev.clone(), from_page);
        }
        self.cloud_reaction(reactor, &target, text);
        Ok(())
    }

    pub fn presence(&mut self, from: &str, to: &str, state: &str) {
        let lid = self.accounts.get(from).filter(|a| a.lid_addressed).map(|_| lid_for(from));
        let ev = json!({"t": "ev", "kind": "presence", "from": from, "from_lid": lid, "state": state, "t_ms": now_ms()});
        self.push_account(to, ev, None);
    }

    /// A member types (or records…) in a group: `chat.presence_change` for the group, with the
    /// member in `participants`, on the other members' pages.
    pub fn group_presence(&mut self, from: &str, gid: &str, state: &str) -> Result<(), SimError> {
        let g =
            self.groups.get(gid).ok_or(SimError::NotFound("GROUP_NOT_FOUND", "no such group"))?;
        let members: Vec<String> =
            g.members.iter().filter(|m| m.as_str() != from).cloned().collect();
        let ev = json!({
            "t": "ev", "kind": "presence", "group": gid, "subject": g.subject, "from": from,
            "from_wid": self.wid_of(from), "state": state, "t_ms": now_ms(),
        });
        for m in members {
            self.push_account(&m, ev.clone(), None);
        }
        Ok(())
    }

    /// A phone sends a message to an account (or group). Returns the stored message.
    pub fn incoming(&mut self, inc: Incoming) -> Result<Value, SimError> {
        let from =
            digits(&inc.from).ok_or(SimError::Bad("`from` must be a phone number (digits)"))?;
        let chat = if inc.to.ends_with("@g.us") {
            if !self.groups.contains_key(&inc.to) {
                return Err(SimError::NotFound("GROUP_NOT_FOUND", "no such group"));
            }
            inc.to.clone()
        } else {
            format!(
                "{}@c.us",
                digits(&inc.to)
                    .ok_or(SimError::Bad("`to` must be a phone number or a group id"))?
            )
        };
        if let Some(name) = &inc.pushname {
            self.account(&from).pushname = name.clone();
        }
        let kind = inc.kind.clone().unwrap_or_else(|| "text".into());
        if kind == "reaction" {
            let r = inc.reaction.ok_or(SimError::Bad("a reaction needs `reaction`"))?;
            self.react(&from, &r.message_id, &r.text, None)?;
            return Ok(json!({"reacted": r.message_id}));
        }
        if kind == "vote" {
            let v = inc.vote.ok_or(SimError::Bad("a vote needs `vote`"))?;
            return self.vote(&from, &v);
        }
        let placeholder = inc.placeholder;
        let decrypt_after = inc.decrypt_after_ms;
        let id = inc.id.clone().unwrap_or_else(|| random_hex_upper(32));
        let mut m = Msg {
            id,
            sender: from.clone(),
            chat,
            kind: String::new(),
            body: String::new(),
            t: now_s(),
            ack: 1,
            notify_name: self.account(&from).pushname.clone(),
            at_ms: 0,
            extra: Map::new(),
        };
        self.fill_incoming(&mut m, &kind, inc)?;
        let mut out =
            json!({"id": m.id, "key": m.recipient_key(), "sender_key": m.sender_key(), "t": m.t});
        if self.accounts.get(&from).is_some_and(|a| a.lid_addressed) {
            let lid = self.lid_of(&from);
            out["lid_key"] = json!(format!("false_{lid}@lid_{}", m.id));
        }
        if placeholder {
            let mut shell = m.clone();
            shell.kind = "ciphertext".into();
            shell.body = String::new();
            shell.extra = Map::new();
            self.undecrypted.insert(m.id.clone(), m);
            out["placeholder"] = json!(true);
            self.route(shell, None);
            if let Some(ms) = decrypt_after {
                out["decrypt_after_ms"] = json!(ms);
            }
        } else {
            self.route(m, None);
        }
        Ok(out)
    }

    /// A placeholder decrypts: the stored message takes its real content and every page that
    /// holds it sees `chat.new_message` again (same id), as wa-js emits on `change:type`.
    pub fn decrypt(&mut self, id: &str) -> Result<Msg, SimError> {
        let raw = raw_id(id).to_string();
        let real = self.undecrypted.remove(&raw).ok_or(SimError::NotFound(
            "PLACEHOLDER_NOT_FOUND",
            "no undecrypted message with this id",
        ))?;
        let m = self
            .find_msg_mut(&raw)
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?;
        m.kind = real.kind.clone();
        m.body = real.body.clone();
        let keep: Vec<(String, Value)> = m
            .extra
            .iter()
            .filter(|(k, _)| k.as_str() == "senderLid")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.extra = real.extra.clone();
        m.extra.extend(keep);
        let m = m.clone();
        let ev = json!({"t": "ev", "kind": "decrypt", "msg": m});
        for p in self.parties(&m) {
            self.push_account(&p, ev.clone(), None);
        }
        Ok(m)
    }

    /// Someone votes on a poll: `chat.poll_response` on the pages of everyone in its chat.
    fn vote(&mut self, voter: &str, v: &VoteIn) -> Result<Value, SimError> {
        let poll = self
            .find_msg(&v.message_id)
            .cloned()
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such poll"))?;
        if poll.kind != "poll_creation" {
            return Err(SimError::Conflict("NOT_A_POLL", "the message is not a poll"));
        }
        let options =
            poll.extra.get("pollOptions").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut chosen = Vec::new();
        for want in &v.options {
            let hit = options.iter().find(|o| match want {
                Value::String(name) => o["name"].as_str() == Some(name.as_str()),
                Value::Number(n) => o["localId"].as_u64() == n.as_u64(),
                _ => false,
            });
            chosen.push(
                hit.cloned()
                    .ok_or(SimError::Bad("a vote names an option the poll does not have"))?,
            );
        }
        let voter_lid =
            self.accounts.get(voter).filter(|a| a.lid_addressed).map(|a| lid_for(&a.phone));
        let at = now_ms();
        let ev = json!({
            "t": "ev", "kind": "vote", "poll": poll, "voter": voter,
            "voter_lid": voter_lid, "options": chosen, "timestamp": at,
        });
        self.votes.entry(poll.id.clone()).or_default().insert(
            voter.to_string(),
            json!({"options": chosen, "timestamp": at, "voter_lid": voter_lid}),
        );
        for p in self.parties(&poll) {
            self.push_account(&p, ev.clone(), None);
        }
        Ok(json!({"voted": poll.id, "options": chosen}))
    }

    fn fill_incoming(&mut self, m: &mut Msg, kind: &str, inc: Incoming) -> Result<(), SimError> {
        if let Some(q) = inc.quoted_id.as_deref() {
            let quoted = self
                .find_msg(q)
                .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "quoted message not found"))?;
            m.extra.insert("quotedStanzaID".into(), json!(quoted.id));
            m.extra.insert("quotedParticipant".into(), json!(format!("{}@c.us", quoted.sender)));
            m.extra.insert("quotedMsgBody".into(), json!(quoted.body));
            m.extra.insert("quotedMsgType".into(), json!(quoted.kind));
        }
        if !inc.mentions.is_empty() {
            let mut list = Vec::new();
            for p in &inc.mentions {
                let p = digits(p).ok_or(SimError::Bad("`mentions` must be phone numbers"))?;
                list.push(match self.accounts.get(&p).filter(|a| a.lid_addressed) {
                    Some(_) => format!("{}@lid", lid_for(&p)),
                    None => format!("{p}@c.us"),
                });
            }
            m.extra.insert("mentionedJidList".into(), json!(list));
        }
        match kind {
            "text" | "chat" => {
                m.kind = "chat".into();
                m.body = inc.text.ok_or(SimError::Bad("a text message needs `text`"))?;
            }
            "image" | "video" | "audio" | "ptt" | "document" | "sticker" => {
                let media = inc.media.ok_or(SimError::Bad("a media message needs `media`"))?;
                let (mime, bytes) = decode_b64(&media.data).ok_or(SimError::Bad("`media.data` is not base64"))?;
                let mimetype = media.mimetype.or(mime).unwrap_or_else(|| "application/octet-stream".into());
                m.kind = kind.into();
                let view_once = media.view_once;
                self.attach_media(m, mimetype, bytes, media.filename, media.caption);
                m.extra.insert("isViewOnce".into(), json!(view_once));
            }
            "location" => {
                let l = inc.location.ok_or(SimError::Bad("a location message needs `location`"))?;
                m.kind = "location".into();
                m.extra.insert("lat".into(), json!(l.lat));
                m.extra.insert("lng".into(), json!(l.lng));
                let loc = [l.name.clone(), l.address.clone()].into_iter().flatten().collect::<Vec<_>>().join("\n");
                m.extra.insert("loc".into(), json!(loc));
                m.extra.insert("name".into(), json!(l.name));
                m.extra.insert("address".into(), json!(l.address));
            }
            "contact" | "vcard" => {
                let c = inc.contact.ok_or(SimError::Bad("a contact message needs `contact`"))?;
                m.kind = "vcard".into();
                m.body = vcard(&c.name, &c.phone);
                m.extra.insert("vcardFormattedName".into(), json!(c.name));
            }
            "contacts" | "multi_vcard" => {
                let list = inc.contacts.filter(|l| !l.is_empty()).ok_or(SimError::Bad("a contacts message needs `contacts`"))?;
                m.kind = "multi_vcard".into();
                let cards: Vec<Value> = list
                    .iter()
                    .map(|c| json!({"displayName": c.name, "vcard": vcard(&c.name, &c.phone)}))
                    .collect();
                m.extra.insert("vcardList".into(), json!(cards));
            }
            "poll" | "poll_creation" => {
                let p = inc.poll.ok_or(SimError::Bad("a poll needs `poll`"))?;
                if p.options.len() < 2 {
                    return Err(SimError::Bad("a poll needs at least two `options`"));
                }
                m.kind = "poll_creation".into();
                m.extra.insert("pollName".into(), json!(p.name));
                let opts: Vec<Value> = p.options.iter().enumerate().map(|(i, n)| json!({"name": n, "localId": i})).collect();
                m.extra.insert("pollOptions".into(), json!(opts));
                m.extra.insert("pollSelectableOptionsCount".into(), json!(p.selectable_count));
            }
            _ => return Err(SimError::Bad("unknown `type` (text, image, video, audio, ptt, document, sticker, location, contact, contacts, poll, vote, reaction)")),
        }
        Ok(())
    }

    /// Keep a media file and describe it on the message the way WhatsApp does.
    pub(crate) fn attach_media(
        &mut self,
        m: &mut Msg,
        mimetype: String,
        bytes: Vec<u8>,
        filename: Option<String>,
        caption: Option<String>,
    ) {
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
        m.extra.insert("mimetype".into(), json!(mimetype));
        m.extra.insert("size".into(), json!(bytes.len()));
        m.extra.insert("filehash".into(), json!(hash));
        m.extra.insert("mediaKey".into(), json!(random_b64(32)));
        m.extra
            .insert("directPath".into(), json!(format!("/v/t62.7118-24/{}", random_hex_upper(16))));
        m.extra.insert("filename".into(), json!(filename));
        m.extra.insert("caption".into(), json!(caption));
        m.extra.insert("isViewOnce".into(), json!(false));
        m.extra.insert("isGif".into(), json!(false));
        m.extra.insert(
            "deprecatedMms3Url".into(),
            json!(format!("{}/_sim/media/{}", self.base_url, m.id)),
        );
        self.media.insert(m.id.clone(), Media { mimetype, bytes });
    }

    /// What an account sent and received, as its phone would show it.
    pub fn account_messages(&self, phone: &str) -> Value {
        let view = |m: &Msg, key: String| {
            let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
            v["key"] = json!(key);
            v
        };
        let sent: Vec<Value> = self
            .msgs
            .iter()
            .filter(|m| m.sender == phone)
            .map(|m| view(m, m.sender_key()))
            .collect();
        let received: Vec<Value> = self
            .msgs
            .iter()
            .filter(|m| m.sender != phone && self.recipients(m).iter().any(|r| r == phone))
            .map(|m| view(m, m.recipient_key()))
            .collect();
        json!({"phone": phone, "sent": sent, "received": received})
    }
}

pub(crate) fn digits(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('+');
    let s = s.strip_suffix("@c.us").unwrap_or(s);
    (!s.is_empty() && s.len() <= 20 && s.chars().all(|c| c.is_ascii_digit())).then(|| s.to_string())
}

pub(crate) fn vcard(name: &str, phone: &str) -> String {
    let d: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("BEGIN:VCARD\nVERSION:3.0\nN:;{name};;;\nFN:{name}\nTEL;type=CELL;type=VOICE;waid={d}:+{d}\nEND:VCARD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ids_come_out_of_serialized_keys() {
        assert_eq!(raw_id("true_15551234567@c.us_3EB0AA"), "3EB0AA");
        assert_eq!(raw_id("false_120363000@g.us_ABC_15551234567@c.us"), "ABC");
        assert_eq!(raw_id("3EB0AA"), "3EB0AA");
    }

    #[test]
    fn phone_numbers_are_digits_only() {
        assert_eq!(digits("+15551234567").as_deref(), Some("15551234567"));
        assert_eq!(digits("15551234567@c.us").as_deref(), Some("15551234567"));
        assert_eq!(digits("1555-123"), None);
        assert_eq!(digits(""), None);
    }

    #[test]
    fn keys_follow_the_whatsapp_shapes() {
        let m = Msg {
            id: "ABC".into(),
            sender: "111".into(),
            chat: "222@c.us".into(),
            kind: "chat".into(),
            body: String::new(),
            t: 0,
            ack: 1,
            notify_name: String::new(),
            at_ms: 0,
            extra: Map::new(),
        };
        assert_eq!(m.sender_key(), "true_222@c.us_ABC");
        assert_eq!(m.recipient_key(), "false_111@c.us_ABC");
        let g = Msg { chat: "120363@g.us".into(), ..m };
        assert_eq!(g.sender_key(), "true_120363@g.us_ABC_111@c.us");
        assert_eq!(g.recipient_key(), "false_120363@g.us_ABC_111@c.us");
    }

    #[test]
    fn data_urls_and_plain_base64_both_decode() {
        let (mime, bytes) = decode_b64("data:text/plain;base64,aGk=").unwrap();
        assert_eq!((mime.as_deref(), bytes.as_slice()), (Some("text/plain"), b"hi".as_slice()));
        assert_eq!(decode_b64("aGk=").unwrap().1, b"hi");
        assert!(decode_b64("not base64!").is_none());
    }
}
