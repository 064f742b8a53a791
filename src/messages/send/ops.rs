//! Operations on a message WhatsApp already has (edit, delete, react, forward, star) and on a chat
//! (mark read, typing/recording/paused), each one bridge call answered at once. Mounted by
//! [`super::api::configure`].

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::request::{Recipient, MAX_TEXT_CHARS};
use crate::api::{codes, ApiError, Json};
use crate::engine::wpp;
use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::messages::store::MessageRow;
use crate::messages::{Direction, MessageId, Messages};
use crate::sessions::State;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let session =
        |tail: &str| web::resource(format!("/workspaces/{{workspace}}/sessions/{{session}}{tail}"));
    cfg.service(session("/messages/{id}/reaction").route(web::post().to(react)))
        .service(session("/messages/{id}/forward").route(web::post().to(forward)))
        .service(session("/messages/{id}/star").route(web::post().to(star)))
        .service(session("/chats/{chat}/read").route(web::post().to(read_chat)))
        .service(session("/chats/{chat}/presence").route(web::post().to(presence)));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// The new text of a text message the account sent.
    pub text: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteQuery {
    /// `everyone` (revoke) or `me` (this account's devices only).
    #[serde(rename = "for")]
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    /// One emoji; `""` removes this account's reaction.
    pub emoji: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// A phone number or chat id, as `to` of a send.
    pub to: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StarRequest {
    /// `false` removes the star (default true).
    #[serde(default)]
    pub star: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    /// `typing`, `recording` or `paused`.
    pub state: String,
    /// How long the page shows it at most (default 10 s, at most 60 s).
    #[serde(default, deserialize_with = "crate::api::json::whole_opt")]
    pub duration_ms: Option<u64>,
}

fn session_key(ws: &str, s: &str) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(ws)?, SessionId::parse(s)?))
}

/// The session, which must be connected for anything to reach WhatsApp.
fn connected(messages: &Messages, key: &SessionKey) -> Result<(), ApiError> {
    let state = messages.sessions.get(key)?.state;
    if state != State::Connected {
        return Err(ApiError::new(
            codes::SESSION_NOT_READY,
            format!("the session is {}; this needs it connected", state.as_str()),
        ));
    }
    Ok(())
}

/// A message of the index that WhatsApp has (a `wa_id`).
async fn known(messages: &Messages, key: &SessionKey, id: &str) -> Result<MessageRow, ApiError> {
    let not_found =
        || ApiError::new(codes::MESSAGE_NOT_FOUND, format!("no message {id:?} in this session"));
    let parsed = MessageId::parse(id).ok_or_else(not_found)?;
    let row = messages.store.get(key, parsed.as_str()).await.map_err(ApiError::internal)?;
    let row = row.ok_or_else(not_found)?;
    if row.wa_id.is_none() || row.chat_id.is_none() {
        return Err(ApiError::new(
            codes::MESSAGE_NOT_SENT,
            format!("message {id:?} has not reached WhatsApp yet (status {})", row.status.as_str()),
        ));
    }
    Ok(row)
}

fn wa(row: &MessageRow) -> (&str, &str) {
    (row.wa_id.as_deref().unwrap_or_default(), row.chat_id.as_deref().unwrap_or_default())
}

#[utoipa::path(patch, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path)), request_body = EditRequest,
    responses((status = 200, description = "{id, wa_id, text}"), (status = 400, description = "INVALID_TEXT"), (status = 404, description = "MESSAGE_NOT_FOUND"),
        (status = 409, description = "MESSAGE_NOT_SENT, NOT_EDITABLE, SESSION_NOT_READY"), (status = 502, description = "WHATSAPP_ERROR")),
    security(("hmac" = [])))]
pub async fn edit(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    body: Json<EditRequest>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let text = body.into_inner().text;
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::new(
            codes::INVALID_TEXT,
            format!("text: 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    connected(&messages, &key)?;
    let row = known(&messages, &key, &id).await?;
    if row.direction != Direction::Out || row.kind != "text" {
        return Err(ApiError::new(
            codes::NOT_EDITABLE,
            "only text messages this account sent can be edited",
        ));
    }
    let (wa_id, _) = wa(&row);
    messages.sessions.bridge_call(&key, wpp::edit_message(wa_id, &text)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.id, "wa_id": row.wa_id, "text": text})))
}

#[utoipa::path(delete, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path), DeleteQuery),
    responses((status = 200, description = "{id, wa_id, for, revoked, deleted}"), (status = 400, description = "INVALID_QUERY"), (status = 404, description = "MESSAGE_NOT_FOUND"),
        (status = 409, description = "MESSAGE_NOT_SENT, NOT_REVOCABLE, SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn delete(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let everyone = match query.scope.as_deref() {
        Some("everyone") => true,
        Some("me") => false,
        other => {
            return Err(ApiError::new(
                codes::INVALID_QUERY,
                format!("for: {other:?} is not everyone or me"),
            ))
        }
    };
    connected(&messages, &key)?;
    let row = known(&messages, &key, &id).await?;
    if everyone && row.direction != Direction::Out {
        return Err(ApiError::new(
            codes::NOT_REVOCABLE,
            "only messages this account sent can be deleted for everyone",
        ));
    }
    let (wa_id, chat) = wa(&row);
    let r = messages.sessions.bridge_call(&key, wpp::delete_message(chat, wa_id, everyone)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": row.id, "wa_id": row.wa_id, "for": if everyone { "everyone" } else { "me" },
        "revoked": r.get("revoked").cloned().unwrap_or(Value::Bool(false)),
        "deleted": r.get("deleted").cloned().unwrap_or(Value::Bool(false)),
    })))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}/reaction", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path)), request_body = ReactionRequest,
    responses((status = 200, description = "{id, wa_id, emoji}"), (status = 400, description = "INVALID_REACTION"), (status = 404, description = "MESSAGE_NOT_FOUND"), (status = 409, description = "MESSAGE_NOT_SENT, SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn react(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    body: Json<ReactionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let emoji = body.into_inner().emoji;
    if emoji.chars().count() > 10 || emoji.trim() != emoji {
        return Err(ApiError::new(codes::INVALID_REACTION, "emoji: one emoji, or \"\" to remove"));
    }
    connected(&messages, &key)?;
    let row = known(&messages, &key, &id).await?;
    let (wa_id, _) = wa(&row);
    messages.sessions.bridge_call(&key, wpp::send_reaction(wa_id, &emoji)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.id, "wa_id": row.wa_id, "emoji": emoji})))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}/forward", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path)), request_body = ForwardRequest,
    responses((status = 200, description = "{id, wa_id, forwarded_to}"), (status = 400, description = "INVALID_RECIPIENT"), (status = 404, description = "MESSAGE_NOT_FOUND"), (status = 409, description = "MESSAGE_NOT_SENT, SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn forward(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    body: Json<ForwardRequest>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let to = Recipient::parse(&body.into_inner().to)?;
    connected(&messages, &key)?;
    let row = known(&messages, &key, &id).await?;
    let (wa_id, _) = wa(&row);
    let chat = messages.sessions.bridge_call(&key, wpp::find_chat(&to.chat_id())).await?;
    let Some(chat) = chat.get("id").and_then(Value::as_str) else {
        return Err(ApiError::new(
            codes::RECIPIENT_NOT_FOUND,
            "WhatsApp has no chat for this recipient",
        ));
    };
    messages.sessions.bridge_call(&key, wpp::forward_messages(chat, &[wa_id.to_owned()])).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.id, "wa_id": row.wa_id, "forwarded_to": chat})))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/messages/{id}/star", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path)), request_body = Option<StarRequest>,
    responses((status = 200, description = "{id, wa_id, star}"), (status = 404, description = "MESSAGE_NOT_FOUND"), (status = 409, description = "MESSAGE_NOT_SENT, SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn star(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    body: Option<Json<StarRequest>>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let on = body.and_then(|b| b.into_inner().star).unwrap_or(true);
    connected(&messages, &key)?;
    let row = known(&messages, &key, &id).await?;
    let (wa_id, _) = wa(&row);
    messages.sessions.bridge_call(&key, wpp::star_message(wa_id, on)).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.id, "wa_id": row.wa_id, "star": on})))
}

fn chat_of(raw: &str) -> Result<String, ApiError> {
    Ok(Recipient::parse(raw)
        .map_err(|_| {
            ApiError::new(codes::INVALID_CHAT, format!("{raw:?} is not a phone number or chat id"))
        })?
        .chat_id())
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/chats/{chat}/read", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("chat" = String, Path, description = "Phone number or chat id")),
    responses((status = 200, description = "{chat_id, was_unread}"), (status = 400, description = "INVALID_CHAT"), (status = 409, description = "SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn read_chat(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, chat) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let chat = chat_of(&chat)?;
    connected(&messages, &key)?;
    let r = messages.sessions.bridge_call(&key, wpp::mark_is_read(&chat)).await?;
    Ok(HttpResponse::Ok().json(json!({"chat_id": chat, "was_unread": r.get("unread")})))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/chats/{chat}/presence", tag = "messages",
    params(("workspace" = String, Path), ("session" = String, Path), ("chat" = String, Path, description = "Phone number or chat id")), request_body = PresenceRequest,
    responses((status = 200, description = "{chat_id, state}"), (status = 400, description = "INVALID_CHAT, INVALID_FIELD"), (status = 409, description = "SESSION_NOT_READY")),
    security(("hmac" = [])))]
pub async fn presence(
    messages: web::Data<Messages>,
    path: web::Path<(String, String, String)>,
    body: Json<PresenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, chat) = path.into_inner();
    let key = session_key(&ws, &s)?;
    let chat = chat_of(&chat)?;
    let body = body.into_inner();
    let ms = body.duration_ms.unwrap_or(10_000).min(60_000);
    let call = match body.state.as_str() {
        "typing" => wpp::mark_is_composing(&chat, ms),
        "recording" => wpp::mark_is_recording(&chat, ms),
        "paused" => wpp::mark_is_paused(&chat),
        other => {
            return Err(ApiError::new(
                codes::INVALID_FIELD,
                format!("state: {other:?} is not typing, recording or paused"),
            ))
        }
    };
    connected(&messages, &key)?;
    messages.sessions.bridge_call(&key, call).await?;
    Ok(HttpResponse::Ok().json(json!({"chat_id": chat, "state": body.state})))
}
