#!/usr/bin/env bash
# Sets up what the sidecar needs, builds it, and runs it in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/setup.sh
cargo build --release --bin wa-sidecar
exec target/release/wa-sidecar serve "$@"
