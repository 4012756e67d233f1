# syntax=docker/dockerfile:1
# The `tessera` server as a container image.
#
#   docker build -t tessera .
#   docker run --rm -p 127.0.0.1:8000:8000 -v tessera-data:/data tessera
#
# Build: the Rust toolchain of `rust-version` (C compiler included, for aws-lc-rs and the
# bundled SQLite). The crates.io registry and `target/` live in BuildKit cache mounts, so a
# rebuild after a source change downloads nothing and recompiles only the changed crates.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY examples examples
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tessera-server --bin tessera \
    && cp target/release/tessera /usr/local/bin/tessera

# Runtime: Debian slim (the builder's glibc), CA certificates for `jwk_url` and SMTP over
# TLS, curl for the health check, and an unprivileged user owning the data volume.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tessera \
    && install -d -o tessera -g tessera -m 0700 /data
COPY --from=builder /usr/local/bin/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /data
ENV TESSERA_BIND=0.0.0.0:8000 \
    TESSERA_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["tessera"]
CMD ["serve"]
