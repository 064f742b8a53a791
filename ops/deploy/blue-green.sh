#!/usr/bin/env bash
# Blue-green deploys of wa-sidecar on one machine, behind nginx, with no QR rescan.
#
#   blue-green.sh start  BIN      run BIN as the live color and point nginx at it
#   blue-green.sh deploy NEW_BIN  start NEW_BIN as the other color on the same sessions folder,
#                                 move every session to it (wa-sidecar handover), switch nginx,
#                                 stop the old color; if the new one is not ready, stop it and
#                                 leave everything as it was (exit 1)
#   blue-green.sh stop | status
#
# Each color is supervised by ops/wa-sidecarctl (its state in $WA_DEPLOY_DIR/{blue,green}) and
# has its own port and its own live-profile folder ($WA_DEPLOY_DIR/{color}/runtime). Both share
# the configuration (which must not set server.bind or server.data_dir), its keys (set
# vault.master_keys and an HMAC key with workspaces = ["*"]), sessions_dir and one data folder
# ($WA_DEPLOY_DATA_DIR, default $WA_DEPLOY_DIR/data): one SQLite database, so the message index,
# the send queue, idempotency keys, receiving watermarks and the callback outbox follow each
# session to the new color. Each process delivers only the callbacks it claimed, and frees the
# claims of a color that stopped or was killed; a send queue is worked by the session's owner.
# A new build's database migrations must be additive: they run while the old color still runs.
#
# nginx: this script writes $WA_DEPLOY_UPSTREAM (an `upstream wa_sidecar { … }` block for your
# nginx config to include) and runs $WA_DEPLOY_NGINX_RELOAD. During a deploy both colors are in
# it, the new one as `backup`, so a request for a session that already moved (404 on the old
# color) is answered by the new one (`proxy_next_upstream http_404`; see docs/operations.md).
#
# Settings (environment): WA_SIDECAR_CONFIG (required), WA_DEPLOY_DIR (./deploy),
# WA_DEPLOY_PORTS ("8781 8782": blue green), WA_DEPLOY_UPSTREAM ($WA_DEPLOY_DIR/upstream.conf),
# WA_DEPLOY_NGINX_RELOAD ("nginx -s reload"), WA_DEPLOY_READY_TIMEOUT (60 s),
# WA_DEPLOY_DATA_DIR ($WA_DEPLOY_DIR/data).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctl="$here/../wa-sidecarctl"
: "${WA_SIDECAR_CONFIG:?set WA_SIDECAR_CONFIG to the sidecar configuration file}"
DIR="${WA_DEPLOY_DIR:-$PWD/deploy}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
DATA_DIR="${WA_DEPLOY_DATA_DIR:-$DIR/data}"
if grep -Eq '^[[:space:]]*(bind|data_dir)[[:space:]]*=' "$WA_SIDECAR_CONFIG"; then
  echo "blue-green: $WA_SIDECAR_CONFIG sets server.bind or server.data_dir: leave them out, this script sets them per color (a --config file overrides the environment)" >&2
  exit 1
fi
read -r BLUE_PORT GREEN_PORT <<<"${WA_DEPLOY_PORTS:-8781 8782}"
UPSTREAM="${WA_DEPLOY_UPSTREAM:-$DIR/upstream.conf}"
RELOAD="${WA_DEPLOY_NGINX_RELOAD:-nginx -s reload}"
READY_TIMEOUT="${WA_DEPLOY_READY_TIMEOUT:-60}"

say() { printf 'blue-green: %s\n' "$*"; }
die() { printf 'blue-green: %s\n' "$*" >&2; exit 1; }
port_of() { if [ "$1" = blue ]; then echo "$BLUE_PORT"; else echo "$GREEN_PORT"; fi; }
other() { if [ "$1" = blue ]; then echo green; else echo blue; fi; }
live() { cat "$DIR/live" 2>/dev/null || true; }

# wa-sidecarctl for one color, with its port, data folder and binary.
color_ctl() {
  local color="$1" bin="$2"
  shift 2
  mkdir -p "$DIR/$color"
  [ -z "$bin" ] || echo "$bin" >"$DIR/$color/bin"
  bin="$(cat "$DIR/$color/bin")"
  WA_SIDECAR_BIN="$bin" WA_SIDECAR_DIR="${WA_SIDECAR_DIR:-$PWD}" WA_SIDECARCTL_STATE="$DIR/$color" \
    SIDECAR__SERVER__BIND="127.0.0.1:$(port_of "$color")" \
    SIDECAR__SERVER__DATA_DIR="$DATA_DIR" SIDECAR__VAULT__RUNTIME_DIR="$DIR/$color/runtime" \
    "$ctl" "$@"
}

write_upstream() {
  local tmp="$UPSTREAM.tmp"
  {
    echo "# written by ops/deploy/blue-green.sh"
    echo "upstream wa_sidecar {"
    echo "    server 127.0.0.1:$(port_of "$1");"
    [ -z "${2:-}" ] || echo "    server 127.0.0.1:$(port_of "$2") backup;"
    echo "}"
  } >"$tmp"
  mv "$tmp" "$UPSTREAM"
  $RELOAD
}

wait_ready() {
  local port="$1" deadline=$(($(date +%s) + READY_TIMEOUT))
  until curl -fsS --max-time 3 -o /dev/null "http://127.0.0.1:$port/health/ready"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

cmd_start() {
  local bin="${1:?usage: blue-green.sh start BIN}" color
  color="$(live)"
  color="${color:-blue}"
  color_ctl "$color" "$bin" start
  wait_ready "$(port_of "$color")" || die "$color is not ready on port $(port_of "$color")"
  echo "$color" >"$DIR/live"
  write_upstream "$color"
  say "$color is live on port $(port_of "$color")"
}

cmd_deploy() {
  local new_bin="${1:?usage: blue-green.sh deploy NEW_BIN}" old new old_port new_port old_bin
  old="$(live)"
  [ -n "$old" ] || die "nothing is live: run start first"
  new="$(other "$old")"
  old_port="$(port_of "$old")"
  new_port="$(port_of "$new")"
  old_bin="$(cat "$DIR/$old/bin")"
  say "deploying $new_bin as $new (port $new_port) beside $old (port $old_port)"
  if ! color_ctl "$new" "$new_bin" start || ! wait_ready "$new_port"; then
    say "$new failed its health check: stopping it; $old keeps everything"
    color_ctl "$new" "" stop || true
    exit 1
  fi
  # Requests for a session that moved are retried on the new color (see the header).
  write_upstream "$old" "$new"
  if ! "$new_bin" --config "$WA_SIDECAR_CONFIG" handover --from "http://127.0.0.1:$old_port" \
    --to "http://127.0.0.1:$new_port"; then
    say "handover failed: moving every session back to $old"
    "$old_bin" --config "$WA_SIDECAR_CONFIG" handover --from "http://127.0.0.1:$new_port" \
      --to "http://127.0.0.1:$old_port" || say "some sessions could not go back; see both logs"
    write_upstream "$old"
    color_ctl "$new" "" stop || true
    exit 1
  fi
  write_upstream "$new"
  echo "$new" >"$DIR/live"
  # A session created on the old color during the handover, before nginx switched: move it too.
  "$new_bin" --config "$WA_SIDECAR_CONFIG" handover --from "http://127.0.0.1:$old_port" \
    --to "http://127.0.0.1:$new_port" || say "a session created during the deploy could not move; it stays sealed on disk"
  # Callbacks the old color committed and had not delivered stay in the shared outbox: the new
  # color delivers them (those in flight at the stop, once the old one's claim lock is gone).
  color_ctl "$old" "" stop
  say "$new is live on port $new_port; $old stopped"
}

cmd_stop() {
  local color
  for color in blue green; do
    [ -d "$DIR/$color" ] && [ -f "$DIR/$color/bin" ] && color_ctl "$color" "" stop || true
  done
  rm -f "$DIR/live"
}

cmd_status() {
  local color
  say "live: $(live)"
  for color in blue green; do
    if [ -f "$DIR/$color/bin" ]; then
      printf '%s: ' "$color"
      color_ctl "$color" "" status || true
    fi
  done
}

verb="${1:-}"
[ $# -eq 0 ] || shift
case "$verb" in
  start) cmd_start "$@" ;;
  deploy) cmd_deploy "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: blue-green.sh start BIN | deploy NEW_BIN | stop | status" >&2; exit 2 ;;
esac
