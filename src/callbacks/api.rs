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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/callbacks")
            .route("/dead", web::get().to(list_dead))
            .route("/dead/{id}/redeliver", web::post().to(redeliver))
            .route("/endpoints/enable", web::post().to(enable_endpoints))
            .route("/stats", web::get().to(stats))
            .route("/test", web::post().to(send_test)),
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

async fn enable_endpoints(outbox: web::Data<Outbox>, body: Option<web::Json<EnableIn>>) -> Result<HttpResponse, ApiError> {
    let url = match body.and_then(|b| b.into_inner().url) {
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
