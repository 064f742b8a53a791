//! Sessions: the registry ([`SessionManager`]) and one actor task per session that owns its engine
//! and its state machine ([`state`]). Also what a session keeps on disk: its record
//! (`session.toml`), its ownership ([`ownership`]: today its lock), and (through a [`profile::ProfileStore`]) its login profile.
//!
//! Never touches: Chromium directly (that is `crate::engine`), profile paths (the profile store),
//! callback delivery (sessions publish on the `crate::events::EventBus`).

mod actor;
pub mod api;
pub mod config;
mod error;
pub mod handover;
pub mod lock;
pub mod ownership;
pub mod plain_profile;
pub mod profile;
pub mod qr;
pub mod record;
mod registry;
pub mod snapshot;
pub mod state;

pub use actor::PageObserver;
pub use config::SessionsConfig;
pub use error::SessionError;
pub use registry::{EngineFactory, NewSession, SessionManager, SessionObserver};
pub use snapshot::Snapshot;
pub use state::State;
