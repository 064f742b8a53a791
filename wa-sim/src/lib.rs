//! wa-sim: WhatsApp Web played on localhost, with the `WPP` bridge surface of
//! `@wppconnect/wa-js`, for tests, demos and host CI.
//!
//! A [`SimServer`] serves the app page (strict nonce CSP, refuses `HeadlessChrome`, registers a
//! service worker), its script (which defines `window.WPP` itself: the real wa-js bundle is
//! never injected here), a WebSocket that is the page's "connection to WhatsApp", and the
//! control API under `/_sim` that plays the phone. See docs/simulator.md.
//!
//! ```no_run
//! let sim = wa_sim::SimServer::start(wa_sim::SimConfig::fast()).unwrap();
//! println!("navigate to {}, control at {}", sim.base_url(), sim.control_url());
//! sim.stop();
//! ```

#[cfg(feature = "client")]
mod client;
mod cloud;
pub mod config;
mod control;
pub mod error;
mod page;
mod server;
pub mod world;
mod ws;

#[cfg(feature = "client")]
pub use client::{Control, ControlError};
pub use config::{PageWeight, SimConfig};
pub use error::SimError;
pub use server::SimServer;
pub use world::Target;
