#!/usr/bin/env bash
# Fetches the WhatsApp Web bridge (@wppconnect/wa-js, global `WPP`) at a pinned version and puts
# its one injectable file at bridge/wppconnect-wa.js (git-ignored, never committed), with the
# version beside it in bridge/wppconnect-wa.js.version for /health/ready.
# Idempotent: does nothing when the pinned file is already in place with the expected checksum.
# Override with WA_JS_VERSION / WA_JS_SHA256 (empty skips the check) / BRIDGE_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${WA_JS_VERSION:-4.6.0}"
# sha256 of dist/wppconnect-wa.js in 4.6.0 (see the bridge contract, section 1.1).
default_sha="5bfb88027f14a4d8c9e319374e8bb4083201906881cf8c74f75789b32e4106bd"
if [ "$version" = "4.6.0" ]; then expected="${WA_JS_SHA256-$default_sha}"; else expected="${WA_JS_SHA256:-}"; fi
dir="${BRIDGE_DIR:-bridge}"
target="$dir/wppconnect-wa.js"

current_ok() {
  [ -f "$target" ] && [ -f "$target.version" ] && [ "$(cat "$target.version")" = "$version" ] || return 1
  [ -z "$expected" ] || [ "$(sha256sum "$target" | cut -d' ' -f1)" = "$expected" ]
}

if current_ok; then
  echo "bridge: $target is wa-js $version already"
  exit 0
fi

command -v npm >/dev/null || { echo "bridge: npm is required to fetch wa-js" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "@wppconnect/wa-js@$version" >/dev/null)
tarball="$(ls "$tmp"/*.tgz)"
tar -xzf "$tarball" -C "$tmp" package/dist/wppconnect-wa.js package/dist/wppconnect-wa.js.LICENSE.txt package/package.json
packed_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$tmp/package/package.json" | head -n1)"
if [ "$packed_version" != "$version" ]; then
  echo "bridge: asked for $version, npm gave $packed_version" >&2
  exit 1
fi
if [ -n "$expected" ]; then
  got="$(sha256sum "$tmp/package/dist/wppconnect-wa.js" | cut -d' ' -f1)"
  if [ "$got" != "$expected" ]; then
    echo "bridge: checksum mismatch for wa-js $version: $got, expected $expected" >&2
    exit 1
  fi
fi

mkdir -p "$dir"
# Write next to the target, then rename: a running sidecar never reads a half-written file.
cp "$tmp/package/dist/wppconnect-wa.js" "$target.tmp"
cp "$tmp/package/dist/wppconnect-wa.js.LICENSE.txt" "$target.LICENSE.txt"
printf '%s' "$version" > "$target.version.tmp"
mv "$target.tmp" "$target"
mv "$target.version.tmp" "$target.version"
echo "bridge: installed wa-js $version at $target"
