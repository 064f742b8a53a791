//! `/v1/callbacks/*`: dead letters, redelivery, endpoint re-enabling, stats, and a test event.
//! Thin handlers over [`Outbox`]; its blocking SQLite calls run on actix's blocking pool.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::dead::{DeadFilter, DeadLetter, DeadPage};
use super::outbox::{Enqueued, Outbox, Stats, CALLBACK_TEST};
use super::store::{AttemptRecord, Counts, DisabledEndpoint};
use super::{endpoint, OutboxError};
use crate::api::{codes, ApiError, Json};
use crate::ids::{SessionId, SessionKey, WorkspaceId};

/// The routes, relative to the signed `/v1` scope: `cfg.configure(callbacks::api::configure)`
/// inside it serves `/v1/callbacks/...`. The outbox must be in app data as `web::Data<Outbox>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `resource(..).route(..)` so a wrong method is a 405, not a 404.
    cfg.service(
        web::scope("/callbacks")
            .service(web::resource("/dead").route(web::get().to(list_dead)))
            .service(web::resource("/dead/{id}/redeliver").route(web::post().to(redeliver)))
            .service(web::resource("/endpoints/enable").route(web::post().to(enable_endpoints)))
            .service(web::resource("/stats").route(web::get().to(stats)))
            .service(web::resource("/test").route(web::post().to(send_test))),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(list_dead, redeliver, enable_endpoints, stats, send_test),
    components(schemas(DeadPage, DeadLetter, AttemptRecord, Stats, Counts, DisabledEndpoint, Enqueued, TestIn, EnableIn, Redelivered, Enabled)),
    tags((name = "callbacks", description = "The signed, durable callbacks to the host: dead letters, endpoints, stats, a test event"))
)]
pub struct ApiDoc;

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::InvalidEndpoint(e) => {
                ApiError::new(codes::INVALID_CALLBACK_URL, e.to_string())
            }
            OutboxError::DeadLetterNotFound(id) => ApiError::new(
                codes::DEAD_LETTER_NOT_FOUND,
                format!("no dead letter with id {id:?}"),
            ),
            e @ OutboxError::QueueFull { .. } => {
                ApiError::new(codes::CALLBACK_QUEUE_FULL, e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// Run a blocking outbox call on the blocking pool.
async fn blocking<T, F>(outbox: &web::Data<Outbox>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
{
    let outbox = outbox.clone();
    web::block(move || f(&outbox)).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
    /// Only this workspace.
    workspace: Option<String>,
    /// Only this session id.
    session: Option<String>,
    /// Only this event type, e.g. `session.qr`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// 1-500, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl DeadQuery {
    fn into_filter(self) -> Result<DeadFilter, ApiError> {
        let workspace =
            self.workspace.map(|w| WorkspaceId::parse(&w).map(|w| w.to_string())).transpose()?;
        let session =
            self.session.map(|s| SessionId::parse(&s).map(|s| s.to_string())).transpose()?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::new(codes::INVALID_LIMIT, "limit must be between 1 and 500"));
        }
        let before = match self.cursor {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::new(
                    codes::INVALID_CURSOR,
                    "cursor must be a next_cursor value from a previous page",
                )
            })?),
        };
        Ok(DeadFilter { workspace, session, kind: self.kind, before, limit })
    }
}

#[utoipa::path(get, path = "/v1/callbacks/dead", tag = "callbacks", params(DeadQuery),
    responses((status = 200, body = DeadPage), (status = 400, description = "INVALID_ID, INVALID_LIMIT, INVALID_CURSOR")), security(("hmac" = [])))]
async fn list_dead(
    outbox: web::Data<Outbox>,
    query: web::Query<DeadQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_inner().into_filter()?;
    let mut page = blocking(&outbox, move |o| o.dead_letters(&filter)).await?;
    for attempt in page.items.iter_mut().flat_map(|d| d.attempts.iter_mut()) {
        attempt.url = endpoint::redacted(&attempt.url);
    }
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /v1/callbacks/dead/{id}/redeliver`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Redelivered {
    id: String,
    /// Always `queued`.
    status: String,
}

#[utoipa::path(post, path = "/v1/callbacks/dead/{id}/redeliver", tag = "callbacks", params(("id" = String, Path, description = "The event id (webhook-id)")),
    responses((status = 202, body = Redelivered, description = "Queued again at the end of its session's queue, same id"), (status = 404, description = "DEAD_LETTER_NOT_FOUND"), (status = 503, description = "CALLBACK_QUEUE_FULL: its workspace's queue is at a bound; it stays a dead letter")), security(("hmac" = [])))]
async fn redeliver(
    outbox: web::Data<Outbox>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let echoed = id.clone();
    blocking(&outbox, move |o| o.redeliver(&id)).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": echoed, "status": "queued" })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableIn {
    /// The endpoint to enable; omitted: every disabled endpoint.
    url: Option<String>,
}

/// `POST /v1/callbacks/endpoints/enable`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Enabled {
    /// The endpoints enabled by this call (empty when none was disabled).
    enabled: Vec<String>,
}

/// Body `{"url": "…"}`, or `{}` / no body for every disabled endpoint. Parsed by hand so a
/// malformed body is a 400, never silently "enable all".
#[utoipa::path(post, path = "/v1/callbacks/endpoints/enable", tag = "callbacks", request_body(content = EnableIn, description = "Omit or {} to enable every endpoint disabled by 410"),
    responses((status = 200, body = Enabled), (status = 400, description = "INVALID_JSON, INVALID_CALLBACK_URL")), security(("hmac" = [])))]
async fn enable_endpoints(
    outbox: web::Data<Outbox>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: EnableIn = if body.iter().all(u8::is_ascii_whitespace) {
        EnableIn::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(codes::INVALID_JSON, e.to_string()))?
    };
    let url = match request.url {
        Some(raw) => Some(endpoint::parse(&raw).map_err(OutboxError::from)?.to_string()),
        None => None,
    };
    let enabled = blocking(&outbox, move |o| o.enable_endpoints(url.as_deref())).await?;
    let enabled: Vec<String> = enabled.iter().map(|u| endpoint::redacted(u)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "enabled": enabled })))
}

#[utoipa::path(get, path = "/v1/callbacks/stats", tag = "callbacks", responses((status = 200, body = Stats)), security(("hmac" = [])))]
async fn stats(outbox: web::Data<Outbox>) -> Result<HttpResponse, ApiError> {
    let mut stats = blocking(&outbox, |o| o.stats()).await?;
    // Webhook URLs often carry a token (`?token=…`): responses show them as logs do.
    for disabled in &mut stats.disabled_endpoints {
        disabled.url = endpoint::redacted(&disabled.url);
    }
    stats.default_endpoint = stats.default_endpoint.as_deref().map(endpoint::redacted);
    Ok(HttpResponse::Ok().json(stats))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    #[schema(example = "acme")]
    workspace: String,
    #[schema(example = "main")]
    session: String,
    /// Sent as the event's `data` (a JSON object, like every event's); defaults to a short note.
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Enqueue a `callback.test` event, signed and delivered like any other; answers 202 with its id.
#[utoipa::path(post, path = "/v1/callbacks/test", tag = "callbacks", request_body = TestIn,
    responses((status = 202, body = Enqueued, description = "Committed to the outbox; delivered to the session's endpoint"), (status = 400, description = "INVALID_ID, INVALID_JSON, INVALID_FIELD"), (status = 503, description = "CALLBACK_QUEUE_FULL: the workspace's queue is at a bound; nothing was queued")), security(("hmac" = [])))]
async fn send_test(
    outbox: web::Data<Outbox>,
    body: Json<TestIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key =
        SessionKey::new(WorkspaceId::parse(&body.workspace)?, SessionId::parse(&body.session)?);
    let data = body
        .data
        .map(serde_json::Value::Object)
        .unwrap_or_else(|| serde_json::json!({ "message": "test callback from wa-sidecar" }));
    let at = std::time::SystemTime::now();
    let queued = blocking(&outbox, move |o| o.enqueue(CALLBACK_TEST, &key, &data, at)).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(queued))
}
