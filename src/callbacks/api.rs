//! `/v1/callbacks/*`: dead letters, redelivery, endpoint re-enabling, stats, and a test event.
//! Thin handlers over [`Outbox`]; its blocking SQLite calls run on actix's blocking pool.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::dead::DeadFilter;
use super::outbox::{CALLBACK_TEST, Outbox};
use super::{OutboxError, endpoint};
use crate::api::ApiError;
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

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::InvalidEndpoint(e) => ApiError::bad_request("INVALID_CALLBACK_URL", e.to_string()),
            OutboxError::DeadLetterNotFound(id) => {
                ApiError::not_found("DEAD_LETTER_NOT_FOUND", format!("no dead letter with id {id:?}"))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
    workspace: Option<String>,
    session: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl DeadQuery {
    fn into_filter(self) -> Result<DeadFilter, ApiError> {
        let workspace = self.workspace.map(|w| WorkspaceId::parse(&w).map(|w| w.to_string())).transpose()?;
        let session = self.session.map(|s| SessionId::parse(&s).map(|s| s.to_string())).transpose()?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request("INVALID_LIMIT", "limit must be between 1 and 500"));
        }
        let before = match self.cursor {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("INVALID_CURSOR", "cursor must be a next_cursor value from a previous page")
            })?),
        };
        Ok(DeadFilter { workspace, session, kind: self.kind, before, limit })
    }
}

async fn list_dead(outbox: web::Data<Outbox>, query: web::Query<DeadQuery>) -> Result<HttpResponse, ApiError> {
    let filter = query.into_inner().into_filter()?;
    let page = blocking(&outbox, move |o| o.dead_letters(&filter)).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn redeliver(outbox: web::Data<Outbox>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let echoed = id.clone();
    blocking(&outbox, move |o| o.redeliver(&id)).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": echoed, "status": "queued" })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableIn {
    /// The endpoint to enable; omitted: every disabled endpoint.
    url: Option<String>,
}

/// Body `{"url": "…"}`, or `{}` / no body for every disabled endpoint. Parsed by hand so a
/// malformed body is a 400, never silently "enable all".
async fn enable_endpoints(outbox: web::Data<Outbox>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request: EnableIn = if body.iter().all(u8::is_ascii_whitespace) {
        EnableIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("INVALID_JSON", e.to_string()))?
    };
    let url = match request.url {
        Some(raw) => Some(endpoint::parse(&raw).map_err(OutboxError::from)?.to_string()),
        None => None,
    };
    let enabled = blocking(&outbox, move |o| o.enable_endpoints(url.as_deref())).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "enabled": enabled })))
}

async fn stats(outbox: web::Data<Outbox>) -> Result<HttpResponse, ApiError> {
    let stats = blocking(&outbox, |o| o.stats()).await?;
    Ok(HttpResponse::Ok().json(stats))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    workspace: String,
    session: String,
    /// Sent as the event's `data`; defaults to a short note.
    data: Option<serde_json::Value>,
}

/// Enqueue a `callback.test` event, signed and delivered like any other; answers 202 with its id.
async fn send_test(outbox: web::Data<Outbox>, body: web::Json<TestIn>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key = SessionKey::new(WorkspaceId::parse(&body.workspace)?, SessionId::parse(&body.session)?);
    let data = body.data.unwrap_or_else(|| serde_json::json!({ "message": "test callback from wa-sidecar" }));
    let at = std::time::SystemTime::now();
    let queued = blocking(&outbox, move |o| o.enqueue(CALLBACK_TEST, &key, &data, at)).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(queued))
}

