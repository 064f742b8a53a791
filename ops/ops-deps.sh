#!/usr/bin/env bash
# What the operations tests need beyond ops/setup.sh: the pinned pm2 (ops/pm2/install.sh) and
# Debian's nginx (for ops/deploy/blue-green.sh). Idempotent. nginx is installed without starting
# its system service: the tests run their own nginx on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/pm2/install.sh
if [ ! -x /usr/sbin/nginx ]; then
  sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
      echo "ops-deps: need root (or sudo) to run: $*" >&2; exit 1
    fi
  }
  echo "ops-deps: installing nginx-light (the service is not started)"
  sudo_if_needed apt-get update -qq
  # RUNLEVEL=1: invoke-rc.d does not start the service from the package's postinst.
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends nginx-light
fi
