//! wa-sidecar: WhatsApp Web for a Laravel (or Node) host, over HMAC-signed REST.
//!
//! The parts follow `../shared/DESIGN.md`, one folder each:
//! - [`api`]: routes, the HMAC guard, the error envelope, OpenAPI.
//! - [`sessions`]: the registry and one actor per session.
//! - [`engine`]: what a session needs from WhatsApp, and its Chromium implementation.
//! - [`vault`]: sealed login profiles (AES-256-GCM).
//! - [`callbacks`]: the durable outbox of signed callbacks to the host.
//!
//! [`config`] loads and validates the settings, [`startup`] builds the application from them,
//! [`telemetry`] sets up logging, [`reload`] applies SIGHUP and [`cli`] is the command line. [`ids`] and [`events`] are the
//! small shared vocabulary between the parts; [`db`] opens and
//! migrates `data/sidecar.db`; [`net`] decides which addresses outbound requests may reach.

pub mod api;
pub mod broadcast;
pub mod callbacks;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod events;
pub mod ids;
pub mod messages;
pub mod net;
pub mod reload;
pub mod sessions;
pub mod startup;
pub mod telemetry;
pub mod vault;
