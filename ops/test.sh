#!/usr/bin/env bash
# Sets up what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/setup.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
