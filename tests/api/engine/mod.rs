//! Engine integration tests: real Chromium, real pages served on 127.0.0.1, real process groups.
//! `cargo nextest run -p wa-sidecar --test api engine::`. The bridge test needs `ops/fetch-bridge.sh` first.

mod browser;
mod sim;
mod support;
