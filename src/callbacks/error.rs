//! Errors of the callbacks module. The API maps the client-facing ones to stable codes.

use super::config::ConfigError;
use super::deliver::ClientError;
use super::endpoint::InvalidEndpoint;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    InvalidEndpoint(#[from] InvalidEndpoint),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("outbox database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot serialize the event: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A queue bound (its configuration key) was reached; nothing was written.
    #[error("the callbacks queue{} is at its bound ({bound})", workspace.as_deref().map(|w| format!(" of workspace {w}")).unwrap_or_default())]
    QueueFull { bound: &'static str, workspace: Option<String> },
    #[error("no dead letter with id {0:?}")]
    DeadLetterNotFound(String),
    #[error("outbox database task failed: {0}")]
    Task(String),
    #[error("callbacks: {0}")]
    Setup(String),
}
