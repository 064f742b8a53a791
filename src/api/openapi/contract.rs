//! What the handlers' `#[utoipa::path]` annotations leave out, written into the document by rule
//! so no route can forget it: every error status a route can answer (with the error envelope and
//! the catalogue's codes), the constraints the docs give in prose (id patterns, limits, enums),
//! and the media types of non-JSON answers.
//!
//! Each pattern here mirrors a parser (named beside it); `tests` hold them to each other.

use serde_json::{json, Value};

use crate::api::codes::{self, Code};

/// Workspace and session ids: [`crate::ids::WorkspaceId::parse`].
pub const ID: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";
/// A phone number: [`crate::ids::PhoneNumber::parse`] (7-15 digits, no leading 0, `+`, spaces
/// and dashes allowed).
pub const PHONE: &str = r"^\+?[ -]*[1-9](?:[ -]*[0-9]){6,14}[ -]*$";
/// A phone number for lookups: `Recipient::parse`'s phone forms.
pub const LOOKUP_PHONE: &str =
    r"^(?:[ ()-]*\+?(?:[ ()-]*[0-9]){6,15}[ ()-]*|[0-9]{6,15}@(?:c\.us|s\.whatsapp\.net))$";
/// Whom a message goes to: `Recipient::parse`.
pub const RECIPIENT: &str = r"^(?:[ ()-]*\+?(?:[ ()-]*[0-9]){6,15}[ ()-]*|[0-9]{6,15}@(?:c\.us|s\.whatsapp\.net)|[0-9]{6,20}@lid|[0-9]{1,20}(?:-[0-9]{1,20})?@g\.us)$";
/// A chat of the reading routes: `inbound::api::chat_id`.
pub const CHAT: &str = r"^(?:\+?[0-9]{1,20}|[0-9:-]{1,64}@(?:c\.us|g\.us|lid))$";
/// A contact: a chat that is not a group.
pub const CONTACT: &str = r"^(?:\+?[0-9]{1,20}|[0-9:-]{1,64}@(?:c\.us|lid))$";
/// A group.
pub const GROUP: &str = r"^[0-9:-]{1,64}@g\.us$";
/// A callback URL: what `callbacks::endpoint::parse` takes (http(s), a host, no credentials, no
/// fragment, at most 2048 bytes), as close as a pattern gets to the WHATWG parser behind it:
/// any case of the scheme, the host characters it takes, an empty or zero-padded port, any path
/// and query. Hosts are narrowed to names whose last label starts with a letter (a numeric one is
/// parsed as IPv4 and may not be valid). Whether the host is public is the outbound policy's.
pub const CALLBACK_URL: &str = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_~!$&'()*+,;=-]+\.)*[A-Za-z][A-Za-z0-9_~!$&'()*+,;=-]*\.?(?::0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?(?:[/?\\][^#]*)?\s*$";
/// A WhatsApp message id, as `MessageId::parse` takes it.
pub const WA_MESSAGE_ID: &str = "^(?:true_[A-Za-z0-9_@.:-]{0,195}|false_[A-Za-z0-9_@.:-]{0,194})$";
/// An `Idempotency-Key`: printable ASCII and spaces, not blank (`send::api::idempotency_key`);
/// HTTP strips a header value's surrounding white space, so none is written here.
pub const IDEMPOTENCY_KEY: &str = "^[!-~](?:[ -~]*[!-~])?$";
/// Text with at least one character that is not white space.
pub const NOT_BLANK: &str = r"\S";

/// Writes the rules into the whole document.
pub fn complete(doc: &mut Value) {
    constrain_schemas(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            constrain_parameters(path, method, op);
            add_errors(path, method, op);
        }
    }
    media_types(doc);
    session_links(doc);
}

/// Links from a created session to every operation under it, so a stateful run (schemathesis)
/// follows `POST …/sessions` into the session's routes with its real ids.
fn session_links(doc: &mut Value) {
    let collection = "/v1/workspaces/{workspace}/sessions";
    let prefix = format!("{collection}/{{session}}");
    let mut links = serde_json::Map::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if !(path == &prefix || path.starts_with(&format!("{prefix}/"))) {
            continue;
        }
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let pointer = path.replace('~', "~0").replace('/', "~1");
            let name =
                format!("{method}{}", path[collection.len()..].replace(['/', '{', '}', '-'], "_"));
            links.insert(name, json!({
                "operationRef": format!("#/paths/{pointer}/{method}"),
                "parameters": {"workspace": "$request.path.workspace", "session": "$response.body#/id"},
            }));
        }
    }
    if let Some(created) =
        doc.pointer_mut("/paths/~1v1~1workspaces~1{workspace}~1sessions/post/responses/201")
    {
        created["links"] = Value::Object(links);
    }
}

pub(crate) fn string(pattern: &str) -> Value {
    json!({"type": "string", "pattern": pattern})
}

/// Unsigned integers get the upper bound of their Rust type, so a bigger number is a documented
/// refusal rather than a schema-valid one.
fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let integer = map.get("type").is_some_and(|t| {
                t == "integer" || t.as_array().is_some_and(|ts| ts.iter().any(|t| t == "integer"))
            });
            if integer && map.get("minimum") == Some(&json!(0)) && !map.contains_key("maximum") {
                let max = if map.get("format") == Some(&json!("int32")) {
                    json!(u32::MAX)
                } else {
                    json!(u64::MAX)
                };
                map.insert("maximum".into(), max);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Properties of component schemas, by schema and field.
fn constrain_schemas(doc: &mut Value) {
    if let Some(send) = doc.pointer_mut("/components/schemas/SendRequest") {
        let description = send.get("description").cloned();
        *send = crate::messages::send::schema::send_request();
        if let Some(d) = description {
            send["description"] = d;
        }
    }
    let rules: &[(&str, &str, Value)] = &[
        ("CreateSession", "id", string(ID)),
        (
            "CreateSession",
            "callback_url",
            json!({"type": ["string", "null"], "pattern": CALLBACK_URL, "maxLength": 2048}),
        ),
        // A subset of what `Secret::parse` takes (24-64 bytes, canonical base64): 25-63 bytes.
        (
            "CreateSession",
            "callback_secret",
            json!({"type": ["string", "null"], "writeOnly": true, "pattern": concat!(
                r"^whsec_(?:[A-Za-z0-9+/]{4}){8,20}",
                r"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)$"
            )}),
        ),
        (
            "CreateSession",
            "metadata",
            json!({"type": "object", "maxProperties": 20,
            "propertyNames": {"minLength": 1, "maxLength": 40},
            "additionalProperties": {"type": "string", "maxLength": 500}}),
        ),
        ("PairingRequest", "phone", string(PHONE)),
        ("PingRequest", "message", json!({"type": "string", "maxLength": 1000})),
        ("TestIn", "workspace", string(ID)),
        ("TestIn", "session", string(ID)),
        (
            "EnableIn",
            "url",
            json!({"type": ["string", "null"], "pattern": CALLBACK_URL, "maxLength": 2048}),
        ),
        (
            "LookupRequest",
            "phones",
            json!({"type": "array", "minItems": 1, "maxItems": 100, "items": string(LOOKUP_PHONE)}),
        ),
        (
            "EditRequest",
            "text",
            crate::messages::send::schema::text(crate::messages::send::request::MAX_TEXT_CHARS),
        ),
        (
            "ReactionRequest",
            "emoji",
            json!({"type": "string", "maxLength": 10, "pattern": r"^(?:\S(?:[\s\S]*\S)?)?$"}),
        ),
        ("ForwardRequest", "to", string(RECIPIENT)),
        (
            "PresenceRequest",
            "state",
            json!({"type": "string", "enum": ["typing", "recording", "paused"]}),
        ),
        ("PresenceRequest", "duration_ms", json!({"type": ["integer", "null"], "minimum": 0})),
    ];
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut)
    else {
        return;
    };
    for (schema, field, rule) in rules {
        if let Some(prop) =
            schemas.get_mut(*schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}")))
        {
            let description = prop.get("description").cloned();
            *prop = rule.clone();
            if let Some(d) = description {
                prop["description"] = d;
            }
        }
    }
    // A session's own callback secret comes only with its own callback URL (INVALID_FIELD).
    if let Some(create) = schemas.get_mut("CreateSession") {
        create["dependentSchemas"] = json!({"callback_secret": {
            "required": ["callback_url"],
            "properties": {"callback_url": {"type": "string"}}
        }});
    }
    if let Some(components) = doc.get_mut("components") {
        bound_integers(components);
    }
}

/// Path and query parameters, by name.
fn constrain_parameters(path: &str, method: &str, op: &mut Value) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for p in params {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let place = p["in"].as_str().unwrap_or_default().to_owned();
        let schema = match (place.as_str(), name.as_str()) {
            (_, "workspace" | "session") => Some(string(ID)),
            ("path", "chat") if path.ends_with("/messages") && method == "get" => {
                Some(string(CHAT))
            }
            ("path", "chat") => Some(string(RECIPIENT)),
            ("path", "id") if path.contains("/contacts/") => Some(string(CONTACT)),
            ("path", "id") if path.contains("/groups/") => Some(string(GROUP)),
            ("query", "limit") if path == "/v1/callbacks/dead" => {
                Some(json!({"type": "integer", "minimum": 1, "maximum": 500}))
            }
            ("query", "limit") => Some(json!({"type": "integer", "minimum": 1, "maximum": 100})),
            // Always accepted: WhatsApp's ids. Ours (`in_…`, `out_…`) only when this session has
            // them, which no pattern can say.
            ("query", "before") => Some(string(WA_MESSAGE_ID)),
            ("query", "cursor") => Some(string("^-?[0-9]{1,19}$")),
            ("header", "Idempotency-Key") => Some(json!({"type": "string", "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY})),
            ("query", "format") => {
                Some(json!({"type": "string", "enum": ["png", "raw", "data-url"]}))
            }
            ("query", "for") => {
                p["required"] = json!(true);
                Some(json!({"type": "string", "enum": ["everyone", "me"]}))
            }
            _ => None,
        };
        if let Some(schema) = schema {
            p["schema"] = schema;
        }
        // The ids of the examples in the docs, so a run can reach what lies behind them.
        match (place.as_str(), name.as_str()) {
            ("path", "workspace") => p["example"] = json!("acme"),
            ("path", "session") => p["example"] = json!("main"),
            _ => {}
        }
    }
}

/// The error statuses a route can answer beyond its own, by what the route is.
fn add_errors(path: &str, method: &str, op: &mut Value) {
    let v1 = path.starts_with("/v1/");
    let json_body = op.pointer("/requestBody/content/application~1json").is_some();
    let has = |place: &str| {
        op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
    };
    let (path_params, query) = (has("path"), has("query"));
    let session_tail =
        path.contains("/sessions/{session}/") || path.starts_with("/v1/admin/sessions/{workspace}");
    let engine =
        session_tail && (method != "get" || ENGINE_READS.iter().any(|t| path.ends_with(t)));
    let mut errors: Vec<Code> = Vec::new();
    if v1 {
        errors.extend([codes::UNAUTHORIZED, codes::WORKSPACE_FORBIDDEN, codes::IP_NOT_ALLOWED]);
        errors.extend([
            codes::BODY_READ_FAILED,
            codes::REQUEST_TIMEOUT,
            codes::PAYLOAD_TOO_LARGE,
            codes::SERVER_BUSY,
        ]);
    } else if path == "/metrics" || path == "/openapi.json" {
        errors.push(codes::IP_NOT_ALLOWED);
    }
    if path.contains("{workspace}") || path.contains("{session}") {
        errors.push(codes::INVALID_ID);
    }
    if path_params {
        errors.push(codes::INVALID_PATH);
    }
    if query {
        errors.push(codes::INVALID_QUERY);
    }
    if json_body {
        errors.extend([codes::INVALID_JSON, codes::INVALID_FIELD, codes::UNSUPPORTED_MEDIA_TYPE]);
    }
    if session_tail {
        errors.push(codes::SESSION_NOT_FOUND);
    }
    if engine {
        errors.extend([
            codes::SHUTTING_DOWN,
            codes::SESSION_TIMEOUT,
            codes::ENGINE_TIMEOUT,
            codes::WHATSAPP_ERROR,
        ]);
    }
    if path_params {
        // A value with a `/` in it makes another path, which no route may serve.
        errors.push(codes::ROUTE_NOT_FOUND);
    }
    let responses = op["responses"].as_object_mut().expect("every operation has responses");
    for code in errors {
        let status = code.status.to_string();
        // A route that documents its own 404 (MESSAGE_NOT_FOUND, …) keeps it as it is.
        if code == codes::SESSION_NOT_FOUND && responses.contains_key(&status) {
            continue;
        }
        let entry = responses.entry(status).or_insert_with(|| json!({"description": ""}));
        let description = entry["description"].as_str().unwrap_or_default().to_owned();
        if !codes_in(&description).contains(&code.name) {
            entry["description"] = json!(if description.is_empty() {
                code.name.to_owned()
            } else {
                format!("{description}; {}", code.name)
            });
        }
    }
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            response["content"] = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}});
        }
    }
}

/// GET routes under a session that ask its browser (the rest read the database or a snapshot).
const ENGINE_READS: &[&str] =
    &["/screenshot", "/chats", "/messages", "/contacts/{id}", "/groups", "/groups/{id}"];

/// The SCREAMING_SNAKE words of a description: the codes it names.
pub fn codes_in(description: &str) -> Vec<&str> {
    description
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
        .filter(|w| w.len() > 3 && (w.contains('_') || Code::find(w).is_some()))
        .collect()
}

/// Answers that are not JSON.
fn media_types(doc: &mut Value) {
    let binary = json!({"type": "string", "format": "binary"});
    let text = json!({"type": "string"});
    let set = |doc: &mut Value, pointer: &str, content: Value| {
        if let Some(response) = doc.pointer_mut(pointer) {
            response["content"] = content;
        }
    };
    let session = "/paths/~1v1~1workspaces~1{workspace}~1sessions~1{session}";
    set(
        doc,
        &format!("{session}~1qr/get/responses/200"),
        json!({
        "image/png": {"schema": binary},
        "text/plain": {"schema": text},
        "application/json": {"schema": {"type": "object", "required": ["raw", "data_url"], "properties": {
            "raw": {"type": "string"}, "data_url": {"type": "string"}}}}}),
    );
    set(
        doc,
        &format!("{session}~1screenshot/get/responses/200"),
        json!({"image/png": {"schema": binary}}),
    );
    set(
        doc,
        &format!("{session}~1media~1{{media_id}}/get/responses/200"),
        json!({"*/*": {"schema": binary}}),
    );
    set(
        doc,
        &format!("{session}~1media~1{{media_id}}/get/responses/206"),
        json!({"*/*": {"schema": binary}}),
    );
    // The body may be left out (every disabled endpoint).
    if let Some(body) =
        doc.pointer_mut("/paths/~1v1~1callbacks~1endpoints~1enable/post/requestBody")
    {
        body["required"] = json!(false);
    }
    set(
        doc,
        "/paths/~1health~1ready/get/responses/503",
        json!({"application/json": {"schema": {
        "allOf": [{"$ref": "#/components/schemas/Ready"}, {
            "type": "object", "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}}}]}}}),
    );
    set(
        doc,
        "/paths/~1metrics/get/responses/200",
        json!({
        "text/plain": {"schema": text},
        "application/openmetrics-text": {"schema": text}}),
    );
}

/// Every code an operation's error responses name, with the status it is under.
pub fn documented_errors(doc: &Value) -> Vec<(String, String, u16, String)> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else { return out };
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                let Ok(status) = status.parse::<u16>() else { continue };
                if status < 400 {
                    continue;
                }
                for code in codes_in(response["description"].as_str().unwrap_or_default()) {
                    out.push((method.clone(), path.clone(), status, code.to_owned()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use crate::ids::{PhoneNumber, WorkspaceId};
    use crate::messages::send::request::Recipient;

    fn doc() -> Value {
        crate::api::openapi::document()
    }

    #[test]
    fn every_error_a_route_documents_is_in_the_catalogue_with_its_status() {
        let named = documented_errors(&doc());
        assert!(named.len() > 100, "too few codes found: {}", named.len());
        for (method, path, status, code) in named {
            let entry = Code::find(&code).unwrap_or_else(|| {
                panic!("{method} {path}: {status} names {code}, not in the catalogue")
            });
            assert_eq!(
                entry.status, status,
                "{method} {path}: {code} is a {}, not a {status}",
                entry.status
            );
        }
    }

    #[test]
    fn every_error_response_names_a_code_and_carries_the_envelope() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if !(status.starts_with('4') || status.starts_with('5')) {
                        continue;
                    }
                    let what = format!("{method} {path} {status}");
                    assert!(
                        !codes_in(response["description"].as_str().unwrap()).is_empty(),
                        "{what}: no code"
                    );
                    if path == "/health/ready" {
                        continue; // its own body, which carries the envelope's `error`
                    }
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorEnvelope",
                        "{what}"
                    );
                }
            }
        }
    }

    #[test]
    fn signed_routes_document_the_refusals_of_the_signed_scope() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in
                item.as_object().unwrap().iter().filter(|_| path.starts_with("/v1/"))
            {
                for status in ["401", "403", "408", "413", "503"] {
                    assert!(op["responses"][status].is_object(), "{method} {path} lacks {status}");
                }
                if op.pointer("/requestBody/content/application~1json").is_some() {
                    assert!(op["responses"]["415"].is_object(), "{method} {path} lacks 415");
                }
            }
        }
    }

    #[test]
    fn ids_are_constrained_wherever_they_appear() {
        let doc = doc();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["name"] == "workspace" || p["name"] == "session" {
                        assert_eq!(p["schema"]["pattern"], ID, "{method} {path} {}", p["name"]);
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 50, "{seen}");
        assert_eq!(
            doc["components"]["schemas"]["CreateSession"]["properties"]["id"]["pattern"],
            ID
        );
        let duration =
            &doc["components"]["schemas"]["PresenceRequest"]["properties"]["duration_ms"];
        assert_eq!(duration["maximum"], json!(u64::MAX), "unsigned fields are bounded: {duration}");
    }

    /// Each pattern and its parser agree on valid and invalid samples.
    #[test]
    fn patterns_agree_with_the_parsers() {
        let agree = |pattern: &str, parser: &dyn Fn(&str) -> bool, samples: &[&str]| {
            let re = Regex::new(pattern).unwrap();
            for s in samples {
                assert_eq!(re.is_match(s), parser(s), "{pattern} vs the parser on {s:?}");
            }
        };
        agree(
            ID,
            &|s| WorkspaceId::parse(s).is_ok(),
            &[
                "acme",
                "a",
                "0",
                "a-b_c",
                "",
                "A",
                "-a",
                "_a",
                "a.b",
                &"a".repeat(63),
                &"a".repeat(64),
                "é",
            ],
        );
        agree(
            PHONE,
            &|s| PhoneNumber::parse(s).is_ok(),
            &[
                "+15551234567",
                "15551234567",
                "+1 555-123-4567",
                "1234567",
                "123456",
                "0123456789",
                "+",
                "",
                "1234567890123456",
                "+-1234567",
                "12a4567",
            ],
        );
        agree(
            RECIPIENT,
            &|s| Recipient::parse(s).is_ok(),
            &[
                "+15551234567",
                "(555) 123-4567",
                "123456",
                "12345",
                "15551234567@c.us",
                "1@c.us",
                "123456789@lid",
                "1203630-1@g.us",
                "1-2-3@g.us",
                "x@g.us",
                "",
                "abc",
                "123456@s.whatsapp.net",
            ],
        );
        use crate::messages::send::schema::{BASE64, MENTION};
        let b64 = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .is_ok_and(|b| !b.is_empty())
        };
        agree(
            BASE64,
            &b64,
            &[
                "AAAA",
                "AA==",
                "AA",
                "AAA=",
                "AAA",
                "AB==",
                "AB",
                "",
                "A",
                "AAAAA",
                "iVBORw0KGgo=",
                "a+/b",
                "a-_b",
            ],
        );
        let mention =
            |s: &str| matches!(Recipient::parse(s), Ok(Recipient::Phone(_) | Recipient::Lid(_)));
        agree(
            MENTION,
            &mention,
            &["+15551234567", "123456789@lid", "1-1@g.us", "15551234567@c.us", "x"],
        );
        let chat = |s: &str| crate::messages::inbound::api::chat_id(s).is_ok();
        agree(
            CHAT,
            &chat,
            &[
                "+15551234567",
                "1",
                "99@lid",
                "1203630-1@g.us",
                "1:2@c.us",
                "x@evil.com",
                "../etc",
                "",
                "a@c.us",
                &"1".repeat(21),
            ],
        );
        let contact = |s: &str| chat(s) && !s.ends_with("@g.us");
        agree(CONTACT, &contact, &["+15551234567", "99@lid", "1-1@g.us", "5@c.us", "x"]);
        let group = |s: &str| chat(s) && s.ends_with("@g.us");
        agree(GROUP, &group, &["1-1@g.us", "5@c.us", "1@g.us", "@g.us"]);
        let url = |s: &str| crate::callbacks::endpoint::parse(s).is_ok();
        let re = Regex::new(CALLBACK_URL).unwrap();
        for s in [
            "https://host.test/hooks/wa",
            "http://local-host:8000/x?token=1",
            "http://a",
            "http://h:65535",
            "http://a_b/x*",
            "HTTP://A",
            "http://a:",
            "http://a.b./",
            " http://a/ b",
            "http://h:00080/",
            "http://a\\b",
        ] {
            assert!(re.is_match(s) && url(s), "{s}");
        }
        for s in [
            "",
            "http://",
            "http://h:65536/",
            "http://h:93205/x",
            "http://a/b#c",
            "http://u@h/",
            "ftp://host/x",
            "https://u:p@host/x",
            "https://host/x#f",
            "not a url",
        ] {
            assert!(!url(s) && !re.is_match(s), "{s}");
        }
        let key =
            |s: &str| !s.trim().is_empty() && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        agree(IDEMPOTENCY_KEY, &key, &["order-42", "a b", "a", "", " ", "é", "a\tb"]);
    }
}
