//! The simulator's errors, and how the control API renders them:
//! `{"error": {"code": "QR_NOT_FOUND", "message": "..."}}` with a matching status.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Something the request names does not exist (code, message).
    #[error("{1}")]
    NotFound(&'static str, &'static str),
    /// The request cannot apply in the current state (code, message).
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    /// The request is malformed.
    #[error("{0}")]
    Bad(&'static str),
    /// The request body could not be parsed.
    #[error("invalid JSON body: {0}")]
    BadJson(String),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot start the server: {0}")]
    Start(std::io::Error),
}

impl SimError {
    pub fn code(&self) -> &'static str {
        match self {
            SimError::NotFound(code, _) | SimError::Conflict(code, _) => code,
            SimError::Bad(_) | SimError::BadJson(_) => "BAD_REQUEST",
            SimError::Bind { .. } | SimError::Start(_) => "INTERNAL",
        }
    }
}

impl ResponseError for SimError {
    fn status_code(&self) -> StatusCode {
        match self {
            SimError::NotFound(..) => StatusCode::NOT_FOUND,
            SimError::Conflict(..) => StatusCode::CONFLICT,
            SimError::Bad(_) | SimError::BadJson(_) => StatusCode::BAD_REQUEST,
            SimError::Bind { .. } | SimError::Start(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}
