// wa-sidecar under pm2 (docs/operations.md). From the repository, after ops/pm2/install.sh:
//
//   ops/pm2/node_modules/.bin/pm2 start ops/pm2/ecosystem.config.js
//   pm2 reload wa-sidecar     # graceful restart: sessions come back connected, no QR
//   pm2 stop wa-sidecar       # SIGTERM: HTTP drains, every browser closes, every login is sealed
//
// Settings (environment, read when pm2 reads this file):
//   WA_SIDECAR_BIN      the binary (default: target/release/wa-sidecar of this repository)
//   WA_SIDECAR_DIR      its working directory; relative data paths resolve there (default: the repository)
//   WA_SIDECAR_CONFIG   a TOML file passed as --config (optional)
//   WA_SIDECAR_LOG_DIR  where the two log files go (default: $WA_SIDECAR_DIR/logs)
//   WA_SIDECAR_PM2_NAME the pm2 app name (default: wa-sidecar)
'use strict';

const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const env = process.env;
const cwd = env.WA_SIDECAR_DIR || root;
const logDir = env.WA_SIDECAR_LOG_DIR || path.join(cwd, 'logs');
const args = ['serve'];
if (env.WA_SIDECAR_CONFIG) {
  args.push('--config', env.WA_SIDECAR_CONFIG);
}

module.exports = {
  apps: [
    {
      name: env.WA_SIDECAR_PM2_NAME || 'wa-sidecar',
      script: env.WA_SIDECAR_BIN || path.join(root, 'target', 'release', 'wa-sidecar'),
      args,
      cwd,
      // A native binary, not a Node script.
      interpreter: 'none',
      // One process owns a sessions folder (each session's flock): never cluster mode, never
      // more than one instance on the same data.
      exec_mode: 'fork',
      instances: 1,
      // Stop and reload: SIGTERM to the sidecar only. It closes its browsers and seals every
      // login itself; pm2's default tree kill would signal Chromium at the same moment.
      kill_signal: 'SIGTERM',
      treekill: false,
      // Longer than the sidecar's own worst case: HTTP drain (server.shutdown_timeout_secs, 30 s)
      // + closing sessions (sessions.shutdown_timeout_ms, 30 s) + callbacks in flight
      // (callbacks.shutdown_timeout, 5 s). Only past it does pm2 send SIGKILL.
      kill_timeout: 90000,
      // Crash restarts: 1 s, doubling up to pm2's 15 s cap, reset once it has run 30 s.
      autorestart: true,
      exp_backoff_restart_delay: 1000,
      // Ten exits in a row, each within 20 s of its start, and pm2 leaves it `errored`.
      min_uptime: '20s',
      max_restarts: 10,
      // The sidecar's log is its stdout (JSON in production, with its own timestamps).
      out_file: path.join(logDir, 'wa-sidecar.out.log'),
      error_file: path.join(logDir, 'wa-sidecar.err.log'),
      merge_logs: true,
      // pm2 must not restart it on file changes or memory: browsers are its memory.
      watch: false,
    },
  ],
};
