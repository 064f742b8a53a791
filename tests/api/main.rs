//! The one integration test binary of wa-sidecar: a real server on port 0, a real HTTP client.

mod auth;
mod errors;
mod helpers;
mod workspaces;
