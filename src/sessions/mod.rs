//! The session registry and one actor task per session that owns its engine and its state.

pub mod config;
pub mod profile;
pub use config::SessionsConfig;
