//! Engine integration tests: real Chromium, real pages served on 127.0.0.1, real process groups.
//! `cargo test -p wa-sidecar --test engine`. The bridge test needs `ops/fetch-bridge.sh` first.

mod browser;
mod sim;
mod support;
