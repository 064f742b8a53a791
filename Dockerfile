# wa-sidecar: the binary, Debian's Chromium, and the pinned wa-js bridge.
# Build: docker build -t wa-sidecar .   Every file copied below is checked by ops/check-dockerfile.sh.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY wa-sim wa-sim
COPY config config
COPY benches benches
COPY ops/fetch-bridge.sh ops/fetch-bridge.sh
RUN cargo build --release --bin wa-sidecar \
 && ops/fetch-bridge.sh

FROM debian:bookworm-slim
# tini is PID 1: it forwards SIGTERM to the sidecar (which closes every browser and seals every
# login) and reaps Chromium's crashpad helpers, which are reparented to PID 1.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 wa-sidecar \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/wa-sidecar wa-sidecar \
 && install -d -o wa-sidecar -g wa-sidecar -m 0700 /run/wa-sidecar
COPY --from=build /src/target/release/wa-sidecar /usr/local/bin/wa-sidecar
COPY --from=build /src/bridge /opt/wa-sidecar/bridge
COPY config /opt/wa-sidecar/config
WORKDIR /var/lib/wa-sidecar
ENV SIDECAR_ENV=production \
    SIDECAR_CONFIG_DIR=/opt/wa-sidecar/config \
    SIDECAR__SERVER__BIND=0.0.0.0:8787 \
    SIDECAR__ENGINE__BRIDGE_PATH=/opt/wa-sidecar/bridge/wppconnect-wa.js \
    SIDECAR__VAULT__RUNTIME_DIR=/run/wa-sidecar
# Live (plaintext) profiles go to /run/wa-sidecar, off the volume. Mount a tmpfs there so they never
# touch a disk: `--tmpfs /run/wa-sidecar:mode=0700,uid=10001,gid=10001` (ops/compose.example.yml).
# data/ (outbox, keys) and sessions/ (sealed logins) must outlive the container.
VOLUME ["/var/lib/wa-sidecar"]
USER wa-sidecar
EXPOSE 8787
STOPSIGNAL SIGTERM
# A Dockerfile cannot set the stop grace: run with `docker run --stop-timeout 90` or Compose's
# `stop_grace_period: 90s` (ops/compose.example.yml). Docker's default 10 s SIGKILLs mid-seal.
ENTRYPOINT ["tini", "--", "wa-sidecar"]
CMD ["serve"]
