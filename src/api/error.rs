//! The error envelope every 4xx/5xx carries:
//! `{"error": {"code": "SESSION_NOT_FOUND", "message": "…", "request_id": "…"}}`.
//!
//! Client errors carry a stable code and a message a developer can act on. Anything else becomes
//! an opaque 500 (`INTERNAL`) whose cause is logged, never sent.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, SCREAMING_SNAKE_CASE; part of the API contract.
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// An unexpected failure: the cause goes to the log, the client sees only `INTERNAL`.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; see the sidecar log",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<crate::ids::InvalidId> for ApiError {
    fn from(e: crate::ids::InvalidId) -> Self {
        Self::bad_request("INVALID_ID", e.to_string())
    }
}

#[derive(Serialize)]
pub struct Envelope<'a> {
    pub error: EnvelopeBody<'a>,
}

#[derive(Serialize)]
pub struct EnvelopeBody<'a> {
    pub code: &'a str,
    pub message: &'a str,
    /// Set by the request-context middleware; `None` only outside a request.
    pub request_id: Option<&'a str>,
}

/// Marks a response whose body already is the envelope, so the fallback in
/// [`super::context`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeRendered;

impl ApiError {
    /// The envelope as a response, with the current request's id.
    pub fn render(&self) -> HttpResponse {
        let request_id = super::context::current_request_id();
        let body = Envelope {
            error: EnvelopeBody {
                code: self.code,
                message: &self.message,
                request_id: request_id.as_deref(),
            },
        };
        let mut response = HttpResponse::build(self.status).json(body);
        response.extensions_mut().insert(EnvelopeRendered);
        response
    }

    /// Ends a middleware early with this error as the response (inside the request's scope, so
    /// the envelope carries the request id and metrics see the route).
    pub fn respond<B>(
        &self,
        req: actix_web::dev::ServiceRequest,
    ) -> actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>> {
        req.into_response(self.render()).map_into_right_body()
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "missing or invalid request signature")
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 503 `SERVER_BUSY`: a shared bound is reached; the client should retry shortly.
    pub fn server_busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVER_BUSY", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than server.max_body_bytes ({limit} bytes)"),
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.render()
    }
}
