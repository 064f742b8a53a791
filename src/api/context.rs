//! The outermost middleware: gives every request an id (echoed from `X-Request-Id` or generated),
//! runs it inside a tracing span and a task-local holding that id (so [`ApiError`] can put it in
//! the envelope), and turns any error response that is not yet an envelope — actix's own 404/405,
//! an extractor's 400, a middleware's error — into one. Every response gets `X-Request-Id`.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use super::error::{ApiError, EnvelopeRendered};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served; also in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, when called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A caller's id is kept only if it is short and plain, so it cannot forge log lines.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ((1..=128).contains(&value.len()) && plain).then(|| value.to_owned())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let quiet = req.path().starts_with("/health/") || req.path() == "/metrics";
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    // Never clone the request here: routing needs it unshared.
    let served =
        async move { next.call(req).await.map(|r| ensure_envelope(r.map_into_boxed_body())) };
    let mut response = match REQUEST_ID.scope(id.clone(), served.instrument(span.clone())).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(parent: &span, status = error.as_response_error().status_code().as_u16(), "refused");
            return Err(WithRequestId { error, id }.into());
        }
    };
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if quiet && status < 400 {
        tracing::debug!(parent: &span, status, elapsed_ms, "served");
    } else {
        tracing::info!(parent: &span, status, elapsed_ms, "served");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// An error that escaped as `Err` (no response to rewrite): rendered as the envelope with the
/// request id when actix turns it into a response.
#[derive(Debug)]
struct WithRequestId {
    error: Error,
    id: String,
}

impl std::fmt::Display for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl actix_web::ResponseError for WithRequestId {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        REQUEST_ID.sync_scope(self.id.clone(), || {
            let mut response = self.error.error_response();
            if !response.extensions().contains::<EnvelopeRendered>() {
                let status = response.status();
                let message = if status.is_server_error() {
                    "internal error; see the sidecar log".to_owned()
                } else {
                    self.error.to_string()
                };
                response = ApiError::fallback(status, message).render();
            }
            if let Ok(value) = HeaderValue::from_str(&self.id) {
                response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            response
        })
    }
}

/// Replaces a bare error response by the envelope, keeping its status. Runs inside the request's
/// task-local scope so the envelope gets the request id.
fn ensure_envelope(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if status.as_u16() < 400 || response.response().extensions().contains::<EnvelopeRendered>() {
        return response;
    }
    let message = describe(&response, status);
    let error = ApiError::fallback(status, message);
    let mut rendered = error.render();
    // Keep what a client needs from the original, e.g. `Allow` on a 405.
    if let Some(allow) = response.headers().get(actix_web::http::header::ALLOW) {
        rendered.headers_mut().insert(actix_web::http::header::ALLOW, allow.clone());
    }
    response.into_response(rendered)
}

fn describe(response: &ServiceResponse<BoxBody>, status: StatusCode) -> String {
    let req = response.request();
    let cause = response.response().error().map(ToString::to_string);
    match status {
        StatusCode::NOT_FOUND => format!("no route for {} {}", req.method(), req.path()),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("method {} is not allowed on {}", req.method(), req.path())
        }
        s if s.is_server_error() => {
            tracing::error!(
                status = s.as_u16(),
                cause = cause.as_deref().unwrap_or("none"),
                "server error"
            );
            "internal error; see the sidecar log".into()
        }
        s => cause.unwrap_or_else(|| s.canonical_reason().unwrap_or("request refused").to_owned()),
    }
}
