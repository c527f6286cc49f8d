# Both servers in one small image (multi-stage). Used by docker-compose.yml:
#   docker compose up --build
# The binaries link the system OpenSSL (josekit), hence libssl-dev to build and libssl3 to run.
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin authorization-server --bin number-verification

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /srv nv \
 && mkdir -p /srv/keys && chown nv /srv/keys && chmod 700 /srv/keys
COPY --from=build /src/target/release/authorization-server /src/target/release/number-verification /usr/local/bin/
USER nv
WORKDIR /srv
# Keys live in /srv/keys (a volume): generated there in dev mode, provided in production mode.
VOLUME ["/srv/keys"]
