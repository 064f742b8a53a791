#!/usr/bin/env bash
# Installs sockudo (a Pusher-protocol server, MIT) at a pinned version from crates.io, once, into a
# cache outside the repo; later runs reuse it. Prints the binary's path on stdout.
# The PHP end-to-end tests use it as the realtime server (Reverb/Pusher stand-in).
set -euo pipefail
VERSION="5.2.0"
ROOT="${WA_SIDECAR_TOOLS:-$HOME/.cache/wa-sidecar}/sockudo-$VERSION"
BIN="$ROOT/bin/sockudo"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
export PATH="$HOME/.cargo/bin:$PATH"
# metrics-exporter-tcp's build script needs protoc and the well-known protos.
if ! command -v protoc >/dev/null 2>&1 || [ ! -d /usr/include/google/protobuf ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    protobuf-compiler libprotobuf-dev >&2
fi
echo "building sockudo $VERSION once into $ROOT (about 12 minutes on 2 cores)" >&2
# A debug build with the minimal feature set: it only serves loopback tests.
nice -n 10 cargo install sockudo --version "=$VERSION" --locked --debug \
  --no-default-features --features local --root "$ROOT" >&2
echo "$BIN"
