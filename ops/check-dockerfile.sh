#!/usr/bin/env bash
# No Docker engine runs here, so CI checks what it can of the Dockerfile: every file or folder a
# COPY takes from the build context exists, and ops/fetch-bridge.sh (run inside it) is executable.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while read -r _ args; do
  [[ "$args" == --from=* ]] && continue
  read -ra parts <<< "$args"
  for src in "${parts[@]:0:${#parts[@]}-1}"; do
    if [ ! -e "$src" ]; then
      echo "Dockerfile copies $src, which does not exist" >&2
      missing=1
    fi
  done
done < <(grep -E '^COPY ' Dockerfile)
[ -x ops/fetch-bridge.sh ] || { echo "ops/fetch-bridge.sh must be executable" >&2; missing=1; }
[ "$missing" -eq 0 ] && echo "Dockerfile: every copied path exists"
exit "$missing"
