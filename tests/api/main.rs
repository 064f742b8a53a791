//! The one integration test binary of wa-sidecar: a real server on port 0, a real HTTP client,
//! and the built binary for the command line.

mod auth;
mod binary;
mod errors;
mod health;
mod helpers;
mod ip_allow;
mod operations;
mod sessions;
mod startup;
mod workspaces;
