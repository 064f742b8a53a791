//! The one integration test binary of wa-sidecar: a real server on port 0, a real HTTP client,
//! the built binary for the command line, real Chromium for the engine, a real receiver for the
//! callbacks. `cargo nextest run -p wa-sidecar --test api <module>::` runs one part.

mod auth;
mod binary;
mod errors;
mod health;
mod helpers;
mod ip_allow;
mod messages;
mod operations;
mod ops;
mod procs;
mod security;
mod sessions;
mod startup;
mod vectors;
mod workspaces;

mod callbacks;
mod engine;

// The callbacks suite's receiver and spec-written verifier, used by the session tests too.
use callbacks::{receiver, verify};
