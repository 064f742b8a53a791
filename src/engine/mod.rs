//! What a session needs from a WhatsApp provider (the `Engine` trait) and its Chromium implementation.

pub mod config;
pub use config::EngineConfig;
