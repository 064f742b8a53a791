//! The one integration test binary of wa-sidecar: a real server on port 0, a real HTTP client,
//! and the built binary for the command line.

mod auth;
mod binary;
mod errors;
mod health;
mod helpers;
mod ip_allow;
mod operations;
mod ops;
mod security;
mod sessions;
mod startup;
mod vectors;
mod workspaces;

// The callbacks suite's receiver and spec-written verifier, shared rather than written twice.
#[path = "../callbacks/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "../callbacks/verify.rs"]
#[allow(dead_code)]
mod verify;
