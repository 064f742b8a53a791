//! Routes of sending, thin over [`super::Sender`]: `POST …/messages`, `GET …/messages/{id}`,
//! `POST …/contacts/lookup`, `GET …/sending-limits`. Mounted in the signed `/v1` scope.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::{OpenApi, ToSchema};

use super::queue::{self, Accept, Caps, Idem};
use super::request::{Recipient, SendRequest};
use super::worker;
use crate::api::{codes, ApiError, Json};
use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::messages::store::{now_ms, NewMessage};
use crate::messages::{Direction, MessageId, Messages, Status};
use crate::net::NetPolicy;
use crate::sessions::snapshot::{from_unix_ms, rfc3339};
use crate::sessions::State;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let session =
        |tail: &str| web::resource(format!("/workspaces/{{workspace}}/sessions/{{session}}{tail}"));
    cfg.service(session("/messages").route(web::post().to(send)))
        .service(
            session("/messages/{id}")
                .route(web::get().to(get_message))
                .route(web::patch().to(super::ops::edit))
                .route(web::delete().to(super::ops::delete)),
        )
        .service(session("/contacts/lookup").route(web::post().to(lookup)))
        .service(session("/sending-limits").route(web::get().to(limits)))
        .configure(super::ops::configure);
}

#[derive(OpenApi)]
#[openapi(
    paths(send, get_message, lookup, limits, super::ops::edit, super::ops::delete, super::ops::react, super::ops::forward, super::ops::star, super::ops::read_chat, super::ops::presence),
    components(schemas(SendRequest, Accepted, LookupRequest, super::request::MessageType, super::request::Priority, super::request::OnLimit,
        super::request::TextBody, super::request::MediaBody, super::request::LocationBody, super::request::ContactBody, super::request::ContactName,
        super::request::ContactPhone, super::request::ReactionBody, super::request::PollBody, super::request::ContextBody,
        super::ops::EditRequest, super::ops::ReactionRequest, super::ops::ForwardRequest, super::ops::StarRequest, super::ops::PresenceRequest)),
    tags((name = "messages", description = "Sending messages, their statuses, recipients"))
)]
pub struct ApiDoc;

/// The `202` of `POST …/messages` (also what a repeat with the same `Idempotency-Key` returns).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Accepted {
    id: String,
    /// Always `queued`.
    status: String,
    to: String,
    client_ref: Option<String>,
    created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// Up to 100 phone numbers (digits, `+` allowed).
    pub phones: Vec<String>,
}

const MAX_LOOKUP: usize = 100;
const MAX_IDEMPOTENCY_KEY: usize = 255;
const DAY_MS: i64 = 86_400_000;

fn key(path: &(String, String)) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(&path.0)?, SessionId::parse(&path.1)?))
}

fn not_ready(state: State) -> ApiError {
    ApiError::new(
        codes::SESSION_NOT_READY,
        format!(
            "the session is {}; messages are taken while it is connected (or briefly starting, authenticating or disconnected)",
            state.as_str()
        ),
    )
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().ok().map(str::trim).unwrap_or("");
    let ok = !s.is_empty()
        && s.len() <= MAX_IDEMPOTENCY_KEY
        && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if !ok {
        return Err(ApiError::new(
            codes::INVALID_IDEMPOTENCY_KEY,
            format!("Idempotency-Key: 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
        ));
    }
    Ok(Some(s.to_owned()))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/messages", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "A repeat returns the first answer and sends nothing, also after a restart")),
    request_body = SendRequest,
    responses((status = 202, body = Accepted),
        (status = 400, description = "INVALID_FIELD, INVALID_JSON, MISSING_FIELD, INVALID_RECIPIENT, INVALID_TEXT, INVALID_MEDIA, INVALID_MIME_TYPE, MEDIA_TOO_LARGE, MEDIA_TYPE_MISMATCH, INVALID_MEDIA_LINK, MEDIA_LINK_REFUSED, MEDIA_LINK_FAILED, INVALID_CAPTION, INVALID_FILENAME, INVALID_LOCATION, INVALID_CONTACTS, INVALID_REACTION, INVALID_POLL, INVALID_MENTIONS, INVALID_MESSAGE_ID, INVALID_CLIENT_REF, INVALID_IDEMPOTENCY_KEY"),
        (status = 404, description = "SESSION_NOT_FOUND"), (status = 409, description = "SESSION_NOT_READY"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED"), (status = 429, description = "QUEUE_FULL, SENDING_LIMIT_REACHED, NEW_CHAT_LIMIT_REACHED (with Retry-After)")),
    security(("hmac" = [])))]
async fn send(
    messages: web::Data<Messages>,
    net: web::Data<NetPolicy>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: Json<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let sender = &messages.send;
    let snapshot = messages.sessions.get(&key)?;
    let idem_key = idempotency_key(&req)?;
    let mut request = body.into_inner();
    // The request as the host sent it (before any link is fetched) identifies a repeat.
    let canonical = serde_json::to_string(&request).map_err(ApiError::internal)?;
    let idem = idem_key.map(|k| Idem { key: k, hash: hex::encode(Sha256::digest(&canonical)) });
    request.check_shape()?;
    // A link that can never be fetched is refused before anything else (no packet is sent).
    if let Some((name, media)) = request.media_mut() {
        if let Some(link) = &media.link {
            precheck_link(&net, name, link)?;
        }
    }
    // A repeat answers the same whatever the session does now.
    if let Some(idem) = &idem {
        let (k, ik) = (key.clone(), idem.key.clone());
        let prior = messages
            .store
            .run(move |c| {
                use rusqlite::OptionalExtension;
                Ok(c.query_row(
                    "SELECT request_hash, response FROM send_idempotency WHERE workspace = ?1 AND session = ?2 AND key = ?3",
                    rusqlite::params![k.workspace.as_str(), k.session.as_str(), ik],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?)
            })
            .await
            .map_err(ApiError::internal)?;
        if let Some((hash, response)) = prior {
            return repeat_or_reused(hash == idem.hash, &response);
        }
    }
    let expires_at = match snapshot.state {
        State::Connected => None,
        // Transitional states on the way to connected (a restored login passes through
        // authenticating on every restart): queued, with an expiry.
        State::Starting | State::Authenticating | State::Disconnected => {
            Some(now_ms() + sender.config().expire_after_ms as i64)
        }
        other => return Err(not_ready(other)),
    };
    let kind = request.kind;
    if let Some((name, media)) = request.media_mut() {
        if let Some(link) = media.link.take() {
            if media.data.is_some() {
                return Err(ApiError::new(
                    codes::INVALID_MEDIA_LINK,
                    format!("{name}.link: give either link or data, not both"),
                ));
            }
            let fetched = fetch_link(&net, name, &link, kind.media_limit()).await?;
            media.data = Some(base64::engine::general_purpose::STANDARD.encode(&fetched.bytes));
            if media.mime_type.is_none() {
                media.mime_type = fetched
                    .content_type
                    .as_deref()
                    .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_owned())
                    .filter(|ct| !ct.is_empty() && ct != "application/octet-stream");
                if media.mime_type.is_none() {
                    return Err(ApiError::new(
                        codes::MISSING_FIELD,
                        format!("{name}.mime_type: the link gave no content type; set mime_type"),
                    ));
                }
            }
        }
    }
    let out = request.validate()?;
    let id = MessageId::new_outbound();
    let now = now_ms();
    let response = json!({
        "id": id.as_str(),
        "status": "queued",
        "to": out.to,
        "client_ref": out.client_ref,
        "created_at": rfc3339(from_unix_ms(now as u64)),
    });
    let pacing = sender.pacing();
    let day_start = now - now.rem_euclid(DAY_MS);
    let new_chat_cap = pacing.new_chat_cap(age_days(&snapshot.created_at, now));
    let caps = Caps {
        max_queued: sender.config().max_queued_per_session,
        daily_cap: (pacing.enabled && pacing.daily_cap > 0).then_some(pacing.daily_cap),
        day_start_ms: day_start,
        next_day_ms: day_start + DAY_MS,
        queue_on_limit: out.on_limit == super::request::OnLimit::Queue,
        chat: out.recipient.chat_id(),
        new_chat_cap,
    };
    let new = NewMessage {
        id,
        wa_id: None,
        direction: Direction::Out,
        chat_id: None,
        peer: out.to.clone(),
        kind: out.content.kind().to_owned(),
        body: serde_json::to_value(&out).map_err(ApiError::internal)?,
        status: Status::Queued,
        client_ref: out.client_ref.clone(),
        wa_t: None,
    };
    let k = key.clone();
    let outcome = messages
        .store
        .run(move |c| queue::accept(c, &k, &new, idem.as_ref(), &response, expires_at, &caps))
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        Accept::Accepted(body) => {
            sender.kick(&key);
            Ok(HttpResponse::Accepted().json(body))
        }
        Accept::Repeat(body) => Ok(HttpResponse::Accepted()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(body)),
        Accept::KeyReused => repeat_or_reused(false, ""),
        Accept::QueueFull => Ok(with_retry_after(
            ApiError::new(
                codes::QUEUE_FULL,
                format!(
                    "this session already has {} messages waiting (sending.max_queued_per_session)",
                    sender.config().max_queued_per_session
                ),
            ),
            60,
        )),
        Accept::DailyCap { retry_after_secs } => Ok(with_retry_after(
            ApiError::new(
                codes::SENDING_LIMIT_REACHED,
                format!(
                    "the daily cap of {} messages is reached (sending.pacing.daily_cap); retry later or send with on_limit: \"queue\"",
                    pacing.daily_cap
                ),
            ),
            retry_after_secs,
        )),
        Accept::NewChatCap { retry_after_secs } => Ok(with_retry_after(
            ApiError::new(
                codes::NEW_CHAT_LIMIT_REACHED,
                format!(
                    "{} is a chat this session never wrote to, and today's cap of {} new chats is reached (sending.pacing.new_chat_daily_cap, new_chat_ramp); chats already written to still take messages; retry later or send with on_limit: \"queue\"",
                    out.to,
                    new_chat_cap.unwrap_or_default()
                ),
            ),
            retry_after_secs,
        )),
    }
}

/// Whole days since the session was created (its `created_at`); 0 if unreadable.
fn age_days(created_at: &str, now_ms: i64) -> u64 {
    let Ok(created) = humantime::parse_rfc3339_weak(created_at) else { return 0 };
    let created = crate::sessions::snapshot::unix_ms(created) as i64;
    (now_ms.saturating_sub(created).max(0) / DAY_MS) as u64
}

/// The checks of a media `link` that need no network: a URL, http(s), no credentials, not an
/// address the policy refuses as written.
fn precheck_link(net: &NetPolicy, name: &str, link: &str) -> Result<url::Url, ApiError> {
    let path = format!("{name}.link");
    let url = url::Url::parse(link)
        .map_err(|e| ApiError::new(codes::INVALID_MEDIA_LINK, format!("{path}: not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::new(
            codes::INVALID_MEDIA_LINK,
            format!("{path}: only http and https links are fetched, not {}", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::new(
            codes::INVALID_MEDIA_LINK,
            format!("{path}: credentials in the URL are not accepted"),
        ));
    }
    net.check_url(&url)
        .map_err(|e| ApiError::new(codes::MEDIA_LINK_REFUSED, format!("{path}: {e}")))?;
    Ok(url)
}

/// GETs a media `link` through the SSRF guard, bounded by the type's limit. Every refusal is a
/// 400 naming the field.
async fn fetch_link(
    net: &NetPolicy,
    name: &str,
    link: &str,
    limit: usize,
) -> Result<crate::net::Fetched, ApiError> {
    use crate::net::FetchError as F;
    let path = format!("{name}.link");
    let url = precheck_link(net, name, link)?;
    crate::net::fetch_limited(&url, limit as u64, net).await.map_err(|e| match e {
        F::Scheme(_) => ApiError::new(codes::INVALID_MEDIA_LINK, format!("{path}: {e}")),
        F::Refused(_) => ApiError::new(codes::MEDIA_LINK_REFUSED, format!("{path}: {e}")),
        F::TooLarge { .. } => ApiError::new(
            codes::MEDIA_TOO_LARGE,
            format!("{path}: {e} (WhatsApp's limit for a {name})"),
        ),
        other => ApiError::new(codes::MEDIA_LINK_FAILED, format!("{path}: {other}")),
    })
}

/// The error envelope with a `Retry-After` header.
fn with_retry_after(e: ApiError, secs: u64) -> HttpResponse {
    let mut response = e.render();
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
    }
    response
}

fn repeat_or_reused(same: bool, response: &str) -> Result<HttpResponse, ApiError> {
    if !same {
        return Err(ApiError::new(
            codes::IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used for a different message; use a new key",
        ));
    }
    let body: Value = serde_json::from_str(response).unwrap_or(Value::Null);
    Ok(HttpResponse::Accepted().insert_header(("Idempotent-Replayed", "true")).json(body))
}

/// The message as the host sees it: media bytes left out (size and sha256 stay).
fn view(
    row: crate::messages::store::MessageRow,
    history: Vec<crate::messages::store::StatusEntry>,
) -> Value {
    let mut content = row.body.get("content").cloned().unwrap_or_else(|| row.body.clone());
    if let Some(obj) = content.as_object_mut() {
        obj.remove("data");
        // Receiving's bookkeeping of reported reactions and votes.
        obj.remove(crate::messages::inbound::reactions::MARKS);
    }
    let at = |ms: i64| rfc3339(from_unix_ms(ms.max(0) as u64));
    json!({
        "id": row.id,
        "wa_id": row.wa_id,
        "direction": row.direction,
        "to": if row.direction == Direction::Out { Some(&row.peer) } else { None },
        "chat_id": row.chat_id,
        "type": row.kind,
        "status": row.status,
        "error": row.error,
        "client_ref": row.client_ref,
        "content": content,
        "created_at": at(row.created_at),
        "updated_at": at(row.updated_at),
        "history": history.into_iter().map(|h| json!({"status": h.status, "at": at(h.at), "detail": h.detail})).collect::<Vec<_>>(),
    })
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path, description = "Our id or WhatsApp's (wa_id)")),
    responses((status = 200, description = "The message, its status and status history; for a group message also `receipts`: [{participant, status, at}], one per member who sent one"), (status = 404, description = "MESSAGE_NOT_FOUND, SESSION_NOT_FOUND")),
    security(("hmac" = [])))]
async fn get_message(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = key(&(ws, s))?;
    let not_found =
        || ApiError::new(codes::MESSAGE_NOT_FOUND, format!("no message {id:?} in this session"));
    let parsed = MessageId::parse(&id).ok_or_else(not_found)?;
    let row = messages.store.get(&key, parsed.as_str()).await.map_err(ApiError::internal)?;
    let Some(row) = row else { return Err(not_found()) };
    let history = messages.store.history(&key, &row.id).await.map_err(ApiError::internal)?;
    let group = row.direction == Direction::Out
        && row.chat_id.as_deref().is_some_and(|c| c.ends_with("@g.us"));
    let receipts = if group {
        let (k, i) = (key.clone(), row.id.clone());
        let rows = messages
            .store
            .run(move |c| queue::receipts(c, &k, &i))
            .await
            .map_err(ApiError::internal)?;
        Some(receipts_view(rows))
    } else {
        None
    };
    let mut body = view(row, history);
    if let Some(receipts) = receipts {
        body["receipts"] = receipts;
    }
    Ok(HttpResponse::Ok().json(body))
}

/// A group message's receipts, one per member who sent one: `[{participant, status, at}]`.
fn receipts_view(rows: Vec<(String, i64, i64)>) -> Value {
    let at = |ms: i64| rfc3339(from_unix_ms(ms.max(0) as u64));
    rows.into_iter()
        .filter_map(|(participant, ack, t)| {
            let status = Status::from_ack(ack)?;
            Some(json!({"participant": participant, "status": status.as_str(), "at": at(t)}))
        })
        .collect()
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/contacts/lookup", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path)), request_body = LookupRequest,
    responses((status = 200, description = "{results: [{phone, exists, chat_id, lid}]} in the order asked"),
        (status = 400, description = "INVALID_PHONE, INVALID_FIELD"), (status = 409, description = "SESSION_NOT_READY")),
    security(("hmac" = [])))]
async fn lookup(
    messages: web::Data<Messages>,
    path: web::Path<(String, String)>,
    body: Json<LookupRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let phones = body.into_inner().phones;
    if phones.is_empty() || phones.len() > MAX_LOOKUP {
        return Err(ApiError::new(
            codes::INVALID_FIELD,
            format!("phones: give 1 to {MAX_LOOKUP} numbers"),
        ));
    }
    let mut digits = Vec::with_capacity(phones.len());
    for (i, p) in phones.iter().enumerate() {
        match Recipient::parse(p) {
            Ok(Recipient::Phone(d)) => digits.push(d),
            _ => {
                return Err(ApiError::new(
                    codes::INVALID_PHONE,
                    format!("phones[{i}]: {p:?} is not a phone number"),
                ))
            }
        }
    }
    let state = messages.sessions.get(&key)?.state;
    if state != State::Connected {
        return Err(not_ready(state));
    }
    let mut results = Vec::with_capacity(digits.len());
    for d in digits {
        let known = worker::recipient(&messages.send, &key, &d).await?;
        results.push(
            json!({"phone": d, "exists": known.found, "chat_id": known.wid, "lid": known.lid}),
        );
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/sending-limits", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "{pacing, daily_cap, accepted_today, remaining_today, new_chat_cap, new_chats_today, remaining_new_chats_today, session_age_days, queued, awaiting_ack, resets_at, paused, typing, gap_ms}")),
    security(("hmac" = [])))]
async fn limits(
    messages: web::Data<Messages>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let snapshot = messages.sessions.get(&key)?;
    let now = now_ms();
    let day_start = now - now.rem_euclid(DAY_MS);
    let k = key.clone();
    let ((queued, today, handed), new_chats) = messages
        .store
        .run(move |c| {
            let counters = queue::counters(c, &k, day_start)?;
            Ok((counters, queue::new_chats_on(c, &k, day_start, day_start + DAY_MS)?))
        })
        .await
        .map_err(ApiError::internal)?;
    let p = messages.send.pacing();
    let cap = (p.enabled && p.daily_cap > 0).then_some(p.daily_cap);
    let age = age_days(&snapshot.created_at, now);
    let new_chat_cap = p.new_chat_cap(age);
    let paused = messages.send.paused(&key);
    Ok(HttpResponse::Ok().json(json!({
        "pacing": p.enabled,
        "daily_cap": cap,
        "accepted_today": today,
        "remaining_today": cap.map(|c| c.saturating_sub(today)),
        "new_chat_cap": new_chat_cap,
        "new_chats_today": new_chats,
        "remaining_new_chats_today": new_chat_cap.map(|c| c.saturating_sub(new_chats)),
        "session_age_days": age,
        "queued": queued,
        "awaiting_ack": handed,
        "resets_at": rfc3339(from_unix_ms((day_start + DAY_MS) as u64)),
        "paused": paused.as_ref().map(|(ms, why)| json!({"reason": why, "remaining_ms": ms})),
        "typing": p.enabled,
        "gap_ms": if p.enabled { json!([p.gap_min_ms, p.gap_max_ms]) } else { Value::Null },
    })))
}
