//! Sealed login profiles: AES-256-GCM at rest, unsealed only into a private runtime directory.

pub mod config;
pub use config::VaultConfig;
