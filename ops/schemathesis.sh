#!/usr/bin/env bash
# Runs schemathesis (pinned, in a cached virtualenv) against a real sidecar: the built binary in
# development mode on a loopback port, with a temporary data dir, its own HMAC key, and a
# Chromium path that launches nothing (sessions fail to start; no browser runs). Every request to
# /v1 is signed by ops/schemathesis/hooks.py. Every check is on; any failure exits non-zero.
#
#   ops/schemathesis.sh            build, run, clean up
#   ST_MAX_EXAMPLES=50 ops/schemathesis.sh   more cases per operation (default 25)
#   ST_SEED=$RANDOM ops/schemathesis.sh       another seed (the default one keeps CI repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

ST_VERSION=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/wa-sidecar/schemathesis-$ST_VERSION"
bin="${CARGO_TARGET_DIR:-target}/debug/wa-sidecar"

if [ "${WA_SIDECAR_NETNS:-}" != 1 ]; then
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
    echo "installing schemathesis $ST_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
  fi
  # The hook must sign exactly as the sidecar verifies.
  "$venv/bin/python" ops/schemathesis/check_vectors.py
  cargo build --quiet -p wa-sidecar --bin wa-sidecar
  # The run happens in a network namespace of its own with only loopback: whatever URL
  # schemathesis makes up (a callback_url, a media link), no packet leaves the machine.
  export WA_SIDECAR_NETNS=1
  if unshare --net true 2>/dev/null; then
    exec unshare --net -- "$PWD/ops/schemathesis.sh" "$@"
  fi
  exec unshare --map-root-user --net -- "$PWD/ops/schemathesis.sh" "$@"
fi
ip link set lo up

work="$(mktemp -d -t wa-sidecar-schemathesis.XXXXXX)"
pid=""
st_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$st_pid" ] && kill -0 "$st_pid" 2>/dev/null; then
    kill -TERM "$st_pid" 2>/dev/null || true
    wait "$st_pid" 2>/dev/null || true
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # The sidecar leads its own process group: TERM the group, then KILL what is left.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -f "$work/sidecar.log" ]; then
    echo "--- last lines of the sidecar's log ---" >&2
    tail -n 30 "$work/sidecar.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -m 700 "$work/data" "$work/sessions"
umask 077
python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' > "$work/hmac.key"
cat > "$work/sidecar.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
data_dir = "$work/data"
sessions_dir = "$work/sessions"
workers = 2
[[auth.keys]]
id = "schemathesis"
secret_file = "$work/hmac.key"
workspaces = ["*"]
[engine]
chromium_path = "/bin/false"
[sessions]
max_sessions = 40         # created sessions fail to launch; keep their retries from loading the box
max_recoveries = 1
[sending.pacing]
enabled = false
[log]
level = "warn"
TOML

env -u SIDECAR_ENV setsid "$bin" serve --config "$work/sidecar.toml" > "$work/sidecar.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
up=""
for _ in $(seq 1 300); do
  curl -fsS "$base/health/live" >/dev/null 2>&1 && { up=1; break; }
  kill -0 "$pid" 2>/dev/null || { echo "the sidecar exited at start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$up" ] || { echo "the sidecar did not answer /health/live within 30 s" >&2; exit 1; }

# One session to find, so the examples (workspace `acme`, session `main`) reach the handlers
# behind the session lookup. It is not started: no browser would come up anyway.
echo '{"id": "main", "start": false}' > "$work/create.json"
sign="$("$bin" sign --key-id schemathesis --key-file "$work/hmac.key" POST \
  "$base/v1/workspaces/acme/sessions" --body "$work/create.json" --curl)"
eval "${sign/curl -sS/curl -sS -o /dev/null -f}"

started=$(date +%s)
hooks="$PWD/ops/schemathesis"
# From the temporary dir: schemathesis keeps its example database in the working directory.
cd "$work"
WA_SIDECAR_KEY_ID=schemathesis WA_SIDECAR_KEY_FILE="$work/hmac.key" \
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$hooks" \
  "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks all \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --seed "${ST_SEED:-20261203}" \
  --workers 1 \
  --request-timeout 20 \
  --no-color \
  "$@" &
# In the background and waited for, so a signal to this script is handled at once (bash runs a
# trap only after the foreground command ends).
st_pid=$!
wait "$st_pid"
echo "schemathesis $ST_VERSION passed in $(( $(date +%s) - started )) s"
