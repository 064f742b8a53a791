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
    #[error("no dead letter with id {0:?}")]
    DeadLetterNotFound(String),
    #[error("outbox database task failed: {0}")]
    Task(String),
    #[error("callbacks: {0}")]
    Setup(String),
}
