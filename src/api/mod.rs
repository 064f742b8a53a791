//! HTTP surface: routes, the HMAC guard, the error envelope, health, metrics and OpenAPI.
//! Handlers are thin: parse into typed ids, call a session or the outbox, render.

pub mod error;

pub use error::ApiError;
