//! `POST …/messages` in JSON Schema, for the OpenAPI document: what [`super::request`] validates,
//! written so a generator of schema-valid bodies (schemathesis) only makes bodies it accepts.
//! `crate::api::openapi::contract` installs it and tests its patterns against the parsers.

use serde_json::{json, Value};

use crate::api::openapi::contract::{string, LOOKUP_PHONE, NOT_BLANK, RECIPIENT};

/// Base64 (standard alphabet) of at least one byte, padding optional, canonical last symbol: what
/// `request::media` decodes.
pub const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw](?:==)?|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=?)$";
/// Our message ids and WhatsApp's: `MessageId::parse`.
pub const MESSAGE_ID: &str = "^[A-Za-z0-9_@.:-]{1,200}$";
/// A mention: a phone number or an `…@lid` id.
pub const MENTION: &str = r"^(?:[ ()-]*\+?(?:[ ()-]*[0-9]){6,15}[ ()-]*|[0-9]{6,15}@(?:c\.us|s\.whatsapp\.net)|[0-9]{6,20}@lid)$";

/// Text of 1 to `max` characters, not only white space (`request::bounded_text`).
pub fn text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NOT_BLANK})
}

/// `POST …/messages`, one variant per `type`, as `SendRequest::validate` takes it: the type's own
/// object is required, no other type's object may be there, and each field has its bounds.
pub fn send_request() -> Value {
    use crate::messages::send::request::{
        MessageType as T, MAX_CAPTION_CHARS, MAX_CLIENT_REF, MAX_CONTACTS, MAX_MENTIONS,
        MAX_POLL_OPTIONS, MAX_TEXT_CHARS,
    };
    let media = |kind: T, mime: Value| {
        let mut props = json!({
            "data": {"type": "string", "pattern": BASE64, "maxLength": kind.media_limit().div_ceil(3) * 4,
                "description": "The bytes, base64. Instead of data, `link` names an http(s) URL the sidecar fetches first (see docs/messages.md)."},
            "mime_type": mime,
            "filename": {"type": ["string", "null"], "maxLength": 255, "pattern": "^[^/\\\\\\u0000]*$"},
        });
        if !matches!(kind, T::Audio | T::Sticker) {
            props["caption"] = json!({"type": ["string", "null"], "maxLength": MAX_CAPTION_CHARS});
        }
        props["voice"] =
            if kind == T::Audio { json!({"type": "boolean"}) } else { json!({"const": false}) };
        json!({"type": "object", "additionalProperties": false, "required": ["data", "mime_type"], "properties": props})
    };
    let family = |f: &str| json!({"type": "string", "pattern": format!("^{f}/[a-z0-9.+_-]+$")});
    let own: Vec<(T, Value)> = vec![
        (
            T::Text,
            json!({"type": "object", "additionalProperties": false, "required": ["body"],
            "properties": {"body": text(MAX_TEXT_CHARS), "preview_url": {"type": "boolean"}}}),
        ),
        (T::Image, media(T::Image, family("image"))),
        (T::Video, media(T::Video, family("video"))),
        (T::Audio, media(T::Audio, family("audio"))),
        (T::Document, media(T::Document, family("[a-z0-9.+_-]+"))),
        (T::Sticker, media(T::Sticker, json!({"type": "string", "enum": ["image/webp"]}))),
        (
            T::Location,
            json!({"type": "object", "additionalProperties": false, "required": ["latitude", "longitude"],
            "properties": {"latitude": {"type": "number", "minimum": -90, "maximum": 90},
                "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                "name": {"type": ["string", "null"], "maxLength": 1000},
                "address": {"type": ["string", "null"], "maxLength": 1000}}}),
        ),
        (
            T::Contacts,
            json!({"type": "array", "minItems": 1, "maxItems": MAX_CONTACTS, "items": {
            "type": "object", "required": ["name", "phones"], "properties": {
                "name": {"type": "object", "required": ["formatted_name"], "properties": {"formatted_name": text(256)}},
                "phones": {"type": "array", "minItems": 1, "items": {"type": "object",
                    "anyOf": [{"required": ["phone"]}, {"required": ["wa_id"]}],
                    "properties": {"phone": string(LOOKUP_PHONE), "wa_id": string(LOOKUP_PHONE)}}}}}}),
        ),
        (
            T::Reaction,
            json!({"type": "object", "additionalProperties": false, "required": ["message_id", "emoji"],
            "properties": {"message_id": string(MESSAGE_ID),
                "emoji": {"type": "string", "maxLength": 10, "pattern": "^(?:\\S(?:[\\s\\S]*\\S)?)?$",
                    "description": "One emoji; \"\" removes the reaction."}}}),
        ),
        (
            T::Poll,
            json!({"type": "object", "additionalProperties": false, "required": ["name", "options"],
            "properties": {"name": text(255),
                "options": {"type": "array", "minItems": 2, "maxItems": MAX_POLL_OPTIONS, "uniqueItems": true, "items": text(100)},
                "selectable_count": {"type": "integer", "minimum": 0, "maximum": MAX_POLL_OPTIONS,
                    "description": "At most the number of options; 0 = any number (default 1)."}}}),
        ),
    ];
    let variants: Vec<Value> = own
        .into_iter()
        .map(|(kind, object)| {
            let name = kind.as_str();
            let mut props = json!({
                "messaging_product": {"type": ["string", "null"]},
                "recipient_type": {"type": ["string", "null"]},
                "to": string(RECIPIENT),
                "type": {"const": name},
                "client_ref": {"type": ["string", "null"], "maxLength": MAX_CLIENT_REF},
                "priority": {"$ref": "#/components/schemas/Priority"},
                "on_limit": {"$ref": "#/components/schemas/OnLimit"},
            });
            props[name] = object;
            if kind != T::Reaction {
                props["context"] = json!({"type": ["object", "null"], "additionalProperties": false,
                    "required": ["message_id"], "properties": {"message_id": string(MESSAGE_ID)}});
            }
            if matches!(kind, T::Text | T::Image | T::Video | T::Audio | T::Document | T::Sticker) {
                props["mentions"] = json!({"type": ["array", "null"], "maxItems": MAX_MENTIONS, "items": string(MENTION)});
            }
            json!({"type": "object", "title": name, "additionalProperties": false, "required": ["to", "type", name], "properties": props})
        })
        .collect();
    json!({"oneOf": variants})
}
