//! What the glue hands over for a message (`window.__waSidecarWire.msg`, plain data from
//! WhatsApp Web's MsgModel) and the callback data the host gets for it (DESIGN.md "Messages",
//! inbound). Pure functions: no I/O, so every type's shape is unit-tested here.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A message as the glue's `wireMsg` gives it. Every field is optional: WhatsApp Web builds
/// drop and rename attributes, and a missing one must not lose the message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WireMsg {
    pub id: Option<String>,
    pub from_me: bool,
    pub remote: Option<String>,
    pub is_group: bool,
    pub participant: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub author: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub subtype: Option<String>,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub t: Option<f64>,
    pub notify_name: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<f64>,
    pub filehash: Option<String>,
    pub filename: Option<String>,
    pub is_media: bool,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub loc: Option<String>,
    pub loc_name: Option<String>,
    pub loc_address: Option<String>,
    pub vcards: Option<Vec<WireVcard>>,
    pub quoted_id: Option<String>,
    pub quoted_raw_id: Option<String>,
    pub quoted_participant: Option<String>,
    pub mentions: Vec<Option<String>>,
    pub is_view_once: bool,
    pub is_forwarded: bool,
    pub edit_id: Option<String>,
    pub poll_name: Option<String>,
    pub poll_options: Option<Vec<String>>,
    pub poll_selectable_count: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WireVcard {
    pub name: Option<String>,
    pub vcard: Option<String>,
}

/// What a WhatsApp message type means to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message the host hears about, with the callback's `type`.
    Content(&'static str),
    /// "Waiting for this message" (`ciphertext`): reported as `undecryptable`, again once decrypted.
    Undecryptable,
    /// Notifications, protocol messages, reactions (reported by their own event), statuses: not
    /// a message for the host.
    Ignored,
}

impl Kind {
    pub fn of(m: &WireMsg) -> Self {
        if m.remote.as_deref().is_some_and(|r| r == "status@broadcast") {
            return Self::Ignored;
        }
        match m.kind.as_deref().unwrap_or("") {
            "chat" => Self::Content("text"),
            "image" => Self::Content("image"),
            "video" => Self::Content("video"),
            "audio" | "ptt" => Self::Content("audio"),
            "document" => Self::Content("document"),
            "sticker" => Self::Content("sticker"),
            "location" => Self::Content("location"),
            "vcard" | "multi_vcard" => Self::Content("contacts"),
            "poll_creation" => Self::Content("poll"),
            "ciphertext" => Self::Undecryptable,
            ""
            | "revoked"
            | "reaction"
            | "e2e_notification"
            | "gp2"
            | "notification"
            | "notification_template"
            | "protocol"
            | "call_log"
            | "broadcast_notification"
            | "pinned_message"
            | "keep_in_chat"
            | "poll_update"
            | "debug" => Self::Ignored,
            _ => Self::Content("unsupported"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Content(n) => n,
            Self::Undecryptable => "undecryptable",
            Self::Ignored => "ignored",
        }
    }
}

/// A person as every payload names them: the id WhatsApp gave, and both of its forms when known.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Identity {
    /// As WhatsApp gave it (`…@c.us` or `…@lid`).
    pub id: Option<String>,
    /// `…@lid`, when known.
    pub lid: Option<String>,
    /// The phone number, digits only, when known.
    pub pn: Option<String>,
    pub push_name: Option<String>,
}

impl Identity {
    /// What the id alone tells: a `…@c.us` id is a phone number, a `…@lid` id is a LID.
    pub fn from_id(id: Option<&str>, push_name: Option<&str>) -> Self {
        let id = id.map(str::to_owned);
        let (mut lid, mut pn) = (None, None);
        if let Some(i) = id.as_deref() {
            if i.ends_with("@lid") {
                lid = Some(i.to_owned());
            } else if let Some(digits) = pn_digits(i) {
                pn = Some(digits);
            }
        }
        Self { id, lid, pn, push_name: push_name.map(str::to_owned) }
    }
}

/// `15551234567@c.us` (or `15551234567:2@c.us`, a device) → `15551234567`.
pub fn pn_digits(id: &str) -> Option<String> {
    let user = id.strip_suffix("@c.us").or_else(|| id.strip_suffix("@s.whatsapp.net"))?;
    let digits = user.split(':').next().unwrap_or("");
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_owned())
}

/// The id of the person who wrote `m`: a group's participant, else the other side of the chat
/// (or our own account for a message we sent).
pub fn sender_id(m: &WireMsg) -> Option<&str> {
    if m.is_group {
        return m.participant.as_deref().or(m.author.as_deref());
    }
    if m.from_me {
        return m.from.as_deref();
    }
    m.from.as_deref().or(m.remote.as_deref())
}

/// Where the message comes from in our reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Live,
    Catchup,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Catchup => "catchup",
        }
    }
}

/// What the data needs beside the message itself (resolved by the caller: ids, identities).
pub struct Context<'a> {
    /// Our id of the message.
    pub id: &'a str,
    pub from: &'a Identity,
    /// Our id of the quoted message, when it is indexed.
    pub quoted: Option<&'a str>,
    /// Our media id, for a media message.
    pub media_id: Option<&'a str>,
    pub source: Source,
}

/// The callback data of `message.received` / `message.sent` (origin phone).
pub fn message_data(m: &WireMsg, cx: &Context<'_>) -> Value {
    let kind = Kind::of(m);
    let chat_id = m.remote.clone();
    let mut d = Map::new();
    d.insert("id".into(), json!(cx.id));
    d.insert("wa_id".into(), json!(m.id));
    d.insert(
        "chat".into(),
        json!({"id": chat_id, "type": if m.is_group { "group" } else { "user" }}),
    );
    d.insert("from".into(), json!(cx.from));
    d.insert("type".into(), json!(kind.name()));
    if m.from_me {
        d.insert("origin".into(), json!("phone"));
    }
    match kind {
        Kind::Content("text") => {
            d.insert("text".into(), json!(m.body.clone().unwrap_or_default()));
        }
        Kind::Content(t @ ("image" | "video" | "audio" | "document" | "sticker")) => {
            if let Some(c) = m.caption.as_deref().filter(|c| !c.is_empty()) {
                // wa-js puts a document's file name in its caption when none was typed.
                if !(t == "document" && m.filename.as_deref() == Some(c)) {
                    d.insert("caption".into(), json!(c));
                }
            }
            let mut media = json!({
                "id": cx.media_id,
                "mime_type": m.mimetype,
                "size": m.size.map(|s| s as u64),
                "sha256": m.filehash.as_deref().and_then(b64_to_hex),
                "filename": m.filename,
                "status": "pending",
            });
            if m.kind.as_deref() == Some("ptt") {
                media["voice"] = json!(true);
            }
            d.insert("media".into(), media);
        }
        Kind::Content("location") => {
            let (name, address) = location_names(m);
            d.insert(
                "location".into(),
                json!({"latitude": m.lat, "longitude": m.lng, "name": name, "address": address}),
            );
        }
        Kind::Content("contacts") => {
            let list: Vec<Value> = m
                .vcards
                .iter()
                .flatten()
                .map(|v| {
                    let phones = v.vcard.as_deref().map(vcard_phones).unwrap_or_default();
                    json!({"name": v.name, "phones": phones, "vcard": v.vcard})
                })
                .collect();
            d.insert("contacts".into(), json!(list));
        }
        Kind::Content("poll") => {
            d.insert(
                "poll".into(),
                json!({
                    "name": m.poll_name,
                    "options": m.poll_options.clone().unwrap_or_default(),
                    "selectable_count": m.poll_selectable_count.map(|n| n as u64).unwrap_or(0),
                }),
            );
        }
        Kind::Content(_) => {
            if let Some(b) = m.body.as_deref().filter(|b| !b.is_empty()) {
                d.insert("text".into(), json!(b));
            }
            d.insert("wa_type".into(), json!(m.kind));
        }
        Kind::Undecryptable | Kind::Ignored => {}
    }
    if let Some(q) = m.quoted_id.as_deref().or(m.quoted_raw_id.as_deref()) {
        d.insert(
            "context".into(),
            json!({
                "message_id": cx.quoted.unwrap_or(q),
                "wa_id": m.quoted_id,
                "from": m.quoted_participant,
            }),
        );
    }
    let mentions: Vec<&str> = m.mentions.iter().flatten().map(String::as_str).collect();
    if !mentions.is_empty() {
        d.insert("mentions".into(), json!(mentions));
    }
    if m.is_view_once {
        d.insert("view_once".into(), json!(true));
    }
    if m.is_forwarded {
        d.insert("forwarded".into(), json!(true));
    }
    d.insert("timestamp".into(), json!(m.t.map(|t| t as i64)));
    d.insert("source".into(), json!(cx.source.as_str()));
    Value::Object(d)
}

/// A location's name and address: WhatsApp Web keeps them as `loc` ("name\naddress"); wa-sim
/// also carries them apart.
fn location_names(m: &WireMsg) -> (Option<String>, Option<String>) {
    if m.loc_name.is_some() || m.loc_address.is_some() {
        return (m.loc_name.clone(), m.loc_address.clone());
    }
    match m.loc.as_deref() {
        Some(l) if !l.is_empty() => {
            let mut parts = l.splitn(2, '\n');
            let name = parts.next().map(str::to_owned);
            (name, parts.next().map(str::to_owned))
        }
        _ => (None, None),
    }
}

/// The phone numbers of a vCard's `TEL` lines (`waid=` preferred), digits only.
pub fn vcard_phones(vcard: &str) -> Vec<String> {
    vcard
        .lines()
        .filter(|l| l.to_ascii_uppercase().starts_with("TEL"))
        .filter_map(|l| {
            let waid = l.split(';').find_map(|p| p.split(':').next()?.strip_prefix("waid="));
            let raw = waid.or_else(|| l.rsplit(':').next())?;
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            (!digits.is_empty()).then_some(digits)
        })
        .collect()
}

/// WhatsApp's `filehash` (base64 sha256) as hex; `None` when it is not a 32-byte base64 value.
pub fn b64_to_hex(b64: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(v: Value) -> WireMsg {
        serde_json::from_value(v).unwrap()
    }

    fn data(m: &WireMsg) -> Value {
        let from = Identity::from_id(sender_id(m), m.notify_name.as_deref());
        message_data(
            m,
            &Context {
                id: "in_1",
                from: &from,
                quoted: None,
                media_id: Some("med_1"),
                source: Source::Live,
            },
        )
    }

    #[test]
    fn a_text_from_a_phone() {
        let m = wire(json!({"id": "false_15557654321@c.us_ABC", "remote": "15557654321@c.us",
            "from": "15557654321@c.us", "type": "chat", "body": "hi", "t": 1700000000,
            "notify_name": "Ann", "mentions": ["15550001111@c.us"]}));
        let d = data(&m);
        assert_eq!(d["type"], "text");
        assert_eq!(d["text"], "hi");
        assert_eq!(d["chat"], json!({"id": "15557654321@c.us", "type": "user"}));
        assert_eq!(
            d["from"],
            json!({"id": "15557654321@c.us", "lid": null, "pn": "15557654321", "push_name": "Ann"})
        );
        assert_eq!(d["mentions"], json!(["15550001111@c.us"]));
        assert_eq!(
            (d["timestamp"].as_i64(), d["source"].as_str()),
            (Some(1700000000), Some("live"))
        );
        assert!(d.get("origin").is_none());
    }

    #[test]
    fn media_location_contacts_poll_and_groups() {
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
        let img = wire(json!({"id": "x", "remote": "1@g.us", "is_group": true,
            "participant": "2@lid", "type": "ptt", "mimetype": "audio/ogg", "size": 10,
            "filehash": hash}));
        let d = data(&img);
        assert_eq!(d["type"], "audio");
        assert_eq!(d["media"]["voice"], true);
        assert_eq!(d["media"]["sha256"], hex::encode([7u8; 32]));
        assert_eq!(d["chat"]["type"], "group");
        assert_eq!(d["from"]["lid"], "2@lid");
        let loc =
            wire(json!({"type": "location", "lat": 1.5, "lng": 2.5, "loc": "Cafe\nMain St 1"}));
        assert_eq!(
            data(&loc)["location"],
            json!({"latitude": 1.5, "longitude": 2.5, "name": "Cafe", "address": "Main St 1"})
        );
        let card = wire(json!({"type": "vcard", "vcards": [{"name": "Bo",
            "vcard": "BEGIN:VCARD\nFN:Bo\nTEL;type=CELL;waid=15551112222:+1 555 111 2222\nEND:VCARD"}]}));
        assert_eq!(data(&card)["contacts"][0]["phones"], json!(["15551112222"]));
        let poll = wire(json!({"type": "poll_creation", "poll_name": "Lunch?",
            "poll_options": ["yes", "no"], "poll_selectable_count": 1}));
        assert_eq!(
            data(&poll)["poll"],
            json!({"name": "Lunch?", "options": ["yes", "no"], "selectable_count": 1})
        );
    }

    #[test]
    fn kinds_placeholders_and_replies() {
        assert_eq!(Kind::of(&wire(json!({"type": "ciphertext"}))), Kind::Undecryptable);
        assert_eq!(Kind::of(&wire(json!({"type": "e2e_notification"}))), Kind::Ignored);
        assert_eq!(
            Kind::of(&wire(json!({"type": "chat", "remote": "status@broadcast"}))),
            Kind::Ignored
        );
        assert_eq!(Kind::of(&wire(json!({"type": "list"}))), Kind::Content("unsupported"));
        let reply = wire(json!({"type": "chat", "body": "yes", "from_me": true,
            "from": "15550001111@c.us", "remote": "15557654321@c.us",
            "quoted_id": "true_15557654321@c.us_Q"}));
        let d = data(&reply);
        assert_eq!(d["context"]["message_id"], "true_15557654321@c.us_Q");
        assert_eq!(d["origin"], "phone");
        assert_eq!(d["from"]["pn"], "15550001111");
    }

    #[test]
    fn phone_digits() {
        assert_eq!(pn_digits("15551234567:3@c.us").as_deref(), Some("15551234567"));
        assert_eq!(pn_digits("123@lid"), None);
        assert_eq!(pn_digits("1-2@g.us"), None);
    }
}
