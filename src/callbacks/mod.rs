//! Callbacks to the host: the durable outbox, signing, ordered delivery with retries, dead letters.

pub mod config;
pub use config::CallbacksConfig;
