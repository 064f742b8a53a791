#!/usr/bin/env bash
# Installs what the sidecar and its tests need on a fresh Debian 12 machine. Idempotent.
# Debian's chromium is the browser; nothing downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
if [ -x ops/fetch-bridge.sh ]; then
  ops/fetch-bridge.sh
fi
