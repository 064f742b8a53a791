//! The error envelope every 4xx/5xx carries:
//! `{"error": {"code": "SESSION_NOT_FOUND", "message": "…", "request_id": "…"}}`.
//!
//! Client errors carry a stable code and a message a developer can act on. Anything else becomes
//! an opaque 500 (`INTERNAL`) whose cause is logged, never sent.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::codes::{self, Code};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, SCREAMING_SNAKE_CASE; part of the API contract; one of [`codes::ALL`].
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// An error with a code of the catalogue, sent with the code's status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, code: code.name, message: message.into() }
    }

    /// The envelope for an error response actix made itself: its status kept, the code the
    /// catalogue gives that status.
    pub fn fallback(status: StatusCode, message: impl Into<String>) -> Self {
        let code = codes::for_status(status.as_u16());
        Self { status, code: code.name, message: message.into() }
    }

    /// An unexpected failure: the cause goes to the log, the client sees only `INTERNAL`.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(codes::INTERNAL, "internal error; see the sidecar log")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<crate::ids::InvalidId> for ApiError {
    fn from(e: crate::ids::InvalidId) -> Self {
        Self::new(codes::INVALID_ID, e.to_string())
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
        Self::new(codes::UNAUTHORIZED, "missing or invalid request signature")
    }

    /// 503 `SERVER_BUSY`: a shared bound is reached; the client should retry shortly.
    pub fn server_busy(message: impl Into<String>) -> Self {
        Self::new(codes::SERVER_BUSY, message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            codes::PAYLOAD_TOO_LARGE,
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
