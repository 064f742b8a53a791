//! HTTP surface: routes, the HMAC guard, the error envelope, health, metrics and OpenAPI.
//! Handlers are thin: parse into typed ids, call a session or the outbox, render.
//!
//! Request path, outermost first: [`context`] (request id, span, envelope for every error) →
//! [`ip_allow`] → [`metrics`] → routes; the `/v1` scope adds [`auth`]'s signature guard.
//! Add authenticated routes in [`routes::v1`].

pub mod auth;
pub mod codes;
pub mod context;
pub mod error;
pub mod health;
pub mod ip_allow;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod workspaces;

pub use auth::Caller;
pub use codes::Code;
pub use error::ApiError;
pub use json::Json;
