#!/usr/bin/env bash
# Sets up what the sidecar needs, builds it, and runs it in the foreground. Arguments go to
# `wa-sidecar serve`, e.g. `ops/run.sh --config /etc/wa-sidecar.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/setup.sh
# A rustup-installed toolchain lives in ~/.cargo/bin.
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin wa-sidecar
exec "${CARGO_TARGET_DIR:-target}/release/wa-sidecar" serve "$@"
