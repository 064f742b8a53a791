//! Errors of the sessions part, and their stable API codes.

use super::lock::LockError;
use super::profile::ProfileError;
use super::record::RecordError;
use crate::api::{codes, ApiError};
use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session not found")]
    NotFound,
    #[error("a session with this id already exists in the workspace")]
    Exists,
    #[error("this sidecar already runs its maximum of {0} sessions")]
    LimitReached(usize),
    #[error("this workspace already has its maximum of {0} sessions (sessions.max_per_workspace)")]
    WorkspaceLimitReached(usize),
    #[error("the session is {0}; a QR or pairing code is only available while it waits for a login (qr_required or pairing)")]
    NotAwaitingLogin(&'static str),
    #[error("the session is {0}; start it first")]
    NotRunning(&'static str),
    #[error("no QR right now: the session is {0}")]
    NoQr(&'static str),
    #[error("{0}")]
    InvalidInput(String),
    #[error("the session did not answer within {0} ms")]
    Timeout(u64),
    #[error("the session is shutting down")]
    Gone,
    /// Its actor panicked while handling the call; it is being rebuilt (see the registry).
    #[error("the session failed while handling the request")]
    Crashed,
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("setting up the session: {0}")]
    Setup(String),
    #[error("session files: {0}")]
    Io(#[from] std::io::Error),
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        use SessionError as S;
        let msg = e.to_string();
        match e {
            S::NotFound => ApiError::new(codes::SESSION_NOT_FOUND, msg),
            S::Exists => ApiError::new(codes::SESSION_EXISTS, msg),
            S::LimitReached(_) => ApiError::new(codes::SESSION_LIMIT_REACHED, msg),
            S::WorkspaceLimitReached(_) => {
                ApiError::new(codes::WORKSPACE_SESSION_LIMIT_REACHED, msg)
            }
            S::NotAwaitingLogin(_) => ApiError::new(codes::SESSION_NOT_AWAITING_LOGIN, msg),
            S::NotRunning(_) => ApiError::new(codes::SESSION_NOT_RUNNING, msg),
            S::NoQr(_) => ApiError::new(codes::QR_NOT_AVAILABLE, msg),
            S::InvalidInput(_) => ApiError::new(codes::INVALID_REQUEST, msg),
            S::Lock(LockError::Held(_)) => ApiError::new(codes::SESSION_LOCKED, msg),
            S::Timeout(_) => ApiError::new(codes::SESSION_TIMEOUT, msg),
            S::Gone => ApiError::new(codes::SHUTTING_DOWN, msg),
            S::Engine(EngineError::Bridge { code, message, .. }) => ApiError::new(
                codes::WHATSAPP_ERROR,
                format!(
                    "WhatsApp refused: {message}{}",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            ),
            S::Engine(EngineError::Timeout { .. }) => ApiError::new(codes::ENGINE_TIMEOUT, msg),
            other => ApiError::internal(other),
        }
    }
}
