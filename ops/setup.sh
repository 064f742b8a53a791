#!/usr/bin/env bash
# Installs what the sidecar and its tests need on a fresh Debian 12 machine. Idempotent: a
# second run installs nothing. Debian's chromium is the browser; nothing downloads a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
# A rustup-installed toolchain lives in ~/.cargo/bin.
export PATH="$HOME/.cargo/bin:$PATH"

MIN_RUST="1.85"

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

need_apt=()
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v curl >/dev/null || need_apt+=(curl)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
command -v git >/dev/null || need_apt+=(git)
# ops/schemathesis.sh: a virtualenv for the pinned schemathesis, `unshare` and `ip` for its
# loopback-only network namespace.
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v ip >/dev/null || need_apt+=(iproute2)
# The engine's bridge script fetches wa-js with npm.
if [ -e ops/fetch-bridge.sh ] && ! command -v npm >/dev/null; then need_apt+=(nodejs npm); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# Rust: Debian 12's rustc is too old (we need $MIN_RUST), so use rustup's stable toolchain.
version_ok() { [ "$(printf '%s\n%s\n' "$MIN_RUST" "$1" | sort -V | head -n1)" = "$MIN_RUST" ]; }
rust_version() { rustc --version 2>/dev/null | awk '{print $2}'; }
if ! command -v cargo >/dev/null || ! version_ok "$(rust_version)"; then
  if command -v rustup >/dev/null; then
    rustup toolchain install stable --profile minimal
    rustup default stable
  else
    echo "setup: installing Rust (rustup, stable, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable
  fi
fi

if [ -x ops/fetch-bridge.sh ]; then
  ops/fetch-bridge.sh
fi
echo "setup: ready ($(rustc --version), chromium $(/usr/lib/chromium/chromium --version 2>/dev/null | awk '{print $2}'))"
