//! `[broadcast]`: the sidecar publishing QR and status events itself to a Pusher-protocol server
//! (Reverb, Pusher, sockudo) through the Pusher HTTP events API, so an admin page listening with
//! Laravel Echo sees them without the host rebroadcasting. Off by default.
//!
//! Owns: its config, the Pusher request signature, and one task that follows the event bus's live
//! channel. It is a subscriber, not an `EventSink`: it never delays a publisher or the callbacks
//! outbox, and when it falls behind it loses copies (counted), never callbacks. Browser channel
//! authorization stays with the host (Laravel's /broadcasting/auth).

mod config;
mod publisher;
pub mod pusher;

pub use config::BroadcastConfig;
pub use publisher::{spawn, Metrics};
