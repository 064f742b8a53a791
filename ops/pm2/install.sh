#!/usr/bin/env bash
# Installs the pinned pm2 (ops/pm2/package-lock.json) into ops/pm2/node_modules. Idempotent: with
# the same lock file installed already it does nothing. Needs Node and npm (ops/setup.sh installs
# them). Used by ops/test.sh (the pm2 tests) and by anyone running wa-sidecar under pm2 from here.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.installed-lock
if [ -x node_modules/.bin/pm2 ] && [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
command -v npm >/dev/null || { echo "pm2 install: npm is missing (apt-get install nodejs npm)" >&2; exit 1; }
# --ignore-scripts: pm2 needs no install script; nothing runs at install time.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
cp package-lock.json "$stamp"
echo "pm2 $(node -p "require('./node_modules/pm2/package.json').version") installed in ops/pm2/node_modules"
