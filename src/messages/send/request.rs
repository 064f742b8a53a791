//! The body of `POST …/messages` (Meta's Cloud API message object plus WhatsApp Web's extras) and
//! its validation into an [`Outgoing`]: typed, bounded, ready to queue. Every refusal is a `400`
//! whose code is stable and whose message starts with the field it is about.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::api::{codes, ApiError};

/// Longest text WhatsApp takes in one message.
pub const MAX_TEXT_CHARS: usize = 65_536;
pub const MAX_CAPTION_CHARS: usize = 1_024;
pub const MAX_CLIENT_REF: usize = 256;
pub const MAX_POLL_OPTIONS: usize = 12;
pub const MAX_MENTIONS: usize = 256;
pub const MAX_CONTACTS: usize = 20;

/// `POST …/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Accepted and ignored (`"whatsapp"`), so a Cloud API payload fits as is.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// Accepted and ignored (`"individual"` / `"group"`).
    #[serde(default)]
    pub recipient_type: Option<String>,
    /// Phone digits (`+` allowed) or a chat id `…@c.us`, `…@g.us`, `…@lid`.
    #[schema(example = "+15551234567")]
    pub to: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    #[serde(default)]
    pub text: Option<TextBody>,
    #[serde(default)]
    pub image: Option<MediaBody>,
    #[serde(default)]
    pub video: Option<MediaBody>,
    #[serde(default)]
    pub audio: Option<MediaBody>,
    #[serde(default)]
    pub document: Option<MediaBody>,
    #[serde(default)]
    pub sticker: Option<MediaBody>,
    #[serde(default)]
    pub location: Option<LocationBody>,
    #[serde(default)]
    pub contacts: Option<Vec<ContactBody>>,
    #[serde(default)]
    pub reaction: Option<ReactionBody>,
    #[serde(default)]
    pub poll: Option<PollBody>,
    /// Reply to a message (our id or WhatsApp's).
    #[serde(default)]
    pub context: Option<ContextBody>,
    /// Phone digits or `…@c.us` / `…@lid` ids mentioned in the text or caption.
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// Opaque, echoed in the answer and every callback (≤ 256 chars).
    #[serde(default)]
    pub client_ref: Option<String>,
    /// `normal` (default) or `transactional` (no typing shown first).
    #[serde(default)]
    pub priority: Priority,
    /// When a cap is reached: `reject` (default, `429`) or `queue` (sent when the cap allows).
    #[serde(default)]
    pub on_limit: OnLimit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Contacts,
    Reaction,
    Poll,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Reaction => "reaction",
            Self::Poll => "poll",
        }
    }

    /// WhatsApp's size limit for media of this type, in bytes.
    pub fn media_limit(self) -> usize {
        match self {
            Self::Image => 5 << 20,
            Self::Sticker => 500 << 10,
            Self::Document => 100 << 20,
            _ => 16 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    Transactional,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnLimit {
    #[default]
    Reject,
    Queue,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub body: String,
    #[serde(default)]
    pub preview_url: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaBody {
    /// An http(s) URL the sidecar fetches before answering (public addresses only unless
    /// `[net]` allows more; bounded by WhatsApp's limit for the type).
    #[serde(default)]
    pub link: Option<String>,
    /// The bytes, base64 (standard alphabet, padding optional).
    #[serde(default)]
    pub data: Option<String>,
    /// Required with `data`, e.g. `image/png`.
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// Audio only: send as a voice note (push-to-talk).
    #[serde(default)]
    pub voice: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A Cloud API contact card; the first phone is the one shared.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactBody {
    pub name: ContactName,
    #[serde(default)]
    pub phones: Vec<ContactPhone>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactName {
    pub formatted_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactPhone {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionBody {
    /// The message reacted to: our id or WhatsApp's.
    pub message_id: String,
    /// One emoji; `""` removes the reaction.
    pub emoji: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollBody {
    pub name: String,
    pub options: Vec<String>,
    /// How many options a voter may pick (0 = any number; default 1).
    #[serde(default = "one", deserialize_with = "crate::api::json::whole")]
    pub selectable_count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextBody {
    pub message_id: String,
}

/// Who a message goes to, as the host named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Recipient {
    /// Digits only; checked with `queryExists` before the first send.
    Phone(String),
    /// `…@g.us`.
    Group(String),
    /// `…@lid`.
    Lid(String),
}

impl Recipient {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::new(
                codes::INVALID_RECIPIENT,
                format!("to: {raw:?} is not a phone number (digits, + allowed) or a chat id (…@c.us, …@g.us, …@lid)"),
            )
        };
        let s = raw.trim();
        let digits = |d: &str, min: usize, max: usize| {
            (min..=max).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
        };
        if let Some(user) = s.strip_suffix("@c.us").or_else(|| s.strip_suffix("@s.whatsapp.net")) {
            return if digits(user, 6, 15) { Ok(Self::Phone(user.into())) } else { Err(bad()) };
        }
        if let Some(user) = s.strip_suffix("@lid") {
            return if digits(user, 6, 20) { Ok(Self::Lid(s.into())) } else { Err(bad()) };
        }
        if let Some(user) = s.strip_suffix("@g.us") {
            let ok = !user.is_empty()
                && user.split('-').all(|p| digits(p, 1, 20))
                && user.split('-').count() <= 2;
            return if ok { Ok(Self::Group(s.into())) } else { Err(bad()) };
        }
        let plain: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let plain = plain.strip_prefix('+').unwrap_or(&plain);
        if digits(plain, 6, 15) {
            Ok(Self::Phone(plain.into()))
        } else {
            Err(bad())
        }
    }

    /// The chat id to hand to `WPP.chat.find` (before any `queryExists` canonicalisation).
    pub fn chat_id(&self) -> String {
        match self {
            Self::Phone(d) => format!("{d}@c.us"),
            Self::Group(id) | Self::Lid(id) => id.clone(),
        }
    }
}

/// What to send, validated. Stored as JSON in the message row and read back by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Text {
        body: String,
        preview_url: bool,
    },
    /// image, video, audio, document, sticker.
    Media {
        kind: MessageType,
        mime_type: String,
        /// Base64 of the bytes.
        data: String,
        size: usize,
        sha256: String,
        caption: Option<String>,
        filename: Option<String>,
        voice: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Contacts {
        /// `(chat id of the shared number, display name)`.
        cards: Vec<(String, String)>,
    },
    Reaction {
        message_id: String,
        emoji: String,
    },
    Poll {
        name: String,
        options: Vec<String>,
        selectable_count: u32,
    },
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Media { kind, .. } => kind.as_str(),
            Self::Location { .. } => "location",
            Self::Contacts { .. } => "contacts",
            Self::Reaction { .. } => "reaction",
            Self::Poll { .. } => "poll",
        }
    }

    /// Characters a person would type (drives the typing time).
    pub fn typed_chars(&self) -> usize {
        match self {
            Self::Text { body, .. } => body.chars().count(),
            Self::Media { caption, .. } => caption.as_deref().map_or(0, |c| c.chars().count()),
            Self::Poll { name, options, .. } => {
                name.chars().count() + options.iter().map(|o| o.chars().count()).sum::<usize>()
            }
            _ => 10,
        }
    }
}

/// A validated send, as queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub to: String,
    pub recipient: Recipient,
    pub content: Content,
    pub reply_to: Option<String>,
    pub mentions: Vec<String>,
    pub client_ref: Option<String>,
    pub priority: Priority,
    pub on_limit: OnLimit,
}

fn field(code: codes::Code, path: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(code, format!("{path}: {why}"))
}

fn missing(kind: MessageType) -> ApiError {
    let name = kind.as_str();
    ApiError::new(
        codes::MISSING_FIELD,
        format!("{name}: type is {name:?} but the body has no {name:?} object"),
    )
}

fn bounded_text(code: codes::Code, path: &str, s: &str, max: usize) -> Result<(), ApiError> {
    if s.trim().is_empty() {
        return Err(field(code, path, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(field(code, path, format!("longer than {max} characters")));
    }
    Ok(())
}

fn optional_text(
    code: codes::Code,
    path: &str,
    s: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match s {
        Some(s) if s.chars().count() > max => {
            Err(field(code, path, format!("longer than {max} characters")))
        }
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A message id as a request may name it (ours or WhatsApp's).
fn message_ref(path: &str, s: &str) -> Result<String, ApiError> {
    super::super::MessageId::parse(s)
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| field(codes::INVALID_MESSAGE_ID, path, format!("{s:?} is not a message id")))
}

impl SendRequest {
    /// Validates the whole body; nothing is queued unless this succeeds.
    pub fn validate(self) -> Result<Outgoing, ApiError> {
        let recipient = Recipient::parse(&self.to)?;
        let kind = self.kind;
        let given: Vec<&str> = [
            ("text", self.text.is_some()),
            ("image", self.image.is_some()),
            ("video", self.video.is_some()),
            ("audio", self.audio.is_some()),
            ("document", self.document.is_some()),
            ("sticker", self.sticker.is_some()),
            ("location", self.location.is_some()),
            ("contacts", self.contacts.is_some()),
            ("reaction", self.reaction.is_some()),
            ("poll", self.poll.is_some()),
        ]
        .into_iter()
        .filter(|(n, on)| *on && *n != kind.as_str())
        .map(|(n, _)| n)
        .collect();
        if let Some(other) = given.first() {
            return Err(field(
                codes::INVALID_FIELD,
                other,
                format!("not allowed when type is {:?}", kind.as_str()),
            ));
        }
        let content = match kind {
            MessageType::Text => {
                let t = self.text.ok_or_else(|| missing(kind))?;
                bounded_text(codes::INVALID_TEXT, "text.body", &t.body, MAX_TEXT_CHARS)?;
                Content::Text { body: t.body, preview_url: t.preview_url }
            }
            MessageType::Image
            | MessageType::Video
            | MessageType::Audio
            | MessageType::Document
            | MessageType::Sticker => {
                let m = match kind {
                    MessageType::Image => self.image,
                    MessageType::Video => self.video,
                    MessageType::Audio => self.audio,
                    MessageType::Document => self.document,
                    _ => self.sticker,
                }
                .ok_or_else(|| missing(kind))?;
                media(kind, m)?
            }
            MessageType::Location => {
                let l = self.location.ok_or_else(|| missing(kind))?;
                if !(-90.0..=90.0).contains(&l.latitude) || !l.latitude.is_finite() {
                    return Err(field(
                        codes::INVALID_LOCATION,
                        "location.latitude",
                        "must be in [-90, 90]",
                    ));
                }
                if !(-180.0..=180.0).contains(&l.longitude) || !l.longitude.is_finite() {
                    return Err(field(
                        codes::INVALID_LOCATION,
                        "location.longitude",
                        "must be in [-180, 180]",
                    ));
                }
                Content::Location {
                    latitude: l.latitude,
                    longitude: l.longitude,
                    name: optional_text(codes::INVALID_LOCATION, "location.name", l.name, 1_000)?,
                    address: optional_text(
                        codes::INVALID_LOCATION,
                        "location.address",
                        l.address,
                        1_000,
                    )?,
                }
            }
            MessageType::Contacts => {
                let list = self.contacts.ok_or_else(|| missing(kind))?;
                if list.is_empty() || list.len() > MAX_CONTACTS {
                    return Err(field(
                        codes::INVALID_CONTACTS,
                        "contacts",
                        format!("give 1 to {MAX_CONTACTS} contacts"),
                    ));
                }
                let mut cards = Vec::new();
                for (i, c) in list.into_iter().enumerate() {
                    let name = c.name.formatted_name;
                    bounded_text(
                        codes::INVALID_CONTACTS,
                        &format!("contacts[{i}].name.formatted_name"),
                        &name,
                        256,
                    )?;
                    let phone = c.phones.into_iter().next().ok_or_else(|| {
                        field(
                            codes::INVALID_CONTACTS,
                            &format!("contacts[{i}].phones"),
                            "needs a phone",
                        )
                    })?;
                    let raw = phone.wa_id.or(phone.phone).unwrap_or_default();
                    let Ok(Recipient::Phone(digits)) = Recipient::parse(&raw) else {
                        return Err(field(
                            codes::INVALID_CONTACTS,
                            &format!("contacts[{i}].phones[0]"),
                            format!("{raw:?} is not a phone number"),
                        ));
                    };
                    cards.push((format!("{digits}@c.us"), name));
                }
                Content::Contacts { cards }
            }
            MessageType::Reaction => {
                let r = self.reaction.ok_or_else(|| missing(kind))?;
                let message_id = message_ref("reaction.message_id", &r.message_id)?;
                if r.emoji.chars().count() > 10 || r.emoji.trim() != r.emoji {
                    return Err(field(
                        codes::INVALID_REACTION,
                        "reaction.emoji",
                        "must be one emoji, or \"\" to remove",
                    ));
                }
                Content::Reaction { message_id, emoji: r.emoji }
            }
            MessageType::Poll => {
                let p = self.poll.ok_or_else(|| missing(kind))?;
                bounded_text(codes::INVALID_POLL, "poll.name", &p.name, 255)?;
                if p.options.len() < 2 || p.options.len() > MAX_POLL_OPTIONS {
                    return Err(field(
                        codes::INVALID_POLL,
                        "poll.options",
                        format!("give 2 to {MAX_POLL_OPTIONS} options"),
                    ));
                }
                for (i, o) in p.options.iter().enumerate() {
                    bounded_text(codes::INVALID_POLL, &format!("poll.options[{i}]"), o, 100)?;
                }
                let mut seen = std::collections::HashSet::new();
                if !p.options.iter().all(|o| seen.insert(o)) {
                    return Err(field(codes::INVALID_POLL, "poll.options", "options must differ"));
                }
                if p.selectable_count as usize > p.options.len() {
                    return Err(field(
                        codes::INVALID_POLL,
                        "poll.selectable_count",
                        "must not exceed the number of options",
                    ));
                }
                Content::Poll {
                    name: p.name,
                    options: p.options,
                    selectable_count: p.selectable_count,
                }
            }
        };
        let reply_to = match self.context {
            Some(c) => {
                if kind == MessageType::Reaction {
                    return Err(field(
                        codes::INVALID_FIELD,
                        "context",
                        "a reaction cannot be a reply",
                    ));
                }
                Some(message_ref("context.message_id", &c.message_id)?)
            }
            None => None,
        };
        let mut mentions = Vec::new();
        for (i, m) in self.mentions.unwrap_or_default().into_iter().enumerate() {
            if i >= MAX_MENTIONS {
                return Err(field(
                    codes::INVALID_MENTIONS,
                    "mentions",
                    format!("at most {MAX_MENTIONS} mentions"),
                ));
            }
            match Recipient::parse(&m) {
                Ok(Recipient::Phone(d)) => mentions.push(format!("{d}@c.us")),
                Ok(Recipient::Lid(id)) => mentions.push(id),
                _ => {
                    return Err(field(
                        codes::INVALID_MENTIONS,
                        &format!("mentions[{i}]"),
                        format!("{m:?} is not a phone number or …@lid id"),
                    ))
                }
            }
        }
        if !mentions.is_empty() && !matches!(content, Content::Text { .. } | Content::Media { .. })
        {
            return Err(field(
                codes::INVALID_MENTIONS,
                "mentions",
                "only text and media take mentions",
            ));
        }
        if let Some(r) = &self.client_ref {
            if r.chars().count() > MAX_CLIENT_REF {
                return Err(field(
                    codes::INVALID_CLIENT_REF,
                    "client_ref",
                    format!("longer than {MAX_CLIENT_REF} characters"),
                ));
            }
        }
        Ok(Outgoing {
            to: self.to,
            recipient,
            content,
            reply_to,
            mentions,
            client_ref: self.client_ref,
            priority: self.priority,
            on_limit: self.on_limit,
        })
    }
}

impl SendRequest {
    /// Everything [`SendRequest::validate`] checks that does not need a media link's bytes: run
    /// before the link is fetched, so a bad body is a 400 whatever the session's state.
    pub fn check_shape(&self) -> Result<(), ApiError> {
        let mut probe = self.clone();
        let kind = probe.kind;
        if let Some((_, m)) = probe.media_mut() {
            if m.link.is_some() && m.data.is_none() {
                m.link = None;
                m.data = Some("AA==".into());
                if m.mime_type.is_none() {
                    m.mime_type = Some(
                        match kind {
                            MessageType::Image => "image/png",
                            MessageType::Video => "video/mp4",
                            MessageType::Audio => "audio/ogg",
                            MessageType::Sticker => "image/webp",
                            _ => "application/octet-stream",
                        }
                        .into(),
                    );
                }
            }
        }
        probe.validate().map(|_| ())
    }

    /// The media object of this message's type, with its field name (`image`, …).
    pub fn media_mut(&mut self) -> Option<(&'static str, &mut MediaBody)> {
        let name = self.kind.as_str();
        let m = match self.kind {
            MessageType::Image => self.image.as_mut(),
            MessageType::Video => self.video.as_mut(),
            MessageType::Audio => self.audio.as_mut(),
            MessageType::Document => self.document.as_mut(),
            MessageType::Sticker => self.sticker.as_mut(),
            _ => None,
        }?;
        Some((name, m))
    }
}

/// The MIME families the first bytes say a file is in, for the formats WhatsApp takes; `None`
/// when they say nothing we know.
pub fn sniff(b: &[u8]) -> Option<&'static [&'static str]> {
    let starts = |p: &[u8]| b.starts_with(p);
    let webp = starts(b"RIFF") && b.get(8..12) == Some(b"WEBP");
    Some(
        if starts(b"\x89PNG\r\n\x1a\n") || starts(&[0xFF, 0xD8, 0xFF]) || starts(b"GIF8") || webp {
            &["image"]
        } else if starts(b"%PDF-") {
            &["application"]
        } else if starts(b"OggS") {
            &["audio", "video"]
        } else if b.get(4..8) == Some(b"ftyp") {
            &["video", "audio"]
        } else if starts(b"ID3") {
            &["audio"]
        } else {
            return None;
        },
    )
}

fn media(kind: MessageType, m: MediaBody) -> Result<Content, ApiError> {
    let name = kind.as_str();
    if m.link.is_some() {
        // The route fetches links into `data` before validating; one left here was not fetched.
        return Err(field(
            codes::INVALID_MEDIA_LINK,
            &format!("{name}.link"),
            "give either link or data, not both",
        ));
    }
    let data = m.data.ok_or_else(|| {
        field(codes::MISSING_FIELD, &format!("{name}.data"), "give the bytes as base64 in data")
    })?;
    let mime = m.mime_type.ok_or_else(|| {
        field(codes::MISSING_FIELD, &format!("{name}.mime_type"), "required with data")
    })?;
    let mime = mime.trim().to_ascii_lowercase();
    let valid_mime = mime.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && mime.bytes().all(|c| c.is_ascii_alphanumeric() || b"/.+-_;= ".contains(&c))
    });
    if !valid_mime {
        return Err(field(
            codes::INVALID_MIME_TYPE,
            &format!("{name}.mime_type"),
            "not a MIME type",
        ));
    }
    let family_ok = match kind {
        MessageType::Image => mime.starts_with("image/"),
        MessageType::Video => mime.starts_with("video/"),
        MessageType::Audio => mime.starts_with("audio/"),
        MessageType::Sticker => mime == "image/webp",
        _ => true,
    };
    if !family_ok {
        return Err(field(
            codes::INVALID_MIME_TYPE,
            &format!("{name}.mime_type"),
            format!("{mime:?} does not fit a {name}"),
        ));
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
        .map_err(|e| {
            field(codes::INVALID_MEDIA, &format!("{name}.data"), format!("not base64: {e}"))
        })?;
    if bytes.is_empty() {
        return Err(field(codes::INVALID_MEDIA, &format!("{name}.data"), "is empty"));
    }
    if let Some(families) = sniff(&bytes) {
        let family = mime.split('/').next().unwrap_or_default();
        if kind != MessageType::Document && !families.contains(&family) {
            return Err(field(
                codes::MEDIA_TYPE_MISMATCH,
                &format!("{name}.mime_type"),
                format!("{mime:?} but the bytes are {}", families.join(" or ")),
            ));
        }
    }
    if bytes.len() > kind.media_limit() {
        return Err(field(
            codes::MEDIA_TOO_LARGE,
            &format!("{name}.data"),
            format!(
                "{} bytes; WhatsApp takes at most {} for a {name}",
                bytes.len(),
                kind.media_limit()
            ),
        ));
    }
    if m.voice && kind != MessageType::Audio {
        return Err(field(
            codes::INVALID_FIELD,
            &format!("{name}.voice"),
            "only audio can be a voice note",
        ));
    }
    if m.caption.is_some() && matches!(kind, MessageType::Audio | MessageType::Sticker) {
        return Err(field(
            codes::INVALID_FIELD,
            &format!("{name}.caption"),
            format!("a {name} has no caption"),
        ));
    }
    let caption = optional_text(
        codes::INVALID_CAPTION,
        &format!("{name}.caption"),
        m.caption,
        MAX_CAPTION_CHARS,
    )?;
    let filename =
        optional_text(codes::INVALID_FILENAME, &format!("{name}.filename"), m.filename, 255)?;
    if filename.as_deref().is_some_and(|f| f.contains(['/', '\\', '\0'])) {
        return Err(field(
            codes::INVALID_FILENAME,
            &format!("{name}.filename"),
            "must be a bare file name",
        ));
    }
    Ok(Content::Media {
        kind,
        mime_type: mime,
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
        caption,
        filename,
        voice: m.voice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: serde_json::Value) -> Result<Outgoing, ApiError> {
        crate::api::json::parse::<SendRequest>(body.to_string().as_bytes())?.validate()
    }

    fn code(body: serde_json::Value) -> (&'static str, String) {
        let e = check(body).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn recipients() {
        assert_eq!(
            Recipient::parse("+1 555-123-4567").unwrap(),
            Recipient::Phone("15551234567".into())
        );
        assert_eq!(
            Recipient::parse("15551234567@c.us").unwrap(),
            Recipient::Phone("15551234567".into())
        );
        assert!(matches!(Recipient::parse("120363-1@g.us").unwrap(), Recipient::Group(_)));
        assert!(matches!(Recipient::parse("123456789012345@lid").unwrap(), Recipient::Lid(_)));
        for bad in ["", "abc", "12", "1@c.us", "x@g.us", "1555@evil.com", "+-"] {
            assert_eq!(Recipient::parse(bad).unwrap_err().code, "INVALID_RECIPIENT", "{bad}");
        }
    }

    #[test]
    fn a_text_is_accepted_and_typed() {
        let o =
            check(json!({"messaging_product": "whatsapp", "to": "+15551234567", "type": "text",
            "text": {"body": "hi"}, "client_ref": "order-1"}))
            .unwrap();
        assert_eq!(o.content, Content::Text { body: "hi".into(), preview_url: false });
        assert_eq!(o.client_ref.as_deref(), Some("order-1"));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let (c, m) = code(json!({"to": "1555123456", "type": "fax"}));
        assert_eq!(c, "INVALID_FIELD");
        assert!(m.starts_with("type:"), "{m}");
        let (c, m) = code(json!({"to": "1555123456", "type": "text"}));
        assert_eq!((c, m.starts_with("text:")), ("MISSING_FIELD", true), "{m}");
        let (c, m) = code(json!({"to": "1555123456", "type": "text", "text": {"body": ""}}));
        assert_eq!((c, m.starts_with("text.body:")), ("INVALID_TEXT", true));
        let (c, m) = code(
            json!({"to": "1555123456", "type": "image", "image": {"data": "!!", "mime_type": "image/png"}}),
        );
        assert_eq!((c, m.starts_with("image.data:")), ("INVALID_MEDIA", true), "{m}");
        let (c, _) = code(
            json!({"to": "1555123456", "type": "image", "image": {"link": "http://10.0.0.1/x.png", "data": "aGk=", "mime_type": "image/png"}}),
        );
        assert_eq!(c, "INVALID_MEDIA_LINK");
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; (5 << 20) + 1]);
        let (c, _) = code(
            json!({"to": "1555123456", "type": "image", "image": {"data": big, "mime_type": "image/png"}}),
        );
        assert_eq!(c, "MEDIA_TOO_LARGE");
        let (c, _) =
            code(json!({"to": "1555123456", "type": "text", "text": {"body": "x"}, "image": {}}));
        assert_eq!(c, "INVALID_FIELD");
        let (c, _) = code(json!({"to": "nobody", "type": "text", "text": {"body": "x"}}));
        assert_eq!(c, "INVALID_RECIPIENT");
        let (c, _) = code(
            json!({"to": "1555123456", "type": "poll", "poll": {"name": "q", "options": ["a"]}}),
        );
        assert_eq!(c, "INVALID_POLL");
        let (c, _) = code(
            json!({"to": "1555123456", "type": "location", "location": {"latitude": 91, "longitude": 0}}),
        );
        assert_eq!(c, "INVALID_LOCATION");
    }

    #[test]
    fn media_is_decoded_and_hashed() {
        let o = check(json!({"to": "1555123456", "type": "document",
            "document": {"data": "aGVsbG8=", "mime_type": "application/pdf", "filename": "a.pdf"}}))
        .unwrap();
        let Content::Media { size, sha256, .. } = o.content else { panic!() };
        assert_eq!(size, 5);
        assert_eq!(sha256, hex::encode(Sha256::digest(b"hello")));
    }
}
