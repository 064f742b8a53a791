//! Callbacks to the host: the durable outbox, signing, ordered delivery with retries, dead letters.
//!
//! Owns the `callback_*` tables of `data/sidecar.db`, the outbound HTTP client and the
//! `/v1/callbacks/*` routes. It never touches sessions: events arrive through
//! [`crate::events::EventSink`] (implemented by [`Outbox`]), and the sessions work tells it a
//! session's own endpoint with [`Outbox::set_session_endpoint`].
//!
//! - [`outbox`]: the handle; commits events before returning, QR supersession, API queries.
//! - [`worker`]: the dispatcher; one event per session in flight, a bounded pool of attempts.
//! - [`deliver`] + [`sign`]: one signed POST (Standard Webhooks, optionally spatie's header).
//! - [`policy`]: what a status means and how long to wait; [`store`], [`dead`]: the SQL.
//! - [`settle`]: finished attempts recorded, and the next heads claimed, in one transaction.
//! - [`retention`]: dead letters pruned by age and bounded per workspace.

pub mod api;
pub mod bench;
pub mod claims;
pub mod config;
pub mod dead;
pub mod deliver;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod retention;
pub mod session_secrets;
pub mod settle;
pub mod sign;
pub mod store;
mod worker;

pub use config::CallbacksConfig;
pub use error::OutboxError;
pub use outbox::{Enqueued, Outbox, Stats, CALLBACK_TEST};
