#!/usr/bin/env bash
# Sets up what the sidecar needs, builds it, and runs it in the foreground. Arguments go to
# `wa-sidecar serve`, e.g. `ops/run.sh --config /etc/wa-sidecar.toml`.
# `ops/run.sh --demo [--auto-scan]` runs `wa-sidecar demo` instead: the whole flow against the
# embedded WhatsApp simulator, no account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/setup.sh
# A rustup-installed toolchain lives in ~/.cargo/bin.
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin wa-sidecar
bin="${CARGO_TARGET_DIR:-target}/release/wa-sidecar"
if [ "${1:-}" = "--demo" ]; then
  shift
  exec "$bin" demo "$@"
fi
exec "$bin" serve "$@"
