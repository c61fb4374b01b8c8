# One image runs every MedMesh component: `medmesh serve <component>` (accounts, scheduling,
# pharmacy, records, notify, gateway). See docs/operations.md.
#
#   docker build -t medmesh/medmesh:0.1.0 .                       release build, production
#   docker build --target prebuilt --build-arg BINARY=path/to/medmesh \
#                --build-arg RUNTIME_IMAGE=<local base> -t medmesh/medmesh:test .
#
# The `prebuilt` target packs a binary built outside (scripts/stack-test.sh does, on machines
# that reach no image registry); the default target builds it here, without the development
# issuer (`--no-default-features`).

ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1-slim-bookworm

# --- what every image runs on: a non-root user, its data directory, the healthcheck -------
FROM ${RUNTIME_IMAGE} AS runtime
# librdkafka's TLS links the system's OpenSSL (docs/adr/0011-kafka-tls-with-librdkafka.md).
RUN set -eu; \
    if [ ! -f /etc/ssl/certs/ca-certificates.crt ] || ! ls /usr/lib/*/libssl.so.3 >/dev/null 2>&1; then \
      apt-get update; \
      apt-get install -y --no-install-recommends ca-certificates libssl3; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system --gid 10001 medmesh; \
    useradd --system --uid 10001 --gid medmesh --home-dir /var/lib/medmesh --shell /usr/sbin/nologin medmesh; \
    install -d -o medmesh -g medmesh -m 0700 /var/lib/medmesh /var/lib/medmesh/documents
ENV MEDMESH_DATA_DIR=/var/lib/medmesh \
    MEDMESH_LOG__FORMAT=json \
    MEDMESH_ADMIN__HOST=0.0.0.0
WORKDIR /var/lib/medmesh
USER 10001:10001
# gRPC 50051-50055, GraphQL 8080, admin (metrics, /live, /ready) 9100.
EXPOSE 8080 9100 50051 50052 50053 50054 50055
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["medmesh", "probe", "--path", "/live"]
ENTRYPOINT ["medmesh"]
CMD ["--help"]

# --- a binary built elsewhere ------------------------------------------------------------
FROM runtime AS prebuilt
ARG BINARY=medmesh
COPY ${BINARY} /usr/local/bin/medmesh

# --- the release build -------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p medmesh --no-default-features \
    && install -m 0755 target/release/medmesh /medmesh

# --- the production image (default target) -----------------------------------------------
FROM runtime AS release
COPY --from=build /medmesh /usr/local/bin/medmesh
