//! Receiving's routes (under `/v1/workspaces/{workspace}/sessions/{session}`): received media
//! (`GET media/{media_id}` with Range, `POST media/{media_id}/refetch`) and reading state from the
//! page (`GET chats`, `GET chats/{chat}/messages`, `GET contacts/{id}`, `GET groups`,
//! `GET groups/{id}`). Thin handlers over typed ids; the work is in the parent module.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::media::{self, MediaInfo};
use super::shape::{self, Context, Identity, Source, WireMsg};
use crate::api::{codes, ApiError};
use crate::engine::wpp;
use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::messages::model::MessageId;
use crate::messages::Messages;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let at =
        |tail: &str| web::resource(format!("/workspaces/{{workspace}}/sessions/{{session}}{tail}"));
    cfg.service(at("/media/{media_id}").route(web::get().to(get_media)))
        .service(at("/media/{media_id}/refetch").route(web::post().to(refetch_media)))
        .service(at("/chats").route(web::get().to(list_chats)))
        .service(at("/chats/{chat}/messages").route(web::get().to(chat_messages)))
        .service(at("/contacts/{id}").route(web::get().to(get_contact)))
        .service(at("/groups").route(web::get().to(list_groups)))
        .service(at("/groups/{id}").route(web::get().to(get_group)));
}

#[derive(OpenApi)]
#[openapi(
    paths(get_media, refetch_media, list_chats, chat_messages, get_contact, list_groups, get_group),
    components(schemas(MediaInfo, Chat, ChatList, MessagePage, Contact, Group, GroupList, Participant)),
    tags((name = "receiving", description = "Received media and the account's chats, contacts and groups"))
)]
pub struct ApiDoc;

type Data = web::Data<Messages>;

fn key(ws: &str, s: &str) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(ws)?, SessionId::parse(s)?))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

fn media_not_found(id: &str) -> ApiError {
    ApiError::new(codes::MEDIA_NOT_FOUND, format!("no media with id {id:?} in this session"))
}

fn setup(m: &Messages) -> Result<&super::Setup, ApiError> {
    m.setup().ok_or_else(|| internal("receiving is not set up"))
}

/// A chat id as WhatsApp names it: `…@c.us`, `…@g.us`, `…@lid`, or phone digits (`+` allowed).
pub(crate) fn chat_id(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::new(
            codes::INVALID_CHAT_ID,
            format!("{raw:?} is not a chat id (digits@c.us, id@g.us, id@lid, or a phone number)"),
        )
    };
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("{digits}@c.us"));
    }
    let (user, server) = raw.rsplit_once('@').ok_or_else(bad)?;
    let user_ok = !user.is_empty()
        && user.len() <= 64
        && user.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b':');
    if user_ok && matches!(server, "c.us" | "g.us" | "lid") {
        Ok(raw.to_owned())
    } else {
        Err(bad())
    }
}

// ----------------------------------------------------------------------------------- media

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/media/{media_id}", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path), ("media_id" = String, Path),
           ("Range" = Option<String>, Header, description = "bytes=start-end (one range)")),
    responses((status = 200, description = "The file, with its content type"), (status = 206, description = "The requested range"),
              (status = 404, description = "MEDIA_NOT_FOUND"), (status = 409, description = "MEDIA_NOT_STORED (failed; see refetch)"),
              (status = 410, description = "MEDIA_EXPIRED"), (status = 416, description = "RANGE_NOT_SATISFIABLE")),
    security(("hmac" = [])))]
async fn get_media(
    m: Data,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = key(&ws, &s)?;
    let store = setup(&m)?.media.clone();
    let (k, i) = (key.clone(), id.clone());
    let row = m.store.run(move |c| media::get_row(c, &k, &i)).await.map_err(internal)?;
    let row = row.ok_or_else(|| media_not_found(&id))?;
    match row.info.status.as_str() {
        "stored" => {}
        "expired" => return Err(ApiError::new(
            codes::MEDIA_EXPIRED,
            "the file is past its retention time and was deleted; POST …/refetch may get it again",
        )),
        _ => {
            return Err(ApiError::new(
                codes::MEDIA_NOT_STORED,
                format!(
                    "the file was not stored ({}); POST …/media/{id}/refetch tries again",
                    row.info.reason.as_deref().unwrap_or("failed")
                ),
            ))
        }
    }
    let (k, i) = (key.clone(), id.clone());
    let bytes = web::block(move || store.read(&k, &i))
        .await
        .map_err(internal)?
        .map_err(internal)?
        .ok_or_else(|| media_not_found(&id))?;
    let mime = row.info.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let resp = |status: actix_web::http::StatusCode| {
        let mut b = HttpResponse::build(status);
        b.insert_header((header::CONTENT_TYPE, mime.clone()))
            .insert_header((header::ACCEPT_RANGES, "bytes"))
            .insert_header((header::CACHE_CONTROL, "private, max-age=0"));
        if let Some(name) = row.info.filename.as_deref() {
            let safe: String =
                name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
            b.insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{safe}\"")));
        }
        b
    };
    let total = bytes.len() as u64;
    let Some(range) = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(resp(actix_web::http::StatusCode::OK).body(bytes));
    };
    match parse_range(range, total) {
        Some((start, end)) => Ok(resp(actix_web::http::StatusCode::PARTIAL_CONTENT)
            .insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{total}")))
            .body(bytes[start as usize..=end as usize].to_vec())),
        None => {
            let refusal = ApiError::new(
                codes::RANGE_NOT_SATISFIABLE,
                format!("{range:?} is not one satisfiable range of a {total}-byte file"),
            );
            let mut response = refusal.render();
            if let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Ok(response)
        }
    }
}

/// One `bytes=` range of a `total`-byte file as inclusive offsets; `None` if unsatisfiable or
/// not a single range.
pub fn parse_range(raw: &str, total: u64) -> Option<(u64, u64)> {
    let spec = raw.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (total.saturating_sub(n), total - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { total - 1 } else { b.parse::<u64>().ok()?.min(total - 1) };
        (start, end)
    };
    (start <= end && start < total).then_some((start, end))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/media/{media_id}/refetch", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path), ("media_id" = String, Path)),
    responses((status = 200, body = MediaInfo, description = "The outcome: status stored, or failed with a reason"),
              (status = 404, description = "MEDIA_NOT_FOUND")),
    security(("hmac" = [])))]
async fn refetch_media(
    m: Data,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, id) = path.into_inner();
    let key = key(&ws, &s)?;
    let store = setup(&m)?.media.clone();
    m.sessions.get(&key)?;
    let (k, i) = (key.clone(), id.clone());
    let row = m.store.run(move |c| media::get_row(c, &k, &i)).await.map_err(internal)?;
    let row = row.ok_or_else(|| media_not_found(&id))?;
    let info = media::fetch(
        &m,
        &store,
        &key,
        &media::Expected {
            media_id: &id,
            message_id: &row.message_id,
            wa_id: &row.wa_id,
            kind: &row.kind,
            mime_type: row.info.mime_type.as_deref(),
            sha256: row.info.sha256.as_deref(),
            filename: row.info.filename.as_deref(),
        },
    )
    .await;
    Ok(HttpResponse::Ok().json(info))
}

// ----------------------------------------------------------------------------- reading state

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Chat {
    pub id: String,
    pub name: Option<String>,
    /// `user` or `group`.
    #[serde(rename = "type")]
    pub kind: String,
    pub unread_count: u64,
    /// Unix seconds of the last message.
    pub last_message_at: Option<i64>,
    pub archived: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatList {
    pub chats: Vec<Chat>,
}

#[derive(Deserialize)]
struct WireChat {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    is_group: bool,
    #[serde(default)]
    unread: f64,
    t: Option<f64>,
    #[serde(default)]
    archived: bool,
}

impl WireChat {
    fn into_chat(self) -> Option<Chat> {
        Some(Chat {
            id: self.id?,
            name: self.name,
            kind: if self.is_group { "group" } else { "user" }.into(),
            unread_count: self.unread.max(0.0) as u64,
            last_message_at: self.t.filter(|t| *t > 0.0).map(|t| t as i64),
            archived: self.archived,
        })
    }
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/chats", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = ChatList), (status = 404, description = "SESSION_NOT_FOUND"),
              (status = 409, description = "SESSION_NOT_RUNNING")),
    security(("hmac" = [])))]
async fn list_chats(m: Data, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let key = key(&path.0, &path.1)?;
    let v = m.sessions.bridge_call(&key, wpp::chat_list(None)).await?;
    let chats: Vec<WireChat> = serde_json::from_value(v).map_err(internal)?;
    let chats = chats
        .into_iter()
        .filter_map(WireChat::into_chat)
        .filter(|c| c.id != "status@broadcast")
        .collect();
    Ok(HttpResponse::Ok().json(ChatList { chats }))
}

#[derive(Debug, Deserialize, IntoParams)]
struct PageQuery {
    /// 1–100, default 20.
    limit: Option<String>,
    /// A message id (ours or WhatsApp's): messages older than it.
    before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first, in the callbacks' message shape (`source: "history"`).
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Value>,
    /// Pass as `before` for the next older page; `null` at the start of the chat.
    pub next_before: Option<String>,
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/chats/{chat}/messages", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path), ("chat" = String, Path), PageQuery),
    responses((status = 200, body = MessagePage), (status = 400, description = "INVALID_LIMIT, INVALID_BEFORE, INVALID_CHAT_ID"),
              (status = 409, description = "SESSION_NOT_RUNNING")),
    security(("hmac" = [])))]
async fn chat_messages(
    m: Data,
    path: web::Path<(String, String, String)>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, chat) = path.into_inner();
    let key = key(&ws, &s)?;
    let chat = chat_id(&chat)?;
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => l.parse::<u32>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
            ApiError::new(codes::INVALID_LIMIT, format!("limit must be 1 to 100, got {l:?}"))
        })?,
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => {
            let bad = || {
                ApiError::new(
                    codes::INVALID_BEFORE,
                    format!(
                        "before must be a message id of this chat (ours or WhatsApp's), got {b:?}"
                    ),
                )
            };
            MessageId::parse(b).ok_or_else(bad)?;
            match m.store.get(&key, b).await.map_err(internal)? {
                Some(row) => Some(row.wa_id.ok_or_else(bad)?),
                None if b.starts_with("true_") || b.starts_with("false_") => Some(b.to_owned()),
                None => return Err(bad()),
            }
        }
    };
    m.sessions.get(&key)?;
    let v =
        m.sessions.bridge_call(&key, wpp::get_messages(&chat, limit, before.as_deref())).await?;
    let mut page: Vec<WireMsg> = serde_json::from_value(v).map_err(internal)?;
    if before.is_none() {
        // wa-js anchors the latest page on the last *received* message: the account's own newer
        // messages follow it.
        if let Some(last) = page.last().and_then(|p| p.id.clone()) {
            let v =
                m.sessions.bridge_call(&key, wpp::get_messages_after(&chat, limit, &last)).await?;
            let newer: Vec<WireMsg> = serde_json::from_value(v).map_err(internal)?;
            page.extend(newer);
            let extra = page.len().saturating_sub(limit as usize);
            page.drain(..extra);
        }
    }
    let next_before =
        if page.len() as u32 >= limit { page.first().and_then(|p| p.id.clone()) } else { None };
    let mut out = Vec::with_capacity(page.len());
    for msg in &page {
        let Some(wa_id) = msg.id.as_deref() else { continue };
        let id = match m.store.get(&key, wa_id).await.map_err(internal)? {
            Some(row) => row.id,
            None => MessageId::for_inbound(&key, wa_id).to_string(),
        };
        let from =
            known_identity(&m, &key, shape::sender_id(msg), msg.notify_name.as_deref()).await;
        let media_id = msg.is_media.then(|| super::media_id(&key, wa_id));
        let mut d = shape::message_data(
            msg,
            &Context {
                id: &id,
                from: &from,
                quoted: None,
                media_id: media_id.as_deref(),
                source: Source::Live,
            },
        );
        if let Some(mid) = media_id {
            // What the sidecar did with the file (stored, failed, expired), when it has a row.
            let (k, voice) = (key.clone(), d["media"]["voice"].clone());
            let row = m.store.run(move |c| media::get_row(c, &k, &mid)).await.map_err(internal)?;
            if let Some(row) = row {
                d["media"] = serde_json::to_value(&row.info).map_err(internal)?;
                if voice == json!(true) {
                    d["media"]["voice"] = voice;
                }
            }
        }
        d["source"] = json!("history");
        d["from_me"] = json!(msg.from_me);
        out.push(d);
    }
    Ok(HttpResponse::Ok().json(MessagePage { messages: out, next_before }))
}

/// An identity from what the session already knows (no page call).
async fn known_identity(
    m: &Messages,
    key: &SessionKey,
    id: Option<&str>,
    push: Option<&str>,
) -> Identity {
    let mut who = Identity::from_id(id, push);
    if let Some(i) = id {
        let (k, i) = (key.clone(), i.to_owned());
        if let Ok(Some(known)) = m.store.run(move |c| super::store::identity(c, &k, &i)).await {
            who.lid = who.lid.take().or(known.lid);
            who.pn = who.pn.take().or(known.pn);
            who.push_name = who.push_name.take().or(known.push_name);
        }
    }
    who
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Contact {
    pub id: String,
    /// `…@lid`, when known.
    pub lid: Option<String>,
    /// Phone number digits, when known.
    pub pn: Option<String>,
    pub name: Option<String>,
    pub profile_picture_url: Option<String>,
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/contacts/{id}", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path, description = "…@c.us, …@lid or phone digits")),
    responses((status = 200, body = Contact), (status = 400, description = "INVALID_CONTACT_ID"), (status = 409, description = "SESSION_NOT_RUNNING")),
    security(("hmac" = [])))]
async fn get_contact(
    m: Data,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, raw) = path.into_inner();
    let key = key(&ws, &s)?;
    let id = chat_id(&raw).ok().filter(|i| !i.ends_with("@g.us")).ok_or_else(|| {
        ApiError::new(
            codes::INVALID_CONTACT_ID,
            format!("{raw:?} is not a contact id (digits@c.us, id@lid, or a phone number)"),
        )
    })?;
    m.sessions.get(&key)?;
    let who = super::identify(&m, &key, Some(&id), None).await;
    let picture = m.sessions.bridge_call(&key, wpp::profile_picture_url(&id)).await.ok();
    Ok(HttpResponse::Ok().json(Contact {
        id,
        lid: who.lid,
        pn: who.pn,
        name: who.push_name,
        profile_picture_url: picture.and_then(|v| v.as_str().map(str::to_owned)),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<Chat>,
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/groups", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = GroupList), (status = 409, description = "SESSION_NOT_RUNNING")),
    security(("hmac" = [])))]
async fn list_groups(m: Data, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let key = key(&path.0, &path.1)?;
    let v = m.sessions.bridge_call(&key, wpp::group_list()).await?;
    let groups: Vec<WireChat> = serde_json::from_value(v).map_err(internal)?;
    Ok(HttpResponse::Ok()
        .json(GroupList { groups: groups.into_iter().filter_map(WireChat::into_chat).collect() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Participant {
    pub id: Option<String>,
    pub lid: Option<String>,
    pub pn: Option<String>,
    pub push_name: Option<String>,
    pub admin: bool,
    pub super_admin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    pub id: String,
    pub subject: Option<String>,
    pub participants: Vec<Participant>,
    /// The admins' ids (as in `participants`).
    pub admins: Vec<String>,
}

#[derive(Deserialize)]
struct WireParticipant {
    id: Option<String>,
    #[serde(default)]
    is_admin: bool,
    #[serde(default)]
    is_super_admin: bool,
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/groups/{id}", tag = "receiving",
    params(("workspace" = String, Path), ("session" = String, Path), ("id" = String, Path, description = "…@g.us")),
    responses((status = 200, body = Group), (status = 400, description = "INVALID_GROUP_ID"), (status = 404, description = "GROUP_NOT_FOUND"),
              (status = 409, description = "SESSION_NOT_RUNNING")),
    security(("hmac" = [])))]
async fn get_group(
    m: Data,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, s, raw) = path.into_inner();
    let key = key(&ws, &s)?;
    let id = chat_id(&raw).ok().filter(|i| i.ends_with("@g.us")).ok_or_else(|| {
        ApiError::new(codes::INVALID_GROUP_ID, format!("{raw:?} is not a group id (…@g.us)"))
    })?;
    m.sessions.get(&key)?;
    let chat = m.sessions.bridge_call(&key, wpp::get_chat(&id)).await?;
    let chat: Option<WireChat> = serde_json::from_value(chat).map_err(internal)?;
    let chat = chat.and_then(WireChat::into_chat).ok_or_else(|| {
        ApiError::new(codes::GROUP_NOT_FOUND, format!("the account is not in a group {id:?}"))
    })?;
    let v = m.sessions.bridge_call(&key, wpp::group_participants(&id)).await?;
    let parts: Vec<WireParticipant> = serde_json::from_value(v).map_err(internal)?;
    let mut participants = Vec::with_capacity(parts.len());
    for p in parts {
        let who = known_identity(&m, &key, p.id.as_deref(), None).await;
        participants.push(Participant {
            id: who.id,
            lid: who.lid,
            pn: who.pn,
            push_name: who.push_name,
            admin: p.is_admin || p.is_super_admin,
            super_admin: p.is_super_admin,
        });
    }
    let admins = participants.iter().filter(|p| p.admin).filter_map(|p| p.id.clone()).collect();
    Ok(HttpResponse::Ok().json(Group { id: chat.id, subject: chat.name, participants, admins }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn chat_ids() {
        assert_eq!(chat_id("+15551234567").unwrap(), "15551234567@c.us");
        assert_eq!(chat_id("1203630-1@g.us").unwrap(), "1203630-1@g.us");
        assert_eq!(chat_id("99@lid").unwrap(), "99@lid");
        assert!(chat_id("x@evil.com").is_err());
        assert!(chat_id("../etc").is_err());
    }
}
