#!/usr/bin/env bash
# Sets up what the tests need, then runs every test of the workspace. Extra arguments go to the
# test runner (e.g. `ops/test.sh -p wa-sidecar`).
set -euo pipefail
cd "$(dirname "$0")/.."
ops/setup.sh
# A rustup-installed toolchain lives in ~/.cargo/bin.
export PATH="$HOME/.cargo/bin:$PATH"
# No Docker engine here: check what can be checked of the Dockerfile.
ops/check-dockerfile.sh
ops/ops-deps.sh  # pinned pm2 and Debian nginx for the tests under tests/api/ops
# The code stays tidy: formatted, and no clippy warning in any target.
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast "$@"
fi
# The API contract: schemathesis, signed, with every check, against the built sidecar and the
# document it serves (pinned version in a cached virtualenv; a private network namespace).
ops/schemathesis.sh
ops/test-php.sh
